//! Integration tests of the HTTP API against the real PostgreSQL (a fresh database per test, via `sqlx::test`)
//! and Redis. Every response in the suite is checked to be below 500 and, when an error, to use the envelope.

mod atomicity;
mod auth;
mod authorization;
mod bad_input;
mod helpers;
mod live;
mod notifications;
mod openapi;
mod operations;
mod orders;
mod pagination;
mod payments;
mod services;
mod status_machine;
mod tokens;
mod transactions;
mod users;
mod web;

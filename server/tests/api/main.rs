//! Integration tests of the HTTP API against the real PostgreSQL (a fresh database per test, via `sqlx::test`)
//! and Redis. Every response in the suite is checked to be below 500 and, when an error, to use the envelope.

mod atomicity;
mod auth;
mod authorization;
mod bad_input;
mod body_limits;
mod channels;
mod extremes;
mod helpers;
mod live;
mod notifications;
mod openapi;
mod operations;
mod orders;
mod pagination;
mod parity;
mod parsers;
mod payments;
mod push;
mod redirects;
mod same_origin;
mod security_headers;
mod services;
mod sessions;
mod status_machine;
mod tallies;
mod throttling;
mod tokens;
mod transactions;
mod users;
mod web;

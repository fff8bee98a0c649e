//! The domain layer: order rules, permissions, rate limits, the status machine's enforcement, notifications,
//! payments and auth, each user action written once as one function over the application [`Context`] that does
//! all of it (authorization, validation, limits, the transaction, its events and every effect after the commit).
//! REST handlers, server functions, webhooks, the socket, the CLI and the background sweeps are thin adapters over
//! it. Nothing here knows HTTP.

mod actor;
pub mod auth;
pub mod context;
pub mod dashboard;
pub mod delivery;
pub mod error;
pub mod events;
pub mod feed;
pub mod messages;
pub mod notifications;
pub mod order_page;
pub mod orders;
pub mod page;
pub mod password;
pub mod payments;
pub mod ratelimit;
pub mod services;
pub mod session;
pub mod tallies;
pub mod tokens;
pub mod transactions;
pub mod users;
pub mod watermark;

pub use actor::{Actor, parse_column};
pub use context::Context;
pub use error::{Error, FieldErrors, Result, ResultExt};

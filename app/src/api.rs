//! The UI's server functions, under `/_fn/`, one module per feature, named like the REST handlers of the same
//! action (`list_orders`, `update_order_status` …). Each is a thin adapter: it finds its caller in the request
//! (resolved by the server's middleware from the session cookie), calls exactly one domain function, and answers
//! the contract's error envelope as [`ApiError`] with the matching HTTP status.

mod auth;
mod channels;
mod dashboard;
mod error;
mod notifications;
mod orders;
mod payments;
mod services;
mod users;
#[cfg(feature = "ssr")]
pub mod web;

use serde::{Deserialize, Serialize};

pub use self::{
    auth::*, channels::*, dashboard::*, error::ApiError, notifications::*, orders::*, payments::*,
    services::*, users::*,
};
#[cfg(feature = "ssr")]
pub use error::{ErrorCause, HttpStatus};

/// Rows per page of every list.
pub const PAGE_SIZE: i64 = 20;

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listing<T> {
    /// Rows in the whole list.
    pub count: i64,
    /// This page, from 1.
    pub page: i64,
    pub items: Vec<T>,
}

impl<T> Listing<T> {
    /// Pages in the whole list (at least 1).
    pub fn pages(&self) -> i64 {
        ((self.count + PAGE_SIZE - 1) / PAGE_SIZE).max(1)
    }
}

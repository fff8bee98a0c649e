//! The state every handler and server function shares.

use std::sync::Arc;

use app::domain::{auth::Tokens, password::Hasher};
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;

use crate::{config::ServeConfig, live::Feed, ratelimit::RateLimiter};

/// Cheap to clone: everything inside is shared.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: PgPool,
    pub redis: redis::aio::ConnectionManager,
    pub tokens: Arc<Tokens>,
    pub hasher: Hasher,
    pub limiter: RateLimiter,
    pub feed: Feed,
    pub config: Arc<ServeConfig>,
}

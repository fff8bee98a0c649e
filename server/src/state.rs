//! The state every handler and server function shares.

use std::sync::Arc;

use app::domain::{
    auth::Tokens,
    password::Hasher,
    payments::Settings,
    ratelimit::RateLimiter,
    session::{CookiePolicy, Gate},
};
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;

use crate::{click_api::ClickApi, config::ServeConfig, live::Feed, sandbox::Gateway};

/// Cheap to clone: everything inside is shared.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: PgPool,
    pub redis: redis::aio::ConnectionManager,
    pub tokens: Arc<Tokens>,
    pub hasher: Hasher,
    pub limiter: RateLimiter,
    /// Sign-in and sign-up with their rate limits.
    pub gate: Gate,
    /// How session cookies are written.
    pub cookies: CookiePolicy,
    pub feed: Feed,
    pub config: Arc<ServeConfig>,
    pub payments: Arc<Settings>,
    pub click_api: ClickApi,
    /// The gateway sandbox, aimed at this server's own address (set when it is bound, if enabled).
    pub sandbox: Option<Gateway>,
}

//! The state every handler shares: the one application [`Context`] the domain is called with, and what only the
//! HTTP side needs (the Leptos options, the cookie policy, the sockets' relay, the configuration, the sandbox).

use std::sync::Arc;

use app::{api::web::CookiePolicy, domain::Context};
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::{config::ServeConfig, live::Feed, sandbox::Gateway};

/// Cheap to clone: everything inside is shared.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// The application context, also handed to the server functions, the socket and the sweeps.
    pub ctx: Context,
    /// For the readiness check.
    pub redis: redis::aio::ConnectionManager,
    /// How session cookies are written.
    pub cookies: CookiePolicy,
    /// The live feed's relay, which the sockets join (the context holds it as its event sink).
    pub feed: Feed,
    pub config: Arc<ServeConfig>,
    /// The gateway sandbox, aimed at this server's own address (set when it is bound, if enabled).
    pub sandbox: Option<Gateway>,
}

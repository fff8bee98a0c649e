//! The state every handler shares: the one application [`Context`] the domain is called with, and what only the
//! HTTP side needs (the Leptos options, the cookie policy, the sockets' relay, the configuration, the sandbox).

use std::sync::Arc;

use app::{api::web::CookiePolicy, domain::Context};
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::{config::ServeConfig, live::Feed, sandbox::Gateway};

/// Cheap to clone: one shared pointer. Every request clones it several times (once per extractor that needs it);
/// as a struct of a dozen shared parts, that was six in a hundred of the server's CPU while ten thousand sockets
/// reconnected (`perf`, `make bench`'s reconnect storm), every clone bumping the same counters from every thread.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
#[derive(Clone)]
pub struct Shared {
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

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// Changes the state before it is shared (copied first if it already is).
    pub fn change(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

//! Task's server: the HTTP adapters (REST, operations, the Leptos app) over the domain layer in `app`, its
//! configuration, and the command line. `main.rs` only calls [`cli::main`].

// The app's views are deeply nested types; rendering them needs a deeper limit than the default 128.
#![recursion_limit = "256"]

pub mod actors;
pub mod cli;
pub mod click_api;
pub mod config;
pub mod email;
pub mod extract;
pub mod http;
mod lanes;
pub mod live;
pub mod notify;
pub mod openapi;
pub mod push;
pub mod router;
pub mod sandbox;
pub mod state;
pub mod telegram;
pub mod telemetry;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use app::{
    api::web::CookiePolicy,
    domain::{Context, context::Limits, payments, ratelimit::RateLimiter, tallies, tokens::Tokens},
};
use leptos::prelude::LeptosOptions;
use secrecy::ExposeSecret as _;
use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use std::str::FromStr as _;
use tokio::net::TcpListener;

use crate::{
    click_api::ClickApi,
    config::{DatabaseConfig, ServeConfig},
    live::Feed,
    state::AppState,
};

/// The schema migrations, embedded; run at start-up, by `server migrate`, and by the tests.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Opens the connection pool.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    // No JIT: every statement here is a short OLTP read or write, for which compiling is all cost (a planner's
    // estimate above `jit_above_cost`, as for the dashboard's two dozen little reads of the tallies, made it take
    // 30 ms instead of 2).
    let options = PgConnectOptions::from_str(config.database_url.expose_secret())
        .context("Invalid DATABASE_URL")?
        .options([("jit", "off")]);
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(options)
        .await
        .context("Failed to connect to PostgreSQL (check DATABASE_URL)")
}

/// The Leptos options from `LEPTOS_*` variables (set by cargo-leptos), defaulting to this workspace's layout.
pub fn leptos_options() -> anyhow::Result<LeptosOptions> {
    if std::env::var_os("LEPTOS_OUTPUT_NAME").is_none()
        && option_env!("LEPTOS_OUTPUT_NAME").is_none()
    {
        return Ok(LeptosOptions::builder()
            .output_name("task")
            .site_root(
                std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".to_owned()),
            )
            .build());
    }
    Ok(leptos::prelude::get_configuration(None)
        .context("Invalid LEPTOS_* configuration")?
        .leptos_options)
}

/// Builds the shared state: connects to Redis, starts the live feed, and builds the one application context.
pub async fn build_state(
    config: ServeConfig,
    db: PgPool,
    leptos_options: LeptosOptions,
) -> anyhow::Result<AppState> {
    let redis_client =
        redis::Client::open(config.redis_url.as_str()).context("Invalid REDIS_URL")?;
    let redis = redis::aio::ConnectionManager::new(redis_client.clone())
        .await
        .context("Failed to connect to Redis (check REDIS_URL)")?;
    let feed = Feed::start(
        db.clone(),
        redis_client,
        redis.clone(),
        &config.redis_prefix,
        config.feed_capacity,
        config.feed_recent_events,
    )
    .await?;
    http::metrics::handle();
    let ctx = Context {
        db,
        tokens: Arc::new(
            Tokens::new(
                &config.jwt_secret,
                config.access_ttl(),
                config.refresh_ttl(),
            )
            .with_reuse_grace(Duration::from_secs(config.refresh_reuse_grace_secs)),
        ),
        hasher: config.password.hasher()?,
        limiter: RateLimiter::new(redis.clone(), &config.redis_prefix),
        limits: Limits {
            login_failures_per_minute: config.login_rate_limit,
            login_failures_per_account: config.login_account_rate_limit,
            register_per_hour: config.register_rate_limit,
            orders_per_minute: config.order_rate_limit,
        },
        payments: Arc::new(payment_settings(&config)?),
        events: Arc::new(feed.clone()),
        click: Arc::new(ClickApi::new(
            &config.payments.click_api_url,
            Duration::from_secs(config.payments.click_api_timeout_secs),
        )?),
        notify: Arc::new(notify::channels(&config, redis.clone())?),
        intake: Arc::default(),
    };
    tokio::spawn(sweep_payments(ctx.clone()));
    tokio::spawn(fold_tallies(ctx.clone()));
    tokio::spawn(roll_up_feed_sizes(ctx.clone()));
    tokio::spawn(submit_fiscal_receipts(ctx.clone()));
    tokio::spawn(prune_refresh_tokens(ctx.clone()));
    notify::spawn_sweeps(&ctx, &config);
    let cookies = CookiePolicy {
        secure: config.cookie_secure,
        access_ttl: config.access_ttl(),
        refresh_ttl: config.refresh_ttl(),
    };
    Ok(AppState::new(state::Shared {
        leptos_options,
        ctx,
        redis,
        cookies,
        feed,
        config: Arc::new(config),
        sandbox: None,
    }))
}

/// The payment settings, with a warning for each one that must never reach production unnoticed.
fn payment_settings(config: &ServeConfig) -> anyhow::Result<payments::Settings> {
    let settings = config.payments.settings(config.base_url())?;
    if let Some(payme) = &settings.payme {
        match (payme.test_mode, payme.test_key.is_some()) {
            (true, _) => tracing::warn!(
                "PAYME_TEST_MODE is on: Payme's test key is accepted. Turn it off in production"
            ),
            (false, true) => {
                tracing::warn!("PAYME_TEST_KEY is set but ignored: PAYME_TEST_MODE is off")
            }
            (false, false) => {}
        }
    }
    if settings.sandbox {
        tracing::warn!(
            "PAYMENT_SANDBOX is on: the built-in gateway plays the payment providers and every page says so. \
             Never turn it on in production"
        );
    }
    Ok(settings)
}

/// Cancels expired payment reservations every minute (Payme's 12 hours, Click's prepare TTL), so an abandoned
/// payment does not hold its order; the webhooks also expire them lazily.
async fn sweep_payments(ctx: Context) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match payments::sweep(&ctx).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("Released {n} expired payment reservations"),
            Err(e) => tracing::warn!(error = %e, "Payment sweep failed"),
        }
    }
}

/// Submits the due fiscal receipts of Click payments every two seconds (`domain::payments::fiscal`): apart from
/// the payment, which it never holds up or undoes. Several instances may run it at once; each receipt is claimed
/// by one.
async fn submit_fiscal_receipts(ctx: Context) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match payments::fiscal::submit_due(&ctx).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("Submitted {n} fiscal receipts to Click"),
            Err(e) => tracing::warn!(error = %e, "Submitting fiscal receipts failed"),
        }
    }
}

/// Deletes the refresh tokens that expired more than a day ago, every hour (see `tokens::prune_expired`).
async fn prune_refresh_tokens(ctx: Context) {
    const GRACE: Duration = Duration::from_secs(24 * 60 * 60);
    let mut tick = tokio::time::interval(Duration::from_secs(60 * 60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match app::domain::tokens::prune_expired(&ctx.db, GRACE, 1000).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("Pruned {n} expired refresh tokens"),
            Err(e) => tracing::warn!(error = %e, "Pruning expired refresh tokens failed"),
        }
    }
}

/// Folds the tallies' deltas four times a second, so a maintained count reads its row and at most a quarter of
/// a second's deltas, which are not indexed (see `domain::tallies`). Several instances may fold at once.
async fn fold_tallies(ctx: Context) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = tallies::fold(&ctx).await {
            tracing::warn!(error = %e, "Folding the tallies failed");
        }
    }
}

/// Rolls the clients' and workers' feed sizes up to the live feed's watermark once a second, so that counting a
/// feed reads at most about a second of its events (see `domain::tallies::roll_up_feed_sizes`).
async fn roll_up_feed_sizes(ctx: Context) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = tallies::roll_up_feed_sizes(&ctx).await {
            tracing::warn!(error = %e, "Rolling up the feed sizes failed");
        }
    }
}

/// A bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
}

impl Application {
    /// Binds `state.config.listen` (port 0 picks a free port) and assembles the router.
    pub async fn bind(mut state: AppState) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(state.config.listen)
            .await
            .with_context(|| format!("Failed to listen on {}", state.config.listen))?;
        if state.ctx.payments.sandbox {
            let mut own = listener.local_addr()?;
            if own.ip().is_unspecified() {
                own.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            state.change().sandbox = Some(sandbox::Gateway::new(
                &format!("http://{own}"),
                state.ctx.payments.clone(),
            )?);
        }
        Ok(Self {
            listener,
            router: router::build(state),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight: the live feed's sockets on a runtime of
    /// their own ([`lanes`]), everything else on this one.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        lanes::serve(self.listener, self.router, shutdown).await
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "Failed to listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "Failed to listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("Shutting down: finishing requests in flight");
}

//! The application context: everything a domain operation needs, built once at start-up and handed to every way
//! in (REST handlers, server functions, webhooks, the socket, the CLI and the background sweeps), so that each of
//! them calls the same domain functions with the same rules, limits and after-commit effects.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use secrecy::SecretString;
use sqlx::PgPool;

use super::{
    Result,
    delivery::Notify,
    events::{EventSink, NoSink},
    orders::Intake,
    password::Hasher,
    payments::{ClickSettings, Clock, FiscalSettings, Settings},
    ratelimit::RateLimiter,
    tokens::Tokens,
};

/// The rate limits the domain applies, whatever way a request comes in.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failed sign-ins per minute from one client address; past it, that address is refused (429) for the rest
    /// of the minute, whatever account it names. Failed checks of the current password count here too, per user.
    pub login_failures_per_minute: u32,
    /// Failed sign-ins per minute of one account, from all addresses together: a generous ceiling that stops a
    /// guessing spread over many addresses.
    pub login_failures_per_account: u32,
    /// Sign-ups per hour, per client address.
    pub register_per_hour: u32,
    /// Orders a client may place per minute.
    pub orders_per_minute: u32,
}

impl Limits {
    /// The window of the login and order limits.
    pub const MINUTE: Duration = Duration::from_secs(60);
    /// The window of the sign-up limit.
    pub const HOUR: Duration = Duration::from_secs(3600);
}

/// A boxed future, as trait objects return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Click's merchant API, the calls *we* make to Click (PAYMENTS.md §2): behind a trait so tests and the CLI can
/// put something else in its place.
pub trait ClickMerchant: Send + Sync {
    /// The fiscal receipt's QR URL of a confirmed payment (`GET /payment/ofd_data/{service_id}/{payment_id}`).
    fn receipt_url<'a>(
        &'a self,
        click: &'a ClickSettings,
        payment_id: i64,
    ) -> BoxFuture<'a, Result<String>>;

    /// Submits a confirmed payment's fiscal receipt (`POST /payment/ofd_data/submit_items` with `body`); `Ok`
    /// only when Click accepted it (`error_code` 0).
    fn submit_items<'a>(
        &'a self,
        click: &'a ClickSettings,
        body: &'a serde_json::Value,
    ) -> BoxFuture<'a, std::result::Result<(), SubmitFailure>>;
}

/// Why a fiscal submission to Click did not go through (either way it is retried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitFailure {
    /// Click answered, and not with `error_code` 0.
    Refused(String),
    /// Click did not answer in time, could not be reached, or answered something unreadable.
    Unreachable(String),
}

impl SubmitFailure {
    /// The outcome label on `/metrics`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Refused(_) => "refused",
            Self::Unreachable(_) => "unreachable",
        }
    }

    /// What went wrong, for the log and the submission's `last_error`.
    pub fn detail(&self) -> &str {
        match self {
            Self::Refused(why) | Self::Unreachable(why) => why,
        }
    }
}

/// Where Click's merchant API is not configured (the CLI): every call fails as an unreachable gateway would.
pub struct NoClickMerchant;

impl ClickMerchant for NoClickMerchant {
    fn receipt_url<'a>(
        &'a self,
        _click: &'a ClickSettings,
        _payment_id: i64,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(async {
            Err(super::Error::BadGateway(
                "Click's merchant API is not configured here.".to_owned(),
            ))
        })
    }

    fn submit_items<'a>(
        &'a self,
        _click: &'a ClickSettings,
        _body: &'a serde_json::Value,
    ) -> BoxFuture<'a, std::result::Result<(), SubmitFailure>> {
        Box::pin(async {
            Err(SubmitFailure::Unreachable(
                "Click's merchant API is not configured here.".to_owned(),
            ))
        })
    }
}

/// The one application context. Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct Context {
    pub db: PgPool,
    pub tokens: Arc<Tokens>,
    pub hasher: Hasher,
    pub limiter: RateLimiter,
    pub limits: Limits,
    pub payments: Arc<Settings>,
    /// The live feed: told of commits, read marks and access changes, after they are committed.
    pub events: Arc<dyn EventSink>,
    /// Click's merchant API.
    pub click: Arc<dyn ClickMerchant>,
    /// The notification channels (Telegram, email) and their providers.
    pub notify: Arc<Notify>,
    /// Orders waiting to be placed, a batch at a time (with the database and live feed of the first one's context).
    pub intake: Arc<Intake>,
}

impl Context {
    /// A context without live effects, rate limits, payment providers or outside services, for the command line:
    /// what it changes is stored, and the servers' relays pick it up by polling. It signs no token anyone accepts
    /// (its key is random).
    pub fn offline(db: PgPool, hasher: Hasher) -> Self {
        let key = SecretString::from(uuid::Uuid::new_v4().to_string().repeat(2));
        let hour = Duration::from_secs(3600);
        Self {
            tokens: Arc::new(Tokens::new(&key, hour, hour)),
            hasher,
            limiter: RateLimiter::off(),
            limits: Limits {
                login_failures_per_minute: u32::MAX,
                login_failures_per_account: u32::MAX,
                register_per_hour: u32::MAX,
                orders_per_minute: u32::MAX,
            },
            payments: Arc::new(Settings {
                payme: None,
                click: None,
                fiscal: FiscalSettings::default(),
                public_url: String::new(),
                sandbox: false,
                clock: Clock::system(),
            }),
            db,
            events: Arc::new(NoSink),
            click: Arc::new(NoClickMerchant),
            notify: Arc::new(Notify::off()),
            intake: Arc::default(),
        }
    }
}

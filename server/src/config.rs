//! Typed configuration from the environment (or flags), checked once at start-up. See `.env.example`.

use std::{net::SocketAddr, time::Duration};

use app::domain::{
    password::{Concurrency, Hasher},
    payments::{AddressList, ClickSettings, Clock, FiscalSettings, PaymeSettings, Settings},
};
use clap::Args;
use secrecy::{ExposeSecret as _, SecretString};

/// Where the database is (every command needs it).
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// PostgreSQL URL, e.g. `postgres://task@127.0.0.1/task`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = secret)]
    pub database_url: SecretString,

    /// The most database connections this process opens.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 32)]
    pub db_max_connections: u32,
}

/// How passwords are hashed (every command that sets one needs it).
#[derive(Debug, Clone, Args)]
pub struct PasswordConfig {
    /// Argon2id memory cost in KiB (OWASP: 19456).
    #[arg(long, env = "ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,

    /// Argon2id passes (OWASP: 2).
    #[arg(long, env = "ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,

    /// The memory, in MiB, that password hashes running at once may take together: at most this over
    /// `ARGON2_MEMORY_KIB` hashes run at once (and no more than two per core, at least one).
    #[arg(long, env = "ARGON2_BUDGET_MIB", default_value_t = 256)]
    pub argon2_budget_mib: u32,

    /// How long, in milliseconds, a sign-in or password change waits for a hashing slot before it is refused with
    /// 503 `unavailable` and `Retry-After`.
    #[arg(long, env = "ARGON2_WAIT_MS", default_value_t = 2000)]
    pub argon2_wait_ms: u64,
}

impl PasswordConfig {
    /// The password hasher with these parameters.
    pub fn hasher(&self) -> anyhow::Result<Hasher> {
        let concurrency = Concurrency::from_budget(
            self.argon2_memory_kib,
            self.argon2_budget_mib,
            Duration::from_millis(self.argon2_wait_ms),
        );
        tracing::info!(
            password.permits = concurrency.permits,
            "Hashing at most {} passwords at once",
            concurrency.permits
        );
        Hasher::new(self.argon2_memory_kib, self.argon2_iterations, concurrency)
    }
}

/// Everything `serve` needs besides the database.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// The address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// The public base URL of this deployment, used in pagination links and payment URLs.
    #[arg(long, env = "PUBLIC_URL", default_value = "http://localhost:3000")]
    pub public_url: String,

    /// Redis URL, for rate limits and the live feed.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,

    /// A prefix for every Redis key and channel, so deployments can share one Redis.
    #[arg(long, env = "REDIS_PREFIX", default_value = "task")]
    pub redis_prefix: String,

    /// The HS256 key for access tokens: at least 32 random bytes (`openssl rand -base64 48`). No default.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_parser = jwt_secret)]
    pub jwt_secret: SecretString,

    /// How long an access token lives, in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// How long a refresh token lives, in seconds.
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECS", default_value_t = 14 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,

    /// Mark auth cookies `Secure` (turn off only for plain-HTTP local runs).
    #[arg(long, env = "COOKIE_SECURE", default_value_t = true, action = clap::ArgAction::Set)]
    pub cookie_secure: bool,

    /// Take the client's address from the last (rightmost) hop of `X-Forwarded-For`: the address the proxy in
    /// front saw. Only behind one proxy that overwrites the header (as `deploy/nginx/task.conf` does).
    #[arg(long, env = "TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_proxy: bool,

    /// Failed logins allowed per client address each minute (a successful one does not count).
    #[arg(long, env = "LOGIN_RATE_LIMIT", default_value_t = 10)]
    pub login_rate_limit: u32,

    /// Failed logins allowed per account each minute, from all addresses together: a generous ceiling that stops
    /// guessing spread over many addresses.
    #[arg(long, env = "LOGIN_ACCOUNT_RATE_LIMIT", default_value_t = 100)]
    pub login_account_rate_limit: u32,

    /// Seconds during which a just-rotated refresh token may be presented again for a fresh pair of its session
    /// (two tabs renewing at once); a reuse after it revokes the session. 0 turns the grace off.
    #[arg(long, env = "REFRESH_REUSE_GRACE_SECS", default_value_t = 10)]
    pub refresh_reuse_grace_secs: u64,

    /// Registrations allowed per client address each hour.
    #[arg(long, env = "REGISTER_RATE_LIMIT", default_value_t = 20)]
    pub register_rate_limit: u32,

    /// Orders a client may place each minute.
    #[arg(long, env = "ORDER_RATE_LIMIT", default_value_t = 30)]
    pub order_rate_limit: u32,

    /// Frames a live socket may send each 10 seconds; the ones above it get a `throttled` error frame.
    #[arg(long, env = "SOCKET_MESSAGE_LIMIT", default_value_t = 50)]
    pub socket_message_limit: u32,

    #[command(flatten)]
    pub password: PasswordConfig,

    /// How many events a live socket may fall behind before it is told to resync.
    #[arg(long, env = "FEED_CAPACITY", default_value_t = 4096)]
    pub feed_capacity: usize,

    /// How many of the latest events the feed keeps in memory (about 0.5 KiB each), so that a socket reconnecting
    /// with an `after_id` among them is caught up without a database replay of its own.
    #[arg(long, env = "FEED_RECENT_EVENTS", default_value_t = 16_384)]
    pub feed_recent_events: usize,

    /// Seconds between the server's pings on a live socket; one silent for two intervals is closed.
    #[arg(long, env = "FEED_PING_SECS", default_value_t = 20)]
    pub feed_ping_secs: u64,

    /// The longest a request may take, in seconds.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// A bearer token `/metrics` requires (`Authorization: Bearer <token>`); without one it is open to whoever
    /// reaches it, and the deployment's proxy must keep it private (`deploy/nginx/task.conf` does).
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true, value_parser = secret)]
    pub metrics_token: Option<SecretString>,

    #[command(flatten)]
    pub payments: PaymentConfig,

    #[command(flatten)]
    pub notify: NotifyConfig,
}

/// The notification channels: the Telegram bot (off without a token), email (SMTP, or files for local runs) and
/// the delivery sweep's pace and retries.
#[derive(Debug, Clone, Args)]
pub struct NotifyConfig {
    /// Telegram: the Bot API's base URL (tests point it at a local fake).
    #[arg(
        long,
        env = "TELEGRAM_API_BASE",
        default_value = "https://api.telegram.org"
    )]
    pub telegram_api_base: String,

    /// Telegram: the bot's token from @BotFather. Without it the Telegram channel is off.
    #[arg(long, env = "TELEGRAM_BOT_TOKEN", hide_env_values = true, value_parser = secret)]
    pub telegram_bot_token: Option<SecretString>,

    /// Telegram: the bot's username (without `@`), for the deep link `https://t.me/<username>?start=<token>`.
    #[arg(long, env = "TELEGRAM_BOT_USERNAME")]
    pub telegram_bot_username: Option<String>,

    /// Telegram: the secret given to `setWebhook` as `secret_token`; the webhook refuses calls without it.
    #[arg(long, env = "TELEGRAM_WEBHOOK_SECRET", hide_env_values = true, value_parser = secret)]
    pub telegram_webhook_secret: Option<SecretString>,

    /// Telegram: messages per second to all chats together, for all instances together (Telegram allows about
    /// 30).
    #[arg(long, env = "TELEGRAM_MESSAGES_PER_SECOND", default_value_t = 30)]
    pub telegram_messages_per_second: u32,

    /// Email: the SMTP server, e.g. `smtps://user:password@smtp.example.com:465` or `smtp://127.0.0.1:25`
    /// (`?tls=required` for STARTTLS). Wins over `EMAIL_DIR`.
    #[arg(long, env = "SMTP_URL", hide_env_values = true, value_parser = secret)]
    pub smtp_url: Option<SecretString>,

    /// Email: a directory each message is written to as an `.eml` file instead (local runs). Without this and
    /// `SMTP_URL` the email channel is off.
    #[arg(long, env = "EMAIL_DIR")]
    pub email_dir: Option<std::path::PathBuf>,

    /// Email: the sender, e.g. `Task <noreply@example.com>`.
    #[arg(long, env = "EMAIL_FROM", default_value = "Task <noreply@localhost>")]
    pub email_from: String,

    /// Web Push: the VAPID private key (a P-256 scalar, URL-safe base64; `task vapid-keys` makes a pair).
    /// Without it the Web Push channel is off.
    #[arg(long, env = "VAPID_PRIVATE_KEY", hide_env_values = true, value_parser = secret)]
    pub vapid_private_key: Option<SecretString>,

    /// Web Push: who runs this server, in every VAPID signature (`mailto:` or `https:`), so push services can
    /// reach the operator.
    #[arg(long, env = "VAPID_SUBJECT", default_value = "mailto:admin@localhost")]
    pub vapid_subject: String,

    /// Web Push: accept subscriptions whose push service is plain HTTP on this machine (`http://127.0.0.1:…`).
    /// Tests and local fakes only: never in production.
    #[arg(long, env = "WEB_PUSH_ALLOW_LOCAL", default_value_t = false, action = clap::ArgAction::Set)]
    pub web_push_allow_local: bool,

    /// How long a provider may take to answer one message, in seconds.
    #[arg(long, env = "DELIVERY_TIMEOUT_SECS", default_value_t = 10)]
    pub delivery_timeout_secs: u64,

    /// Attempts per message before it is `failed`.
    #[arg(long, env = "DELIVERY_MAX_ATTEMPTS", default_value_t = 8)]
    pub delivery_max_attempts: i32,

    /// The wait after a message's first failed attempt, in seconds; doubled after each further one (up to an
    /// hour), unless the provider says how long to wait.
    #[arg(long, env = "DELIVERY_BACKOFF_SECS", default_value_t = 5)]
    pub delivery_backoff_secs: u64,

    /// How often the delivery sweep looks for new notifications and due messages, in milliseconds.
    #[arg(long, env = "DELIVERY_INTERVAL_MS", default_value_t = 250)]
    pub delivery_interval_ms: u64,
}

impl Default for NotifyConfig {
    /// Every channel off, the defaults above otherwise.
    fn default() -> Self {
        Self {
            telegram_api_base: "https://api.telegram.org".to_owned(),
            telegram_bot_token: None,
            telegram_bot_username: None,
            telegram_webhook_secret: None,
            telegram_messages_per_second: 30,
            smtp_url: None,
            email_dir: None,
            email_from: "Task <noreply@localhost>".to_owned(),
            vapid_private_key: None,
            vapid_subject: "mailto:admin@localhost".to_owned(),
            web_push_allow_local: false,
            delivery_timeout_secs: 10,
            delivery_max_attempts: 8,
            delivery_backoff_secs: 5,
            delivery_interval_ms: 250,
        }
    }
}

/// The payment providers' credentials (a provider without its credentials is off) and the sandbox switch.
#[derive(Debug, Clone, Args)]
pub struct PaymentConfig {
    /// Payme: the cashbox (merchant) id.
    #[arg(long, env = "PAYME_MERCHANT_ID")]
    pub payme_merchant_id: Option<String>,

    /// Payme: the cashbox key, the Basic-auth password Payme's server sends as `Paycom:<key>`.
    #[arg(long, env = "PAYME_KEY", hide_env_values = true, value_parser = secret)]
    pub payme_key: Option<SecretString>,

    /// Payme: the test key of Payme's sandbox (test.paycom.uz), accepted too, but only with `PAYME_TEST_MODE`.
    #[arg(long, env = "PAYME_TEST_KEY", hide_env_values = true, value_parser = secret)]
    pub payme_test_key: Option<SecretString>,

    /// Payme: the cashbox is being tested against Payme's sandbox, so the test key is honoured. Off in production.
    #[arg(long, env = "PAYME_TEST_MODE", default_value_t = false, action = clap::ArgAction::Set)]
    pub payme_test_mode: bool,

    /// Payme: the addresses (and CIDR blocks), comma-separated, Payme's calls may come from; any when unset.
    #[arg(long, env = "PAYME_ALLOWED_IPS", value_parser = address_list)]
    pub payme_allowed_ips: Option<AddressList>,

    /// Payme: the checkout page (`https://test.paycom.uz` for Payme's sandbox).
    #[arg(
        long,
        env = "PAYME_CHECKOUT_URL",
        default_value = "https://checkout.paycom.uz"
    )]
    pub payme_checkout_url: String,

    /// Click: the service id.
    #[arg(long, env = "CLICK_SERVICE_ID")]
    pub click_service_id: Option<i64>,

    /// Click: the merchant id.
    #[arg(long, env = "CLICK_MERCHANT_ID")]
    pub click_merchant_id: Option<i64>,

    /// Click: the merchant user id (for the merchant API's `Auth` header).
    #[arg(long, env = "CLICK_MERCHANT_USER_ID")]
    pub click_merchant_user_id: Option<i64>,

    /// Click: the secret key (signs the SHOP API requests and the merchant API's `Auth` header).
    #[arg(long, env = "CLICK_SECRET_KEY", hide_env_values = true, value_parser = secret)]
    pub click_secret_key: Option<SecretString>,

    /// Click: the addresses (and CIDR blocks), comma-separated, Click's calls may come from; any when unset.
    #[arg(long, env = "CLICK_ALLOWED_IPS", value_parser = address_list)]
    pub click_allowed_ips: Option<AddressList>,

    /// Click: the pay page.
    #[arg(
        long,
        env = "CLICK_CHECKOUT_URL",
        default_value = "https://my.click.uz/services/pay"
    )]
    pub click_checkout_url: String,

    /// Click: the merchant API's base URL (fiscal receipts).
    #[arg(
        long,
        env = "CLICK_API_URL",
        default_value = "https://api.click.uz/v2/merchant"
    )]
    pub click_api_url: String,

    /// Click: how long the merchant API may take to answer, in seconds.
    #[arg(long, env = "CLICK_API_TIMEOUT_SECS", default_value_t = 10)]
    pub click_api_timeout_secs: u64,

    /// Click: how long a prepared payment reserves its order without a complete, in seconds.
    #[arg(long, env = "CLICK_PREPARE_TTL_SECS", default_value_t = 1800)]
    pub click_prepare_ttl_secs: u64,

    /// Fiscal receipts: `required` (what the deployment guide sets) refuses online payment for a service without
    /// an IKPU code (checkout 409, Payme -31050, Click -5); `optional` pays it as before, without a receipt.
    #[arg(long, env = "FISCAL_RECEIPTS", value_enum, default_value_t = FiscalReceipts::Optional)]
    pub fiscal_receipts: FiscalReceipts,

    /// The merchant's TIN (9 digits): the seller on a receipt line not sold on a worker's behalf. Required with
    /// `FISCAL_RECEIPTS=required`.
    #[arg(long, env = "FISCAL_MERCHANT_TIN", value_parser = tin)]
    pub fiscal_merchant_tin: Option<String>,

    /// The classifier's unit of one order, at the end of each receipt line's title ("Uy tozalash (xizmat)").
    #[arg(long, env = "FISCAL_UNIT", default_value = app::domain::payments::DEFAULT_FISCAL_UNIT, value_parser = unit)]
    pub fiscal_unit: String,

    /// Serve the built-in gateway sandbox (`/sandbox/...`), which plays Payme and Click against this server's
    /// webhooks with the real credentials. For demos and tests only; never turn it on in production.
    #[arg(long, env = "PAYMENT_SANDBOX", default_value_t = false, action = clap::ArgAction::Set)]
    pub payment_sandbox: bool,
}

/// `FISCAL_RECEIPTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FiscalReceipts {
    /// A service without fiscal codes cannot be paid online.
    Required,
    /// A service without fiscal codes is paid without a receipt (local runs and tests).
    Optional,
}

fn tin(value: &str) -> Result<String, String> {
    if value.len() == 9 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err("must be 9 digits".to_owned())
    }
}

fn unit(value: &str) -> Result<String, String> {
    let value = value.trim();
    if (1..=32).contains(&value.chars().count()) {
        Ok(value.to_owned())
    } else {
        Err("must be 1 to 32 characters".to_owned())
    }
}

impl PaymentConfig {
    /// The domain's payment settings. A provider is on when all its credentials are set; a partial set is an error.
    pub fn settings(&self, public_url: &str) -> anyhow::Result<Settings> {
        let payme = match (&self.payme_merchant_id, &self.payme_key) {
            (Some(merchant_id), Some(key)) => Some(PaymeSettings {
                merchant_id: merchant_id.clone(),
                key: key.clone(),
                test_key: self.payme_test_key.clone(),
                test_mode: self.payme_test_mode,
                checkout_url: self.payme_checkout_url.clone(),
                allowed_ips: self.payme_allowed_ips.clone(),
            }),
            (None, None) => None,
            _ => anyhow::bail!("set both PAYME_MERCHANT_ID and PAYME_KEY, or neither"),
        };
        let click = match (
            self.click_service_id,
            self.click_merchant_id,
            self.click_merchant_user_id,
            &self.click_secret_key,
        ) {
            (Some(service_id), Some(merchant_id), Some(merchant_user_id), Some(secret_key)) => {
                Some(ClickSettings {
                    service_id,
                    merchant_id,
                    merchant_user_id,
                    secret_key: secret_key.clone(),
                    checkout_url: self.click_checkout_url.clone(),
                    prepare_ttl: Duration::from_secs(self.click_prepare_ttl_secs),
                    allowed_ips: self.click_allowed_ips.clone(),
                })
            }
            (None, None, None, None) => None,
            _ => anyhow::bail!(
                "set all of CLICK_SERVICE_ID, CLICK_MERCHANT_ID, CLICK_MERCHANT_USER_ID and CLICK_SECRET_KEY, or none"
            ),
        };
        let required = self.fiscal_receipts == FiscalReceipts::Required;
        if required && self.fiscal_merchant_tin.is_none() {
            anyhow::bail!(
                "FISCAL_RECEIPTS=required needs FISCAL_MERCHANT_TIN (the merchant's 9-digit TIN)"
            );
        }
        Ok(Settings {
            payme,
            click,
            fiscal: FiscalSettings {
                required,
                merchant_tin: self.fiscal_merchant_tin.clone(),
                unit: self.fiscal_unit.clone(),
            },
            public_url: public_url.trim_end_matches('/').to_owned(),
            sandbox: self.payment_sandbox,
            clock: Clock::system(),
        })
    }
}

impl ServeConfig {
    /// Access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    /// Refresh-token lifetime.
    pub fn refresh_ttl(&self) -> Duration {
        Duration::from_secs(self.refresh_token_ttl_secs)
    }

    /// The public URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}

fn secret(value: &str) -> Result<SecretString, String> {
    if value.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(SecretString::from(value.to_owned()))
    }
}

fn address_list(value: &str) -> Result<AddressList, String> {
    value.parse()
}

fn jwt_secret(value: &str) -> Result<SecretString, String> {
    let secret = secret(value)?;
    if secret.expose_secret().len() < 32 {
        return Err("must be at least 32 bytes long (try `openssl rand -base64 48`)".to_owned());
    }
    Ok(secret)
}

//! What payments need from configuration: the providers' credentials, the public address, and the clock.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::models::PaymentProvider;

/// The time as payments see it. Tests move it forward to cross the 12-hour timeout; production never does.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Now, at millisecond precision (so a stored time reads back as the same number of milliseconds).
    pub fn now(&self) -> DateTime<Utc> {
        from_ms(self.now_ms())
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The Payme cashbox.
#[derive(Debug, Clone)]
pub struct PaymeSettings {
    pub merchant_id: String,
    /// The cashbox key (Basic auth password of `Paycom`).
    pub key: SecretString,
    /// The key of Payme's test sandbox, accepted as well while set.
    pub test_key: Option<SecretString>,
    /// Payme's checkout page, e.g. `https://checkout.paycom.uz` (`https://test.paycom.uz` for tests).
    pub checkout_url: String,
}

/// The Click service.
#[derive(Debug, Clone)]
pub struct ClickSettings {
    pub service_id: i64,
    pub merchant_id: i64,
    pub merchant_user_id: i64,
    pub secret_key: SecretString,
    /// Click's pay page, e.g. `https://my.click.uz/services/pay`.
    pub checkout_url: String,
    /// How long a prepared attempt reserves its order without a complete.
    pub prepare_ttl: Duration,
}

/// Everything payments need from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub payme: Option<PaymeSettings>,
    pub click: Option<ClickSettings>,
    /// The public base URL (return links and sandbox links), without a trailing slash.
    pub public_url: String,
    /// Whether the built-in gateway sandbox is served (demo and tests; never in production).
    pub sandbox: bool,
    pub clock: Clock,
}

impl Settings {
    /// Whether `provider` is configured on this server.
    pub fn enabled(&self, provider: PaymentProvider) -> bool {
        match provider {
            PaymentProvider::Payme => self.payme.is_some(),
            PaymentProvider::Click => self.click.is_some(),
        }
    }

    /// How long a prepared Click attempt reserves its order, in milliseconds (forever without Click).
    pub(crate) fn click_ttl_ms(&self) -> i64 {
        self.click.as_ref().map_or(i64::MAX, |c| {
            i64::try_from(c.prepare_ttl.as_millis()).unwrap_or(i64::MAX)
        })
    }
}

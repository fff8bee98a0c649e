//! Notifications that reach people away from the page: Telegram, Web Push (to every device a user subscribed)
//! and email, with each user's preferences, and a delivery pipeline that loses nothing.
//!
//! The pipeline is built on what the feed already guarantees ([`super::watermark`]):
//! 1. [`pipeline::fan_out`] reads the committed notifications in id order up to the stable watermark, from a
//!    persisted cursor, and writes one `deliveries` row per (notification, recipient, channel) the recipient's
//!    preferences enable, in the same transaction as it moves the cursor on: each notification is turned into
//!    rows once, none is skipped. The recipients are those who may see it in their feed: its order's client, the
//!    worker it concerns, and the admins (the rule of `visible_notifications`).
//! 2. [`pipeline::send_due`] claims due rows with `for update skip locked` and leases them, sends each through its
//!    channel's [`Transport`], and records the outcome under the lease it took. Several instances never claim the
//!    same row; a row whose sender died mid-send is claimed again when its lease ends. Failures are retried with
//!    exponential backoff (a provider's `retry_after` honoured) until the attempts run out (`failed`).
//! 3. [`pipeline::send_digest`] does the same for the rows of users who take digests: they wait until the end of
//!    their interval, and then one (recipient, channel)'s due rows are claimed together and sent as one message.
//!
//! The one duplicate window: a provider accepted a message and the process died (or lost the database) before it
//! recorded `sent`. The row's lease then ends and it is sent again. Every such claim of a row whose last sender
//! recorded nothing is counted (`deliveries_recovered_total`): the duplicates are at most that many. Telegram
//! and SMTP have no idempotency key that would close the window.

pub mod pipeline;
pub mod push;
pub mod settings;
pub mod telegram;

use std::{sync::Arc, time::Duration};

use secrecy::SecretString;

use super::context::BoxFuture;
use crate::models::delivery::Channel;

/// Where one message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A Telegram chat, by its id.
    TelegramChat(i64),
    /// An email address.
    Email(String),
    /// One device's push subscription.
    Push(PushTarget),
}

/// A browser's push subscription, as its `PushSubscription` gave it: where to send, and the keys the payload is
/// encrypted to (URL-safe base64).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PushTarget {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

/// A message, rendered in its recipient's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// One line: the email's subject, the Telegram message's first line.
    pub subject: String,
    /// The whole text, the order page's address included.
    pub text: String,
    /// The page the message is about (a push notification opens it when clicked).
    pub url: String,
}

/// What a provider made of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted.
    Sent,
    /// Not now: try again (after `after`, when the provider said so, e.g. Telegram's `retry_after`).
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Refused for good (a malformed address): not retried.
    Refused { error: String },
    /// The address is gone for good (the bot was blocked): not retried, and the channel is unlinked.
    Gone { error: String },
    /// Not tried: the provider's pace has no turn for it soon (a chat's one message a second). Held for `after`,
    /// the attempt not counted, so a busy chat neither waits out its sender's lease nor spends its attempts.
    Deferred { after: Duration },
}

/// One channel's provider: sends a message to an address.
pub trait Transport: Send + Sync {
    /// Sends `message` to `to`. Never panics; every failure is an [`Outcome`].
    fn send<'a>(&'a self, to: &'a Address, message: &'a Message) -> BoxFuture<'a, Outcome>;
}

/// The Telegram bot of this deployment, as the domain needs it (its API client is a [`Transport`]).
#[derive(Debug, Clone)]
pub struct TelegramBot {
    /// The bot's username, for the deep link `https://t.me/<username>?start=<token>`.
    pub username: String,
    /// The secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token` with every webhook call; without one the
    /// webhook refuses every call.
    pub webhook_secret: Option<SecretString>,
}

/// How the pipeline retries.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Attempts per delivery before it is `failed`.
    pub max_attempts: i32,
    /// How long a claimed row is its sender's: longer than any send takes (the transports time out first).
    pub lease: Duration,
    /// The wait after the first failure; doubled after each further one, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Rows claimed (and notifications fanned out) per round.
    pub batch: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            lease: Duration::from_secs(60),
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
            batch: 200,
        }
    }
}

impl Policy {
    /// The wait before the next attempt after `attempts` failed ones: what the provider asked for (Telegram's
    /// `retry_after`), else `backoff · 2^(attempts-1)`, capped.
    pub fn retry_in(&self, attempts: i32, asked: Option<Duration>) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        let backoff = self
            .backoff
            .saturating_mul(2_u32.saturating_pow(doublings))
            .min(self.max_backoff);
        asked.unwrap_or(backoff)
    }
}

/// The channels of this deployment: what is configured, and the providers' clients.
#[derive(Clone)]
pub struct Notify {
    /// The public base URL, for the order page's address in every message.
    pub public_url: String,
    /// The Telegram bot, when one is configured.
    pub telegram: Option<TelegramBot>,
    pub telegram_transport: Option<Arc<dyn Transport>>,
    pub email_transport: Option<Arc<dyn Transport>>,
    /// The Web Push sender, when a VAPID key is configured.
    pub push_transport: Option<Arc<dyn Transport>>,
    /// The VAPID public key (an uncompressed P-256 point, URL-safe base64) browsers subscribe with.
    pub vapid_public_key: Option<String>,
    /// Whether a push subscription may name a plain-HTTP push service on this machine (`http://127.0.0.1:…`): for
    /// tests and local fakes only.
    pub allow_local_push: bool,
    pub policy: Policy,
}

impl Notify {
    /// No channel configured: notifications stay in the app (the command line's context).
    pub fn off() -> Self {
        Self {
            public_url: String::new(),
            telegram: None,
            telegram_transport: None,
            email_transport: None,
            push_transport: None,
            vapid_public_key: None,
            allow_local_push: false,
            policy: Policy::default(),
        }
    }

    /// Whether any channel is configured here: with none, nothing is ever sent from this instance.
    pub fn any_channel(&self) -> bool {
        Channel::ALL.iter().any(|&c| self.transport(c).is_some())
    }

    /// The provider of `channel`, if it is configured here.
    pub fn transport(&self, channel: Channel) -> Option<&Arc<dyn Transport>> {
        match channel {
            Channel::Telegram => self.telegram_transport.as_ref(),
            Channel::Email => self.email_transport.as_ref(),
            Channel::WebPush => self.push_transport.as_ref(),
        }
    }

    /// The order page's address.
    pub fn order_url(&self, order_id: i64) -> String {
        format!(
            "{}/orders/{order_id}",
            self.public_url.trim_end_matches('/')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_honours_a_longer_retry_after() {
        let policy = Policy {
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10),
            ..Policy::default()
        };
        let cases = [
            (1, None, 2),
            (2, None, 4),
            (3, None, 8),
            (4, None, 10),
            (30, None, 10),
            (1, Some(7), 7),
            (3, Some(1), 1),
        ];
        for (attempts, asked, expected) in cases {
            assert_eq!(
                policy.retry_in(attempts, asked.map(Duration::from_secs)),
                Duration::from_secs(expected),
                "after {attempts} attempts, asked {asked:?}"
            );
        }
    }
}

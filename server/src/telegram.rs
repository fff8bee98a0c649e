//! The Telegram channel's provider: the Bot API's `sendMessage` over HTTPS (the base URL is configuration, so
//! tests use a local fake), paced to Telegram's limits: one message a second to a chat, about thirty a second in
//! all (per instance), and every send paused for as long as a 429's `retry_after` says.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use app::domain::{
    context::BoxFuture,
    delivery::{Address, Message, Outcome, Transport},
};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

/// The gap between two messages to one chat.
const PER_CHAT: Duration = Duration::from_secs(1);

/// The longest a send waits for its turn; a message whose turn is further away is deferred (and its row held), so
/// a send never outlasts its row's lease.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// A Bot API client for one bot.
pub struct TelegramApi {
    http: reqwest::Client,
    /// `<base>/bot<token>/sendMessage`: holds the token, so it is never logged (errors are stripped of it).
    send_url: SecretString,
    pace: Pace,
}

impl TelegramApi {
    /// A client of the bot with `token` at `base`, sending at most `per_second` messages a second.
    pub fn new(
        base: &str,
        token: &SecretString,
        per_second: u32,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()?,
            send_url: SecretString::from(format!(
                "{}/bot{}/sendMessage",
                base.trim_end_matches('/'),
                token.expose_secret()
            )),
            pace: Pace::new(per_second),
        })
    }

    async fn send_message(&self, chat_id: i64, text: &str) -> Outcome {
        if let Err(after) = self.pace.wait_turn(chat_id).await {
            return Outcome::Deferred { after };
        }
        let body = json!({ "chat_id": chat_id, "text": text });
        let response = match self
            .http
            .post(self.send_url.expose_secret())
            .json(&body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => {
                return Outcome::Retry {
                    error: format!("Telegram did not answer: {}", e.without_url()),
                    after: None,
                };
            }
        };
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status == 200 && answer["ok"] == Value::Bool(true) {
            return Outcome::Sent;
        }
        let description = answer["description"]
            .as_str()
            .unwrap_or("no description")
            .chars()
            .take(300)
            .collect::<String>();
        let error = format!("Telegram answered {status}: {description}");
        match status {
            429 => {
                let after = answer
                    .pointer("/parameters/retry_after")
                    .and_then(Value::as_u64)
                    .map(Duration::from_secs);
                if let Some(after) = after {
                    self.pace.pause(after);
                }
                Outcome::Retry { error, after }
            }
            // Blocked by the user, kicked from the group, the user deactivated: this chat takes no more messages.
            403 => Outcome::Gone { error },
            400 => Outcome::Refused { error },
            _ => Outcome::Retry { error, after: None },
        }
    }
}

impl Transport for TelegramApi {
    fn send<'a>(&'a self, to: &'a Address, message: &'a Message) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match to {
                Address::TelegramChat(chat_id) => self.send_message(*chat_id, &message.text).await,
                _ => Outcome::Refused {
                    error: "not a Telegram chat".to_owned(),
                },
            }
        })
    }
}

/// Turns for sending: each chat's next free moment and the bot's.
struct Pace {
    gap: Duration,
    state: Mutex<PaceState>,
}

struct PaceState {
    next: Instant,
    chats: HashMap<i64, Instant>,
}

impl Pace {
    fn new(per_second: u32) -> Self {
        Self {
            gap: Duration::from_secs(1) / per_second.max(1),
            state: Mutex::new(PaceState {
                next: Instant::now(),
                chats: HashMap::new(),
            }),
        }
    }

    /// Waits for this chat's turn and the bot's, reserving both; or, when the turn is more than [`MAX_WAIT`]
    /// away, reserves nothing and says how far away it is.
    async fn wait_turn(&self, chat_id: i64) -> Result<(), Duration> {
        let at = {
            let mut state = self
                .state
                .lock()
                .expect("the pace's lock is never held across a panic");
            let now = Instant::now();
            if state.chats.len() > 10_000 {
                state.chats.retain(|_, free| *free > now);
            }
            let chat_free = state
                .chats
                .get(&chat_id)
                .map_or(now, |free| (*free).max(now));
            let at = state.next.max(chat_free);
            if at > now + MAX_WAIT {
                return Err(at - now);
            }
            state.next = at + self.gap;
            state.chats.insert(chat_id, at + PER_CHAT);
            at
        };
        tokio::time::sleep_until(at.into()).await;
        Ok(())
    }

    /// No message goes before `after` from now (Telegram's 429 `retry_after`).
    fn pause(&self, after: Duration) {
        let mut state = self
            .state
            .lock()
            .expect("the pace's lock is never held across a panic");
        state.next = state.next.max(Instant::now() + after);
    }
}

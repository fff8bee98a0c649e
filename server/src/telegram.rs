//! The Telegram channel's provider: the Bot API's `sendMessage` over HTTPS (the base URL is configuration, so
//! tests use a local fake), paced to Telegram's limits: one message a second to a chat, about thirty a second in
//! all, and every send paused for as long as a 429's `retry_after` says. The turns are kept in Redis, so the
//! limits hold for all instances together; while Redis cannot be reached each instance keeps them on its own.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
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
    /// A client of the bot with `token` at `base`, sending at most `per_second` messages a second with every
    /// other instance whose turns are in `shared`.
    pub fn new(
        base: &str,
        token: &SecretString,
        per_second: u32,
        timeout: Duration,
        shared: Option<SharedTurns>,
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
            pace: Pace::new(per_second, shared),
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
                    self.pace.pause(after).await;
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

/// The turns of all instances, in Redis: the bot's next free moment and each chat's, on Redis's clock.
#[derive(Clone)]
pub struct SharedTurns {
    pub redis: redis::aio::ConnectionManager,
    /// `<REDIS_PREFIX>:telegram`.
    pub prefix: String,
}

/// Takes the next turn of the bot and of a chat (KEYS: the bot's, the chat's; ARGV: the gap between two messages,
/// the gap to one chat, the longest wait, in ms). Answers `{1, wait}` (taken: send after `wait` ms) or `{0, wait}`
/// (the turn is further away than the longest wait: nothing taken).
static TAKE_TURN: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local at = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'),
                            tonumber(redis.call('GET', KEYS[2]) or '0'))
        if at - now > tonumber(ARGV[3]) then return {0, at - now} end
        redis.call('SET', KEYS[1], at + tonumber(ARGV[1]), 'PX', at - now + 60000)
        redis.call('SET', KEYS[2], at + tonumber(ARGV[2]), 'PX', at - now + tonumber(ARGV[2]) + 60000)
        return {1, at - now}
        ",
    )
});

/// Moves the bot's next free moment to at least `ARGV[1]` ms from now (a 429's `retry_after`).
static PAUSE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local until_ = now + tonumber(ARGV[1])
        if tonumber(redis.call('GET', KEYS[1]) or '0') < until_ then
            redis.call('SET', KEYS[1], until_, 'PX', tonumber(ARGV[1]) + 60000)
        end
        return 1
        ",
    )
});

/// How long a turn may take to get from Redis before this instance takes its own.
const SHARED_TIMEOUT: Duration = Duration::from_millis(500);

/// Turns for sending: each chat's next free moment and the bot's, shared through Redis, with this instance's own
/// as the fallback.
struct Pace {
    gap: Duration,
    shared: Option<SharedTurns>,
    state: Mutex<PaceState>,
}

struct PaceState {
    next: Instant,
    chats: HashMap<i64, Instant>,
}

impl Pace {
    fn new(per_second: u32, shared: Option<SharedTurns>) -> Self {
        Self {
            gap: Duration::from_secs(1) / per_second.max(1),
            shared,
            state: Mutex::new(PaceState {
                next: Instant::now(),
                chats: HashMap::new(),
            }),
        }
    }

    /// Waits for this chat's turn and the bot's, reserving both; or, when the turn is more than [`MAX_WAIT`]
    /// away, reserves nothing and says how far away it is.
    async fn wait_turn(&self, chat_id: i64) -> Result<(), Duration> {
        let wait = match self.shared_turn(chat_id).await {
            Some(turn) => turn?,
            None => self.own_turn(chat_id)?,
        };
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The turn from Redis: `None` when Redis cannot say (this instance then keeps its own turns).
    async fn shared_turn(&self, chat_id: i64) -> Option<Result<Duration, Duration>> {
        let shared = self.shared.as_ref()?;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut redis = shared.redis.clone();
        let mut script = TAKE_TURN.prepare_invoke();
        script
            .key(format!("{}:next", shared.prefix))
            .key(format!("{}:chat:{chat_id}", shared.prefix))
            .arg(ms(self.gap))
            .arg(ms(PER_CHAT))
            .arg(ms(MAX_WAIT));
        let call = script.invoke_async::<(i64, i64)>(&mut redis);
        match tokio::time::timeout(SHARED_TIMEOUT, call).await {
            Ok(Ok((taken, wait))) => {
                let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
                Some(if taken == 1 { Ok(wait) } else { Err(wait) })
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Telegram's shared pace is unavailable: pacing this instance alone");
                None
            }
            Err(_) => {
                tracing::warn!(
                    "Telegram's shared pace did not answer in time: pacing this instance alone"
                );
                None
            }
        }
    }

    /// This instance's own turn (while Redis is away): how long to wait, or how far away it is.
    fn own_turn(&self, chat_id: i64) -> Result<Duration, Duration> {
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
        Ok(at - now)
    }

    /// No message goes before `after` from now (Telegram's 429 `retry_after`), on any instance.
    async fn pause(&self, after: Duration) {
        {
            let mut state = self
                .state
                .lock()
                .expect("the pace's lock is never held across a panic");
            state.next = state.next.max(Instant::now() + after);
        }
        if let Some(shared) = &self.shared {
            let mut redis = shared.redis.clone();
            let mut script = PAUSE.prepare_invoke();
            script
                .key(format!("{}:next", shared.prefix))
                .arg(u64::try_from(after.as_millis()).unwrap_or(u64::MAX));
            let call = script.invoke_async::<i64>(&mut redis);
            if !matches!(tokio::time::timeout(SHARED_TIMEOUT, call).await, Ok(Ok(_))) {
                tracing::warn!("Failed to share Telegram's pause with the other instances");
            }
        }
    }
}

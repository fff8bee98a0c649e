//! Fixed-window rate limits kept in Redis, so every instance counts together.

use std::time::Duration;

use super::{Error, Result};
use redis::aio::ConnectionManager;

/// `INCR`, with the window's expiry set by the first hit, as one atomic step: a key can never be left without
/// an expiry (which would lock its owner out for good).
static HIT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
        local count = redis.call('INCR', KEYS[1])
        if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
        return {count, redis.call('TTL', KEYS[1])}
        ",
    )
});

/// Counts attempts per key and window.
#[derive(Clone)]
pub struct RateLimiter {
    /// `None`: no limits (the command line).
    redis: Option<ConnectionManager>,
    prefix: String,
}

impl RateLimiter {
    /// A limiter whose keys start with `prefix`.
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis: Some(redis),
            prefix: format!("{prefix}:rl"),
        }
    }

    /// A limiter that allows everything (for the command line, which has no callers to limit).
    pub fn off() -> Self {
        Self {
            redis: None,
            prefix: String::new(),
        }
    }

    /// Counts one attempt for `key`; fails with 429 and the seconds to wait once more than `limit` happened
    /// within `window`. If Redis is unreachable the attempt is allowed (and a warning logged): an outage of the
    /// limiter must not lock everyone out.
    pub async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<()> {
        let Some(mut redis) = self.redis.clone() else {
            return Ok(());
        };
        let key = format!("{}:{key}", self.prefix);
        // One round trip: count, start the window on the first hit, and tell the seconds left.
        let outcome: redis::RedisResult<(u64, i64)> = HIT
            .key(&key)
            .arg(window.as_secs().max(1))
            .invoke_async(&mut redis)
            .await;
        match outcome {
            Ok((count, ttl)) if count > u64::from(limit) => Err(Error::Throttled {
                retry_after: u64::try_from(ttl).unwrap_or(1).max(1),
            }),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "Rate limiter unavailable; allowing the request");
                Ok(())
            }
        }
    }
}

//! Fixed-window rate limits kept in Redis, so every instance counts together: counted attempts ([`RateLimiter::hit`])
//! and counted failures ([`RateLimiter::reserve`], whose reservation is released when the attempt succeeds).

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

/// Takes one slot of every counter in `KEYS` (limits in `ARGV[2..]`, the window in `ARGV[1]`) as one atomic step,
/// or none if any is full: `{1, 0}`, or `{0, seconds until the full one's window ends}`. A full counter is not
/// counted further, and every counter gets its window's expiry with its first slot.
static RESERVE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
        for i, key in ipairs(KEYS) do
            if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
                local ttl = redis.call('TTL', key)
                if ttl < 0 then
                    redis.call('EXPIRE', key, ARGV[1])
                    ttl = tonumber(ARGV[1])
                end
                return {0, ttl}
            end
        end
        for _, key in ipairs(KEYS) do
            if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[1]) end
        end
        return {1, 0}
        ",
    )
});

/// Gives back one slot of every counter in `KEYS` that still exists (one whose window ended is left alone: a
/// `DECR` would recreate it without an expiry).
static RELEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
        for _, key in ipairs(KEYS) do
            if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
        end
        return 0
        ",
    )
});

/// Slots taken by [`RateLimiter::reserve`]: counted as failures unless handed to [`RateLimiter::release`].
#[must_use = "an attempt that did not fail must release its reservation"]
pub struct Reservation {
    keys: Vec<String>,
}

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

    /// Takes a slot of each `(key, limit)` counter for an attempt whose failures are limited within `window`:
    /// 429, with the seconds to wait, if any counter already holds `limit` failures (and then nothing is taken).
    /// The slots count as a failure unless [`Self::release`]d, so an attempt that succeeds does not count, while a
    /// burst of concurrent attempts cannot get past the limit before their failures are known. If Redis is
    /// unreachable the attempt is allowed (and a warning logged).
    pub async fn reserve(&self, counters: &[(&str, u32)], window: Duration) -> Result<Reservation> {
        let Some(mut redis) = self.redis.clone() else {
            return Ok(Reservation { keys: Vec::new() });
        };
        let keys: Vec<String> = counters
            .iter()
            .map(|(key, _)| format!("{}:{key}", self.prefix))
            .collect();
        let mut script = RESERVE.prepare_invoke();
        script.arg(window.as_secs().max(1));
        for ((_, limit), key) in counters.iter().zip(&keys) {
            script.key(key).arg(*limit);
        }
        let outcome: redis::RedisResult<(u8, i64)> = script.invoke_async(&mut redis).await;
        match outcome {
            Ok((1, _)) => Ok(Reservation { keys }),
            Ok((_, ttl)) => Err(Error::Throttled {
                retry_after: u64::try_from(ttl).unwrap_or(1).max(1),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "Rate limiter unavailable; allowing the request");
                Ok(Reservation { keys: Vec::new() })
            }
        }
    }

    /// Gives back the slots of an attempt that did not fail. Best effort: if Redis is unreachable the slots stay
    /// counted until their window ends (and a warning is logged).
    pub async fn release(&self, reservation: Reservation) {
        let Some(mut redis) = self.redis.clone() else {
            return;
        };
        if reservation.keys.is_empty() {
            return;
        }
        let mut script = RELEASE.prepare_invoke();
        for key in &reservation.keys {
            script.key(key);
        }
        let outcome: redis::RedisResult<i64> = script.invoke_async(&mut redis).await;
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "Rate limiter unavailable; a reservation stays counted");
        }
    }
}

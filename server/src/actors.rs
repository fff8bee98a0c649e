//! Recently authenticated users, so a request with a valid access token need not read its user every time.
//!
//! An entry lives at most [`TTL`]; it is dropped at once when the user is deactivated or changes role — here or,
//! through the feed's Redis channel, on any instance (see [`crate::live::Feed::revoke`]). A per-user generation,
//! bumped by every revocation, keeps a request that read the user just before the change from caching the stale
//! answer just after it. Only if Redis is down at the moment of the change can another instance keep accepting
//! the user's access token for up to [`TTL`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use app::domain::Actor;

/// How long an entry is trusted without reading the user again.
pub const TTL: Duration = Duration::from_secs(30);
/// Entries kept at most; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
struct Inner {
    entries: HashMap<i64, (Actor, Instant)>,
    /// How many times each user's access was revoked (only users ever revoked are listed).
    generations: HashMap<i64, u64>,
}

/// Cheap to clone: shared.
#[derive(Clone, Default)]
pub struct ActorCache {
    inner: Arc<Mutex<Inner>>,
}

/// What [`ActorCache::get`] knew: the user if cached, and the revocation generation to pass to
/// [`ActorCache::put`] after reading the user from the database.
pub struct Lookup {
    pub actor: Option<Actor>,
    pub generation: u64,
}

impl ActorCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The user, if seen active within [`TTL`], and the user's revocation generation.
    pub fn get(&self, user_id: i64) -> Lookup {
        let inner = self.lock();
        Lookup {
            actor: inner
                .entries
                .get(&user_id)
                .filter(|(_, at)| at.elapsed() < TTL)
                .map(|(actor, _)| actor.clone()),
            generation: inner.generations.get(&user_id).copied().unwrap_or(0),
        }
    }

    /// Remembers an active user read from the database, unless their access was revoked since `generation`.
    pub fn put(&self, actor: Actor, generation: u64) {
        let mut inner = self.lock();
        if inner.generations.get(&actor.id).copied().unwrap_or(0) != generation {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(actor.id, (actor, Instant::now()));
    }

    /// Forgets a user whose access changed.
    pub fn forget(&self, user_id: i64) {
        let mut inner = self.lock();
        inner.entries.remove(&user_id);
        if inner.generations.len() >= MAX_ENTRIES {
            // Starting over is safe: with no generations and no entries, nothing stale can be cached.
            inner.generations.clear();
            inner.entries.clear();
        }
        *inner.generations.entry(user_id).or_default() += 1;
    }
}

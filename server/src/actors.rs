//! Recently authenticated users, so a request with a valid access token need not read its user every time.
//!
//! An entry lives at most [`TTL`]; it is dropped at once when the user is deactivated or changes role — here or,
//! through the feed's Redis channel, on any instance (see [`crate::live::Feed::revoke`]). Only if Redis is down at
//! that moment can another instance keep accepting the user's access token for up to [`TTL`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use app::domain::Actor;

/// How long an entry is trusted without reading the user again.
pub const TTL: Duration = Duration::from_secs(30);
/// Entries kept at most; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;

/// Cheap to clone: shared.
#[derive(Clone, Default)]
pub struct ActorCache {
    entries: Arc<Mutex<HashMap<i64, (Actor, Instant)>>>,
}

impl ActorCache {
    /// The user, if seen active within [`TTL`].
    pub fn get(&self, user_id: i64) -> Option<Actor> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&user_id)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(actor, _)| actor.clone())
    }

    /// Remembers an active user.
    pub fn put(&self, actor: Actor) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(actor.id, (actor, Instant::now()));
    }

    /// Forgets a user whose access changed.
    pub fn forget(&self, user_id: i64) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&user_id);
    }
}

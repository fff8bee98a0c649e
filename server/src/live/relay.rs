//! The relay: one per process. It wakes when an event commits (here, or on another instance through Redis) and
//! at least once a second, and broadcasts every event once, in id order, serialized once, to the sockets of this
//! process. A commit here hands its events over with their frames; while they follow right after what was sent,
//! they go out without a database read. Otherwise (events of another instance, a gap, the safety tick) the relay
//! reads every event up to the stable watermark.
//!
//! What the relay has delivered is itself a stable watermark (every id at or below it is committed or gone for
//! good), kept current even while no socket listens: a socket starts from it ([`Member::start`]) instead of taking
//! the watermark's exclusive lock on every connect. It also keeps each user's sockets on this process to
//! [`SOCKETS_PER_USER`], the oldest giving way.
//!
//! The relay also keeps the most recent events it delivered ([`Recent`], `FEED_RECENT_EVENTS`, loaded from the
//! database when the process starts). A socket that reconnects with an `after_id` among them is caught up from
//! memory ([`Feed::recent`]) instead of by its own database replay: after a restart or a deploy, every client
//! reconnects at once. A client's or a worker's socket whose `after_id` is older than every kept event is caught up
//! from memory too when the database finds no event of theirs between the two (asked with the socket's other
//! opening questions, [`feed::openings`]); an admin's, or one with events in that gap, replays from the database.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use app::domain::{
    Actor,
    events::{EventSink, FeedEvent},
    feed, watermark,
};
use app::models::Role;
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::openings::Openings;
use crate::actors::ActorCache;
use tokio::sync::{Notify, broadcast, watch};

/// What the relay hands to sockets.
#[derive(Debug)]
pub enum FeedMessage {
    /// A committed event and its audience; `frame` is shared by every socket that sends it.
    Event {
        id: i64,
        client_id: i64,
        worker_id: Option<i64>,
        frame: Utf8Bytes,
    },
    /// Notifications became read for `user_id`; sockets other than `origin` tell their client.
    Read {
        user_id: i64,
        ids: Vec<i64>,
        origin: Option<u64>,
    },
    /// The user was deactivated or changed role: their sockets close.
    Revoke { user_id: i64 },
}

/// What instances tell each other over Redis.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Committed {
        origin: String,
    },
    Read {
        origin: String,
        user_id: i64,
        ids: Vec<i64>,
    },
    Revoke {
        origin: String,
        user_id: i64,
    },
}

impl Wire {
    fn origin(&self) -> &str {
        match self {
            Self::Committed { origin }
            | Self::Read { origin, .. }
            | Self::Revoke { origin, .. } => origin,
        }
    }
}

/// How often the relay looks even when nobody told it to (Redis down, a lost message).
const SAFETY_TICK: Duration = Duration::from_secs(1);
/// Rows read per query when catching up.
const BATCH: i64 = 500;
/// The most sockets one user may hold open on one server process; opening one more closes their oldest.
pub const SOCKETS_PER_USER: usize = 20;
/// How long a joining socket waits for the relay to pass on what was committed before it connected.
const SETTLE_WAIT: Duration = Duration::from_secs(1);

/// The feed of this process. Cheap to clone.
#[derive(Clone)]
pub struct Feed {
    inner: Arc<Inner>,
}

struct Inner {
    db: PgPool,
    actors: ActorCache,
    redis: redis::aio::ConnectionManager,
    channel: String,
    instance: String,
    /// The channel of admin sockets: every event.
    admins: broadcast::Sender<Arc<FeedMessage>>,
    /// One channel per user with a non-admin socket here: their events, and every user's read changes and
    /// revocations. Events wake only the sockets that may see them.
    users: std::sync::Mutex<HashMap<i64, broadcast::Sender<Arc<FeedMessage>>>>,
    /// Users with an admin socket here (their read changes go to the admin channel).
    admin_users: std::sync::Mutex<HashMap<i64, usize>>,
    /// The capacity of a user's channel (small: it exists per user, and one user's burst is short).
    user_capacity: usize,
    /// Every event with an id at or below this has been handed to the channels (or was before this process started).
    delivered: AtomicI64,
    /// The most recent events delivered, for sockets that catch up. Filled before `delivered` moves past them.
    recent: std::sync::RwLock<Recent>,
    /// How many events `recent` keeps.
    recent_capacity: usize,
    /// Sockets waiting for what they need from the database to open (see [`Feed::opening`]).
    openings: Arc<Openings>,
    /// Turns of sockets replaying from the database (see [`Feed::database_turn`]).
    turns: tokio::sync::Semaphore,
    /// Events committed here, handed over by the requests that recorded them, not yet looked at by the relay.
    handed: std::sync::Mutex<Vec<FeedEvent>>,
    /// Set when the relay must read the database (a commit here or elsewhere whose events it was not handed).
    look: AtomicBool,
    poke: Notify,
    /// The starting points of this process's sockets, lowest first: `(start, socket id)`.
    starts: std::sync::Mutex<BTreeSet<(i64, u64)>>,
    /// Commits not yet announced to the other instances (non-zero while an announcement is in flight).
    unannounced: AtomicU64,
    next_socket: AtomicU64,
    /// Counts the relay's work orders (events handed over, a look asked for); bumped after each is placed.
    requested: AtomicU64,
    /// The count of [`Self::requested`] that the relay's last finished pass covered.
    served: watch::Sender<u64>,
    /// Each user's sockets on this process, oldest first, with the signal that closes one.
    sockets: std::sync::Mutex<HashMap<i64, UserSockets>>,
}

/// One user's sockets on this process, oldest first: each one's id and the signal that closes it.
type UserSockets = VecDeque<(u64, Arc<Notify>)>;

impl Feed {
    /// Starts the relay and the Redis subscriber. `capacity` bounds how far a socket may fall behind before it is
    /// told to resync.
    /// `recent` is how many of the latest events it keeps in memory for sockets that catch up.
    pub async fn start(
        db: PgPool,
        client: redis::Client,
        redis: redis::aio::ConnectionManager,
        prefix: &str,
        capacity: usize,
        recent: usize,
    ) -> anyhow::Result<Self> {
        let start = watermark::stable_watermark(&db)
            .await
            .context("Failed to read the feed's starting point")?;
        // The latest events at or below the start: every one with an id in (start - recent, start].
        let span = i64::try_from(recent).unwrap_or(i64::MAX);
        let floor = start.saturating_sub(span).max(0);
        let latest = feed::events_between(&db, floor, start, span)
            .await
            .context("Failed to read the feed's recent events")?;
        let recent_capacity = recent;
        let mut recent = Recent::new(recent_capacity, floor);
        recent.extend(
            floor,
            start,
            latest.into_iter().map(|e| Arc::new(message(e))).collect(),
        );
        let openings = Openings::start(db.clone());
        let turns = usize::try_from(db.options().get_max_connections() / 4)
            .unwrap_or(1)
            .max(2);
        let (admins, _) = broadcast::channel(capacity);
        let feed = Self {
            inner: Arc::new(Inner {
                db,
                actors: ActorCache::default(),
                redis,
                channel: format!("{prefix}:feed"),
                instance: uuid::Uuid::new_v4().to_string(),
                admins,
                users: std::sync::Mutex::default(),
                admin_users: std::sync::Mutex::default(),
                user_capacity: (capacity / 64).clamp(16, 256),
                delivered: AtomicI64::new(start),
                recent: std::sync::RwLock::new(recent),
                recent_capacity,
                openings,
                turns: tokio::sync::Semaphore::new(turns),
                handed: std::sync::Mutex::default(),
                look: AtomicBool::new(false),
                poke: Notify::new(),
                starts: std::sync::Mutex::default(),
                unannounced: AtomicU64::new(0),
                next_socket: AtomicU64::new(1),
                requested: AtomicU64::new(0),
                served: watch::Sender::new(0),
                sockets: std::sync::Mutex::default(),
            }),
        };
        tokio::spawn(relay(Arc::downgrade(&feed.inner)));
        tokio::spawn(subscribe(Arc::downgrade(&feed.inner), client));
        Ok(feed)
    }

    /// Registers a socket: it subscribes, and then fixes where it starts ([`Member::start`]). The relay never
    /// broadcasts below the lowest start of its members, so a backlog nobody needs is skipped. A user's
    /// sockets beyond [`SOCKETS_PER_USER`] close their oldest ([`Member::replacement`]).
    pub fn join(&self, user_id: i64, admin: bool) -> Member {
        let receiver = if admin {
            *lock(&self.inner.admin_users).entry(user_id).or_default() += 1;
            self.inner.admins.subscribe()
        } else {
            let mut users = lock(&self.inner.users);
            users
                .entry(user_id)
                .or_insert_with(|| broadcast::channel(self.inner.user_capacity).0)
                .subscribe()
        };
        let id = self.inner.next_socket.fetch_add(1, Ordering::Relaxed);
        let replaced = Arc::new(Notify::new());
        {
            let mut sockets = lock(&self.inner.sockets);
            let mine = sockets.entry(user_id).or_default();
            mine.push_back((id, replaced.clone()));
            while mine.len() > SOCKETS_PER_USER {
                if let Some((_, oldest)) = mine.pop_front() {
                    oldest.notify_one();
                }
            }
        }
        metrics::gauge!("feed_sockets_open").increment(1.0);
        Member {
            feed: self.clone(),
            id,
            start: None,
            user_id,
            admin,
            receiver: Some(receiver),
            replaced,
        }
    }

    /// Waits (briefly) until the relay has passed on what was committed, here or as far as it was told, before
    /// this call: a socket then starts at or above it, so what it shows first is current. Not needed for the
    /// ordering guarantee (what the relay has not delivered yet reaches the socket live), only for freshness.
    pub async fn settled(&self) {
        let wanted = self.inner.requested.load(Ordering::SeqCst);
        let mut served = self.inner.served.subscribe();
        let _ = tokio::time::timeout(SETTLE_WAIT, served.wait_for(|&done| done >= wanted)).await;
    }

    /// What a socket that opens needs from the database ([`feed::openings`]), read together with every other
    /// socket opening meanwhile: when every client reconnects at once, a few statements answer them all.
    pub async fn opening(&self, query: feed::OpeningQuery) -> app::domain::Result<feed::Opening> {
        self.inner.openings.ask(query).await
    }

    /// Waits for a turn to read the database for a socket that replays what it missed from there (its `after_id`
    /// is older than the events kept in memory). Replays take at most a quarter of the pool's connections at once,
    /// so that when many clients come back from a long absence at once the rest keep answering requests.
    pub async fn database_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // Never closed: always a permit.
        self.inner.turns.acquire().await.ok()
    }

    /// Catching `viewer` up from memory: the frames of their events in `(after, upto]`, oldest first, and the
    /// newest id of their feed at or below `upto` if the kept events show it. When events after `after` are no
    /// longer kept, a client's or a worker's catch-up is that of what is kept, with the gap below it that the
    /// caller must find empty in the database ([`CatchUp::gap`]); an admin's is `None` (the socket replays from the
    /// database). `upto` must be a socket's start ([`Member::start`]): every event at or below it was kept before
    /// it became a start, so what is kept covers `(after, upto]` whenever it reaches back to `after`.
    ///
    /// The frames carry `read: false`, as the relay sends them: the caller checks that none of them was read.
    pub fn recent(&self, viewer: &Actor, after: i64, upto: i64) -> Option<CatchUp> {
        let recent = self
            .inner
            .recent
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        recent.catch_up(viewer, after, upto)
    }

    /// Sends a message about `user_id` (read changes, revocation) to that user's sockets.
    fn to_user(&self, user_id: i64, message: FeedMessage) {
        self.inner.to_user(user_id, message);
    }

    /// Tells this process's sockets and the other instances that notifications became read for `user_id`.
    pub fn publish_read(&self, user_id: i64, ids: Vec<i64>, origin: Option<u64>) {
        if ids.is_empty() {
            return;
        }
        let wire = Wire::Read {
            origin: self.inner.instance.clone(),
            user_id,
            ids: ids.clone(),
        };
        self.to_user(
            user_id,
            FeedMessage::Read {
                user_id,
                ids,
                origin,
            },
        );
        self.publish(&wire);
    }

    /// The cache of recently authenticated users, which revocations clear.
    pub fn actors(&self) -> &ActorCache {
        &self.inner.actors
    }

    /// Closes every socket of `user_id` and forgets their cached access, on every instance.
    pub fn revoke(&self, user_id: i64) {
        self.inner.actors.forget(user_id);
        self.to_user(user_id, FeedMessage::Revoke { user_id });
        self.publish(&Wire::Revoke {
            origin: self.inner.instance.clone(),
            user_id,
        });
    }

    /// Publishes `wire` to the other instances in the background.
    fn publish(&self, wire: &Wire) {
        let Ok(payload) = serde_json::to_string(wire) else {
            return;
        };
        let feed = self.clone();
        tokio::spawn(async move { feed.send_payload(payload).await });
    }

    /// Publishes `wire` to the other instances and waits (at most a second) for Redis to take it.
    async fn send_wire(&self, wire: &Wire) {
        if let Ok(payload) = serde_json::to_string(wire) {
            self.send_payload(payload).await;
        }
    }

    async fn send_payload(&self, payload: String) {
        let mut redis = self.inner.redis.clone();
        let mut command = redis::cmd("PUBLISH");
        command.arg(&self.inner.channel).arg(payload);
        let publish = command.query_async::<i64>(&mut redis);
        if matches!(
            tokio::time::timeout(Duration::from_secs(1), publish).await,
            Ok(Ok(_))
        ) {
            metrics::counter!("feed_redis_published_total").increment(1);
        } else {
            metrics::counter!("feed_redis_publish_failures_total").increment(1);
            // Other instances still catch up within a second on their own.
            tracing::warn!(
                "Failed to publish on the feed channel; other instances will catch up by polling"
            );
        }
    }
}

impl EventSink for Feed {
    fn delivered(&self) -> Option<i64> {
        Some(self.inner.delivered.load(Ordering::SeqCst))
    }

    fn committed(&self, recorded: Vec<FeedEvent>) {
        if recorded.is_empty() {
            self.inner.look();
        } else {
            lock(&self.inner.handed).extend(recorded);
            self.inner.requested.fetch_add(1, Ordering::SeqCst);
            self.inner.poke.notify_one();
        }
        // At most one "look" message is in flight; the commits made meanwhile are covered by one more after it.
        if self.inner.unannounced.fetch_add(1, Ordering::SeqCst) > 0 {
            return;
        }
        let feed = self.clone();
        tokio::spawn(async move {
            let wire = Wire::Committed {
                origin: feed.inner.instance.clone(),
            };
            loop {
                let announced = feed.inner.unannounced.load(Ordering::SeqCst);
                feed.send_wire(&wire).await;
                let done = feed.inner.unannounced.compare_exchange(
                    announced,
                    0,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                if done.is_ok() {
                    break;
                }
            }
        });
    }

    fn access_changed(&self, user_id: i64) {
        self.revoke(user_id);
    }

    fn read(&self, user_id: i64, ids: Vec<i64>, origin: Option<u64>) {
        self.publish_read(user_id, ids, origin);
    }
}

/// A socket's registration with the relay; dropping it unregisters.
pub struct Member {
    feed: Feed,
    /// The socket's id, unique within this process.
    pub id: u64,
    /// The registered starting point, once [`Self::start_at`] was called.
    start: Option<i64>,
    user_id: i64,
    admin: bool,
    /// Always `Some` until dropped (taken first, so the channel's receiver count is exact when unregistering).
    receiver: Option<broadcast::Receiver<Arc<FeedMessage>>>,
    /// Signalled when the user opened too many sockets and this one is the oldest.
    replaced: Arc<Notify>,
}

impl Member {
    /// The next message for this socket.
    pub async fn recv(&mut self) -> Result<Arc<FeedMessage>, broadcast::error::RecvError> {
        match &mut self.receiver {
            Some(receiver) => receiver.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }

    /// Registers the socket's starting point, after it subscribed: what the relay has delivered, a stable
    /// watermark (see the module's docs). Returns the start: every later event will arrive through [`Self::recv`];
    /// the socket replays what it needs at or below it from the database.
    pub fn start(&mut self) -> i64 {
        // Under the lock the relay decides where to start from, so it cannot skip past a registering socket.
        let mut starts = lock(&self.feed.inner.starts);
        if let Some(old) = self.start.take() {
            starts.remove(&(old, self.id));
        }
        let start = self.feed.inner.delivered.load(Ordering::SeqCst);
        starts.insert((start, self.id));
        self.start = Some(start);
        start
    }

    /// The signal notified when the user opened more than [`SOCKETS_PER_USER`] sockets on this process and this
    /// is the oldest of them (it keeps the notification until it is awaited).
    pub fn replacement(&self) -> Arc<Notify> {
        self.replaced.clone()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        metrics::gauge!("feed_sockets_open").decrement(1.0);
        drop(self.receiver.take());
        if let Some(start) = self.start {
            lock(&self.feed.inner.starts).remove(&(start, self.id));
        }
        {
            let mut sockets = lock(&self.feed.inner.sockets);
            if let Some(mine) = sockets.get_mut(&self.user_id) {
                mine.retain(|(id, _)| *id != self.id);
                if mine.is_empty() {
                    sockets.remove(&self.user_id);
                }
            }
        }
        if self.admin {
            let mut admins = lock(&self.feed.inner.admin_users);
            if let Some(count) = admins.get_mut(&self.user_id) {
                *count -= 1;
                if *count == 0 {
                    admins.remove(&self.user_id);
                }
            }
        } else {
            let mut users = lock(&self.feed.inner.users);
            if users
                .get(&self.user_id)
                .is_some_and(|c| c.receiver_count() == 0)
            {
                users.remove(&self.user_id);
            }
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain maps and sets).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    /// Wakes the relay to read the database up to the stable watermark (for commits it was not handed).
    fn look(&self) {
        self.look.store(true, Ordering::SeqCst);
        self.requested.fetch_add(1, Ordering::SeqCst);
        self.poke.notify_one();
    }

    /// Sends the events handed over by the transactions that recorded them, in id order, as long as each follows
    /// right after what was delivered: then nothing below it can still appear, and the database need not be read.
    /// Returns `false` at the first gap (an id taken by another instance, or by a transaction that rolled back);
    /// the relay then reads what is missing, and the rest, from the database.
    fn deliver_handed(&self) -> bool {
        let mut handed = std::mem::take(&mut *lock(&self.handed));
        handed.sort_unstable_by_key(|e| e.id);
        for event in handed {
            let delivered = self.delivered.load(Ordering::SeqCst);
            if event.id <= delivered {
                // Sent already, or below every socket's start.
                continue;
            }
            if event.id != delivered + 1 {
                return false;
            }
            let message = Arc::new(message(event));
            self.keep(delivered, delivered + 1, vec![message.clone()]);
            // Only the relay moves `delivered` up to an event, and `Member::start` only reads it.
            self.delivered.store(delivered + 1, Ordering::SeqCst);
            self.broadcast(&message);
        }
        true
    }

    /// Keeps `messages`, every event in `(from, upto]`, among the recent ones: before `delivered` moves past them,
    /// so that a socket starting there finds them.
    fn keep(&self, from: i64, upto: i64, messages: Vec<Arc<FeedMessage>>) {
        self.recent
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(from, upto, messages);
    }

    /// Hands one event to the admin channel and to the channels of its client and worker. `delivered` must already
    /// cover it (a socket that subscribes meanwhile replays it and drops the duplicate).
    fn broadcast(&self, message: &Arc<FeedMessage>) {
        let FeedMessage::Event {
            client_id,
            worker_id,
            ..
        } = **message
        else {
            return;
        };
        metrics::counter!("feed_events_broadcast_total").increment(1);
        if self.admins.receiver_count() > 0 {
            let _ = self.admins.send(message.clone());
        }
        let users = lock(&self.users);
        for user in [Some(client_id), worker_id].into_iter().flatten() {
            if let Some(channel) = users.get(&user) {
                let _ = channel.send(message.clone());
            }
        }
    }

    fn to_user(&self, user_id: i64, message: FeedMessage) {
        let message = Arc::new(message);
        if let Some(channel) = lock(&self.users).get(&user_id) {
            let _ = channel.send(message.clone());
        }
        if lock(&self.admin_users).contains_key(&user_id) {
            let _ = self.admins.send(message);
        }
    }
}

/// The message of one event; its frame is shared by every socket that sends it.
fn message(event: FeedEvent) -> FeedMessage {
    FeedMessage::Event {
        id: event.id,
        client_id: event.client_id,
        worker_id: event.worker_id,
        frame: Utf8Bytes::from(event.frame),
    }
}

/// The latest events the relay delivered, oldest first: every event with an id in `(floor, upto]`, at most
/// `capacity` of them (the oldest give way, raising `floor`).
pub struct Recent {
    capacity: usize,
    floor: i64,
    upto: i64,
    events: VecDeque<Arc<FeedMessage>>,
    /// The ids of the kept events by their client, and by their worker, oldest first: a client's or a worker's
    /// catch-up reads its own events instead of scanning every kept one (ten thousand sockets reconnecting at
    /// once would each scan thousands, holding the lock the relay needs to keep new events).
    by_client: HashMap<i64, VecDeque<i64>>,
    by_worker: HashMap<i64, VecDeque<i64>>,
}

/// A socket's catch-up from memory ([`Feed::recent`]).
#[derive(Debug, Default)]
pub struct CatchUp {
    /// The frames of the viewer's events in the window, oldest first, with `read: false`.
    pub frames: Vec<Utf8Bytes>,
    /// The newest id of the viewer's feed at or below the window's end, if the kept events hold one.
    pub last_id: Option<i64>,
    /// `(after, floor)` when the socket resumes below what is kept: the frames are those after `floor`, and they
    /// are its whole catch-up only if the viewer has no event in `(after, floor]` (the database says,
    /// [`feed::openings`]). A client's or a worker's last event may be days old, far below the kept window,
    /// while nothing of theirs happened since.
    pub gap: Option<(i64, i64)>,
}

impl Recent {
    /// Keeps nothing yet: what follows `upto` comes next.
    fn new(capacity: usize, upto: i64) -> Self {
        Self {
            capacity,
            floor: upto,
            upto,
            events: VecDeque::new(),
            by_client: HashMap::new(),
            by_worker: HashMap::new(),
        }
    }

    /// Adds `events`, every event with an id in `(from, upto]` in id order. If what is kept does not reach up to
    /// `from`, it is dropped first: what is kept has no holes.
    fn extend(&mut self, from: i64, upto: i64, events: Vec<Arc<FeedMessage>>) {
        if from != self.upto {
            self.events.clear();
            self.by_client.clear();
            self.by_worker.clear();
            self.floor = from;
        }
        for message in &events {
            if let FeedMessage::Event {
                id,
                client_id,
                worker_id,
                ..
            } = **message
            {
                self.by_client.entry(client_id).or_default().push_back(id);
                if let Some(worker_id) = worker_id {
                    self.by_worker.entry(worker_id).or_default().push_back(id);
                }
            }
        }
        self.events.extend(events);
        self.upto = upto;
        while self.events.len() > self.capacity {
            let Some(oldest) = self.events.pop_front() else {
                break;
            };
            if let FeedMessage::Event {
                id,
                client_id,
                worker_id,
                ..
            } = *oldest
            {
                self.floor = id;
                forget(&mut self.by_client, client_id, id);
                if let Some(worker_id) = worker_id {
                    forget(&mut self.by_worker, worker_id, id);
                }
            }
        }
    }

    /// The kept event with id `id`.
    fn event(&self, id: i64) -> Option<&Arc<FeedMessage>> {
        let at = self
            .events
            .partition_point(|m| event_id(m).is_some_and(|e| e < id));
        self.events.get(at).filter(|m| event_id(m) == Some(id))
    }

    /// See [`Feed::recent`].
    fn catch_up(&self, viewer: &Actor, after: i64, upto: i64) -> Option<CatchUp> {
        if upto > self.upto {
            return None;
        }
        // Below what is kept, a client's or a worker's catch-up may still come from here (see `CatchUp::gap`); an
        // admin sees every event, so there is always one in between.
        let gap = (after < self.floor).then_some((after, self.floor));
        if gap.is_some() && viewer.is_admin() {
            return None;
        }
        let after = after.max(self.floor);
        let own = match viewer.role {
            Role::Admin => None,
            Role::Client => Some(&self.by_client),
            Role::Worker => Some(&self.by_worker),
        };
        if let Some(index) = own {
            // The viewer's own events, from the index: those in the window, and the newest at or below it.
            let ids = index.get(&viewer.id);
            let mut catch_up = CatchUp::default();
            for &id in ids.into_iter().flatten() {
                if id > upto {
                    break;
                }
                if id <= after {
                    catch_up.last_id = Some(id);
                    continue;
                }
                if let Some(FeedMessage::Event { frame, .. }) = self.event(id).map(|m| &**m) {
                    catch_up.frames.push(frame.clone());
                    catch_up.last_id = Some(id);
                }
            }
            catch_up.gap = gap;
            return Some(catch_up);
        }
        let sees = |m: &Arc<FeedMessage>| match **m {
            FeedMessage::Event {
                id,
                client_id,
                worker_id,
                ..
            } => {
                (id <= upto && feed::audience_includes(viewer, client_id, worker_id)).then_some(id)
            }
            _ => None,
        };
        let first_after = self
            .events
            .partition_point(|m| event_id(m).is_some_and(|id| id <= after));
        let mut catch_up = CatchUp::default();
        for m in self.events.range(first_after..) {
            let FeedMessage::Event { id, frame, .. } = &**m else {
                continue;
            };
            if *id > upto {
                break;
            }
            if sees(m).is_some() {
                catch_up.frames.push(frame.clone());
                catch_up.last_id = Some(*id);
            }
        }
        if catch_up.last_id.is_none() {
            catch_up.last_id = self.events.range(..first_after).rev().find_map(sees);
        }
        Some(catch_up)
    }
}

/// Drops `id`, the oldest kept event, from `user`'s ids in `index`.
fn forget(index: &mut HashMap<i64, VecDeque<i64>>, user: i64, id: i64) {
    if let Some(ids) = index.get_mut(&user) {
        if ids.front() == Some(&id) {
            ids.pop_front();
        }
        if ids.is_empty() {
            index.remove(&user);
        }
    }
}

/// The id of an event's message.
fn event_id(message: &FeedMessage) -> Option<i64> {
    match message {
        FeedMessage::Event { id, .. } => Some(*id),
        _ => None,
    }
}

/// The relay loop: runs while the feed is alive.
async fn relay(inner: std::sync::Weak<Inner>) {
    loop {
        let Some(feed) = inner.upgrade() else { return };
        // Poked, or a second passed: then the database is read even if nobody said so.
        let ticked = tokio::time::timeout(SAFETY_TICK, feed.poke.notified())
            .await
            .is_err();
        // Every work order placed before this point is covered by this pass.
        let covering = feed.requested.load(Ordering::SeqCst);
        // The common case reads nothing: a commit here hands its events over, and they follow what was sent.
        let handed_all = feed.deliver_handed();
        let told = feed.look.swap(false, Ordering::SeqCst);
        if handed_all && !ticked && !told {
            feed.served.send_replace(covering);
            continue;
        }
        metrics::counter!("feed_relay_database_reads_total").increment(1);
        match catch_up(&feed).await {
            Ok(()) => {
                feed.served.send_replace(covering);
            }
            Err(e) => {
                tracing::warn!(error = %e, "The feed relay failed to read events; retrying");
                feed.look.store(true, Ordering::SeqCst);
                drop(feed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Broadcasts every event up to the stable watermark, in id order, keeping each among the recent ones. With no
/// socket listening there is nobody to send to, but the events are still kept for the sockets to come; a backlog
/// longer than what is kept is skipped.
async fn catch_up(feed: &Inner) -> app::domain::Result<()> {
    let mark = watermark::stable_watermark(&feed.db).await?;
    let mut from = {
        // With no socket registered, nobody needs what lies below the oldest event kept. Decided under the lock
        // of the starts, so a socket registering meanwhile starts above it (see `Member::start`).
        let starts = lock(&feed.starts);
        let skip_to = mark.saturating_sub(i64::try_from(feed.recent_capacity).unwrap_or(i64::MAX));
        if starts.is_empty() && feed.delivered.load(Ordering::SeqCst) < skip_to {
            // Kept (nothing), then published.
            feed.keep(skip_to, skip_to, Vec::new());
            feed.delivered.store(skip_to, Ordering::SeqCst);
        }
        feed.delivered.load(Ordering::SeqCst)
    };
    while from < mark {
        let events = feed::events_between(&feed.db, from, mark, BATCH).await?;
        let upto = events.last().map_or(mark, |e| e.id);
        // Only the relay moves `delivered`: what lies at or below it went out already (handed over by the
        // transaction that recorded it).
        let before = feed.delivered.load(Ordering::SeqCst);
        let messages: Vec<Arc<FeedMessage>> = events
            .into_iter()
            .filter(|e| e.id > before)
            .map(|e| Arc::new(message(e)))
            .collect();
        if upto > before {
            // Kept, then published before the events are sent, so a socket that subscribes in between catches
            // them up (from memory or the database) and then drops the duplicates it receives (see
            // `socket::run`).
            feed.keep(before, upto, messages.clone());
            feed.delivered.store(upto, Ordering::SeqCst);
            for message in &messages {
                feed.broadcast(message);
            }
        }
        from = upto.max(feed.delivered.load(Ordering::SeqCst));
    }
    Ok(())
}

/// The Redis subscriber: pokes the relay when another instance commits, forwards read changes and revocations.
/// Reconnects forever; after each (re)connection the relay catches up from PostgreSQL.
async fn subscribe(inner: std::sync::Weak<Inner>, client: redis::Client) {
    loop {
        let Some(channel) = inner.upgrade().map(|f| f.channel.clone()) else {
            return;
        };
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(&channel).await {
                    tracing::warn!(error = %e, "Failed to subscribe to the feed channel");
                } else {
                    if let Some(feed) = inner.upgrade() {
                        feed.look();
                    }
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Some(feed) = inner.upgrade() else { return };
                        let Ok(payload) = message.get_payload::<String>() else {
                            continue;
                        };
                        match serde_json::from_str::<Wire>(&payload) {
                            Ok(wire) if wire.origin() != feed.instance => deliver(&feed, wire),
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "Ignored a malformed feed message")
                            }
                        }
                    }
                    tracing::warn!("The Redis feed subscription ended; reconnecting");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "Failed to connect to Redis for the feed; retrying")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn deliver(feed: &Inner, wire: Wire) {
    match wire {
        Wire::Committed { .. } => feed.look(),
        Wire::Read { user_id, ids, .. } => {
            // From another instance, every local socket is "another tab".
            feed.to_user(
                user_id,
                FeedMessage::Read {
                    user_id,
                    ids,
                    origin: None,
                },
            );
        }
        Wire::Revoke { user_id, .. } => {
            feed.actors.forget(user_id);
            feed.to_user(user_id, FeedMessage::Revoke { user_id });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use app::{domain::Actor, models::Role};
    use axum::extract::ws::Utf8Bytes;
    use proptest::prelude::any;

    // By its path from the crate's root: `super` would name the `live` module to the import checker.
    use crate::live::relay::{CatchUp, FeedMessage, Recent};

    fn event(id: i64, client_id: i64, worker_id: Option<i64>) -> Arc<FeedMessage> {
        Arc::new(FeedMessage::Event {
            id,
            client_id,
            worker_id,
            frame: Utf8Bytes::from(format!("frame {id}")),
        })
    }

    fn viewer(id: i64, role: Role) -> Actor {
        Actor {
            id,
            role,
            username: String::new(),
            full_name: String::new(),
            session_epoch: 0,
        }
    }

    fn frames(catch_up: &CatchUp) -> Vec<&str> {
        catch_up.frames.iter().map(Utf8Bytes::as_str).collect()
    }

    #[test]
    fn a_catch_up_within_the_kept_events_is_the_viewers_events_in_the_window() {
        // Events 11..=16 of clients 1 and 2 (worker 7 serves client 1), 13 never committed.
        let mut recent = Recent::new(4, 10);
        recent.extend(
            10,
            16,
            vec![
                event(11, 1, Some(7)),
                event(12, 2, None),
                event(14, 1, Some(7)),
                event(15, 2, None),
                event(16, 1, None),
            ],
        );
        let (client, worker, admin) = (
            viewer(1, Role::Client),
            viewer(7, Role::Worker),
            viewer(99, Role::Admin),
        );

        // Four kept: 12, 14, 15 and 16; the floor rose to 11.
        let c = recent.catch_up(&client, 10, 16).expect("kept above 11");
        assert_eq!(
            (frames(&c), c.last_id, c.gap),
            (vec!["frame 14", "frame 16"], Some(16), Some((10, 11))),
            "event 11 is no longer kept: the database says whether the client has one in (10, 11]"
        );
        assert!(
            recent.catch_up(&admin, 10, 16).is_none(),
            "an admin below what is kept replays from the database"
        );
        assert_eq!(recent.catch_up(&client, 11, 16).expect("kept").gap, None);
        let c = recent.catch_up(&client, 11, 16).expect("kept");
        assert_eq!(
            (frames(&c), c.last_id),
            (vec!["frame 14", "frame 16"], Some(16))
        );
        let c = recent.catch_up(&client, 11, 15).expect("kept");
        assert_eq!(
            (frames(&c), c.last_id),
            (vec!["frame 14"], Some(14)),
            "nothing above the socket's start"
        );
        let c = recent.catch_up(&worker, 14, 16).expect("kept");
        assert_eq!(
            (frames(&c), c.last_id),
            (vec![], Some(14)),
            "nothing new: the newest of the feed from before the window"
        );
        let c = recent.catch_up(&worker, 11, 13).expect("kept");
        assert_eq!(
            (frames(&c), c.last_id),
            (vec![], None),
            "the newest is not kept"
        );
        let c = recent.catch_up(&admin, 12, 16).expect("kept");
        assert_eq!(frames(&c), vec!["frame 14", "frame 15", "frame 16"]);
        assert!(
            recent.catch_up(&admin, 12, 17).is_none(),
            "nothing is known above what was delivered"
        );
        let c = recent.catch_up(&client, 16, 16).expect("kept");
        assert_eq!((frames(&c), c.last_id), (vec![], Some(16)));
    }

    /// An event the model keeps: its id, client and worker.
    type Kept = (i64, i64, Option<i64>);

    proptest::proptest! {
        /// A client's or a worker's catch-up, read from the index, is what scanning every kept event with the
        /// audience rule gives, whatever was kept, dropped or skipped before.
        #[test]
        fn the_indexed_catch_up_is_the_scan_of_every_kept_event(
            batches in proptest::collection::vec(
                (
                    any::<bool>(),
                    proptest::collection::vec((1i64..5, proptest::option::of(1i64..5), any::<bool>()), 0..6),
                ),
                1..10,
            ),
            capacity in 1usize..12,
            viewer_id in 1i64..5,
            worker in any::<bool>(),
            after_back in 0i64..30,
            upto_back in 0i64..10,
        ) {
            let mut recent = Recent::new(capacity, 0);
            // The model: every event kept, in order, and the floor, as `Recent` promises them.
            let mut kept: Vec<Kept> = Vec::new();
            let (mut floor, mut upto) = (0, 0);
            for (skip, batch) in batches {
                let from = if skip { upto + 3 } else { upto };
                if from != upto {
                    kept.clear();
                    floor = from;
                }
                let mut next = from;
                let mut messages = Vec::new();
                for (client, worker_id, committed) in batch {
                    next += 1;
                    if committed {
                        messages.push(event(next, client, worker_id));
                        kept.push((next, client, worker_id));
                    }
                }
                recent.extend(from, next, messages);
                upto = next;
                while kept.len() > capacity {
                    floor = kept.remove(0).0;
                }
            }
            let viewer = viewer(viewer_id, if worker { Role::Worker } else { Role::Client });
            let (window_end, after) = (upto - upto_back.min(upto), upto - after_back.min(upto));
            let got = recent.catch_up(&viewer, after, window_end);
            if window_end > upto {
                proptest::prop_assert!(got.is_none());
            } else {
                // Below the floor, the kept part of the window, and the gap for the database to check.
                let gap = (after < floor).then_some((after, floor));
                let after = after.max(floor);
                let sees = |&(_, client, worker_id): &Kept| {
                    app::domain::feed::audience_includes(&viewer, client, worker_id)
                };
                let want: Vec<String> = kept
                    .iter()
                    .filter(|e| e.0 > after && e.0 <= window_end && sees(e))
                    .map(|e| format!("frame {}", e.0))
                    .collect();
                let last_id = kept.iter().filter(|e| e.0 <= window_end && sees(e)).map(|e| e.0).next_back();
                let got = got.expect("kept");
                proptest::prop_assert_eq!(
                    (frames(&got).into_iter().map(str::to_owned).collect::<Vec<_>>(), got.last_id, got.gap),
                    (want, last_id, gap)
                );
            }
        }
    }

    #[test]
    fn kept_events_that_do_not_reach_the_next_ones_are_dropped() {
        let mut recent = Recent::new(100, 0);
        recent.extend(0, 2, vec![event(1, 1, None), event(2, 1, None)]);
        // The relay skipped to 50 (no socket listened): 3..=50 are unknown.
        recent.extend(50, 51, vec![event(51, 1, None)]);
        let client = viewer(1, Role::Client);

        assert_eq!(
            recent.catch_up(&client, 2, 51).expect("kept above 50").gap,
            Some((2, 50))
        );
        let c = recent.catch_up(&client, 50, 51).expect("kept");
        assert_eq!(frames(&c), vec!["frame 51"]);
        // Ids taken and never committed move what is known without an event.
        recent.extend(51, 53, Vec::new());
        recent.extend(53, 54, vec![event(54, 1, None)]);
        let c = recent.catch_up(&client, 50, 54).expect("kept");
        assert_eq!(frames(&c), vec!["frame 51", "frame 54"]);
    }
}

//! The reconnect storm (issue 17, point 4): after a restart or a deploy every client reconnects at once with
//! `after_id`. N feed sockets of many users open, then all go away; while they are away orders are placed so that
//! every client's and worker's socket misses about `missed` events of its own feed; then all N reconnect within
//! one second with `?after_id=<the last id it saw>`, while orders keep being placed at a steady rate.
//!
//! Measured: the time from the storm's start until the last socket has received every event it missed; every
//! socket's ids against what its feed holds in the database (`visible_notifications`, the rule every read of the
//! feed applies): lost, duplicated, unexpected and out of order; and order creation's latency meanwhile.
//!
//! An admin sees every event, so an admin's socket misses all the events made while it was away (as many as the
//! clients' twenty each add up to): the storm has a few admin sockets (`--storm-admin-sockets`), not the feed
//! phase's tenth, or their replays alone would be millions of frames.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use sqlx::PgPool;
use tokio::sync::{Semaphore, watch};

use crate::{
    fixtures::{Population, World},
    listener::{Frame, Listener},
    rest::{PacedLoad, place_order},
    stats::{millis_between, percentile, wall_clock},
};

/// Handshakes in flight at once while the sockets first open (before the storm).
const OPENING_AT_ONCE: usize = 200;
/// Orders in flight at once while the missed events are made.
const MAKING_AT_ONCE: usize = 32;
/// The most client sockets per client user (the server allows 20 per user).
const SOCKETS_PER_CLIENT: usize = 16;
/// How long the storm may take before the run gives up waiting for the last socket.
const GIVE_UP: Duration = Duration::from_secs(60);

/// What a storm is made of.
#[derive(Debug, Clone, Copy)]
pub struct StormSettings {
    /// Sockets in all.
    pub sockets: usize,
    /// Of those, admins' sockets (one per admin).
    pub admin_sockets: usize,
    /// Events each client's and worker's socket misses while away.
    pub missed: usize,
    /// The time over which every socket starts reconnecting.
    pub spread: Duration,
    /// Orders placed per second during the storm.
    pub orders_per_second: f64,
}

/// The figures of a storm.
pub struct StormRun {
    pub settings: StormSettings,
    /// The users behind the sockets.
    pub population: Population,
    /// Sockets of admins, workers and clients.
    pub by_role: [usize; 3],
    /// Events made while the sockets were away.
    pub events_missed: usize,
    /// The events a client's or worker's socket missed (median), and an admin's.
    pub missed_median: f64,
    pub missed_admin: usize,
    /// Frames the sockets should have received after reconnecting (missed and live).
    pub expected: usize,
    pub received: usize,
    pub lost: usize,
    pub duplicated: usize,
    /// Frames of events outside the socket's feed, or at or below its `after_id`.
    pub unexpected: usize,
    /// Frames whose id was not above the previous one's on the same socket.
    pub out_of_order: usize,
    /// Sockets that did not reopen, or closed before the end.
    pub failed: usize,
    /// Sockets that received every event they missed.
    pub caught_up: usize,
    /// From the storm's start until each socket had every event it missed (by the kernel's receive time): the
    /// median and the last (s); the last also by when the load generator read it.
    pub caught_up_p50: f64,
    pub caught_up_last: f64,
    pub caught_up_last_read: f64,
    /// From the storm's start until the last socket's hello arrived (s).
    pub last_hello: f64,
    /// Order creation during the storm: every latency (sorted, ms), p50, p99, errors.
    pub order_latencies: Vec<f64>,
    pub order_p50: f64,
    pub order_p99: f64,
    pub order_errors: usize,
}

/// A socket user's role, as `visible_notifications` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Admin,
    Worker,
    Client,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Worker => "worker",
            Self::Client => "client",
        }
    }
}

/// Which user holds each of the storm's sockets.
#[derive(Debug, Clone, Copy)]
struct Layout {
    sockets: usize,
    admin_sockets: usize,
    population: Population,
}

impl Layout {
    /// The first `admin_sockets` sockets are admins' (one each); of the rest, every tenth is a worker's and the
    /// others are clients', at most [`SOCKETS_PER_CLIENT`] per client. There are as many workers as clients, and
    /// order `i` is client `i`'s and worker `i`'s (modulo their numbers), so both see the same events.
    fn new(sockets: usize, admin_sockets: usize) -> Self {
        let admin_sockets = admin_sockets.min(sockets);
        let others = sockets - admin_sockets;
        let clients = (others - others / 10).div_ceil(SOCKETS_PER_CLIENT).max(1);
        Self {
            sockets,
            admin_sockets,
            population: Population {
                admins: admin_sockets.max(1),
                workers: clients,
                clients,
            },
        }
    }

    /// The role and the index (among that role's users) of socket `i`'s user.
    fn owner(&self, i: usize) -> (Role, usize) {
        if i < self.admin_sockets {
            return (Role::Admin, i % self.population.admins);
        }
        let j = i - self.admin_sockets;
        if j % 10 == 9 {
            (Role::Worker, (j / 10) % self.population.workers)
        } else {
            (Role::Client, (j - (j + 1) / 10) % self.population.clients)
        }
    }
}

/// One socket of the storm: whose it is and the last id it saw before going away.
struct Away {
    role: Role,
    user: i64,
    token: String,
    last_seen: i64,
}

/// What a socket received after reconnecting.
#[derive(Default)]
struct Reconnected {
    /// Every notification id, in the order received.
    ids: Vec<i64>,
    /// Seconds from the storm's start until its hello arrived.
    hello: f64,
    /// Seconds from the storm's start until it had every event it missed: by the kernel's receive time, and by
    /// when the load generator read it.
    caught_up: Option<(f64, f64)>,
    /// Whether it stayed open until the end.
    open: bool,
}

/// One storm.
pub async fn run(
    http: &reqwest::Client,
    base: &str,
    db: &PgPool,
    secret: &str,
    settings: StormSettings,
) -> anyhow::Result<StormRun> {
    let host = base
        .strip_prefix("http://")
        .context("the base URL is http://host:port")?
        .trim_end_matches('/')
        .to_owned();
    let layout = Layout::new(settings.sockets, settings.admin_sockets);
    let world = Arc::new(World::populate(db, secret, layout.population).await?);

    // Connected: every socket opens and says hello; the last id it saw is its hello's `last_id`.
    let away = open_all(&host, &world, &layout).await?;
    eprintln!("storm: {} sockets open, all going away", away.len());
    // All go away (the listeners were dropped), and the server notices.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // While they are away: `missed` orders for every client (and so for every worker).
    let events_missed = make_missed_events(http, base, &world, &layout, settings.missed).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let missed_upto: i64 = sqlx::query_scalar("select coalesce(max(id), 0) from notifications")
        .fetch_one(db)
        .await?;
    let missed = feeds(db, &away, missed_upto).await?;
    eprintln!("storm: {events_missed} orders placed while away; reconnecting");

    // The storm: every socket reconnects within `spread`, with orders placed meanwhile.
    let load = PacedLoad::start(
        base,
        &world,
        settings.orders_per_second,
        layout.population.clients * settings.missed,
    )?;
    let (stop, stopped) = watch::channel(false);
    let (caught, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now() + Duration::from_millis(100);
    let started_wall = wall_clock() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(away.len());
    for (i, socket) in away.iter().enumerate() {
        let need = missed[&(socket.role, socket.user, socket.last_seen)].len();
        let at = started + settings.spread.mul_f64(i as f64 / away.len() as f64);
        let path = format!("/ws/notifications?after_id={}", socket.last_seen);
        let ctx = (
            host.clone(),
            socket.token.clone(),
            caught.clone(),
            failed.clone(),
        );
        let stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let (host, token, caught, failed) = ctx;
            tokio::time::sleep_until(at.into()).await;
            let run = Storming {
                need,
                upto: missed_upto,
                started: started_wall,
                caught: &caught,
            };
            let result = run
                .reconnect(&host, &path, &token, i as u64 + 1_000_000, stopped)
                .await;
            // A socket that failed, or was closed before it caught up, will not catch up.
            if result
                .as_ref()
                .map_or(true, |r| !r.open && r.caught_up.is_none())
            {
                failed.fetch_add(1, Ordering::SeqCst);
            }
            result
        }));
    }
    let deadline = Instant::now() + GIVE_UP;
    while caught.load(Ordering::SeqCst) + failed.load(Ordering::SeqCst) < away.len()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let paced = load.stop().await?;
    // The orders' own frames, live.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.send(true)?;
    let mut results = Vec::with_capacity(tasks.len());
    let mut failures: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        let result = match task.await? {
            Ok(result) if !result.open => {
                *failures
                    .entry("closed by the server".to_owned())
                    .or_default() += 1;
                result
            }
            Ok(result) => result,
            Err(e) => {
                *failures.entry(format!("{e:#}")).or_default() += 1;
                Reconnected::default()
            }
        };
        results.push(result);
    }
    for (why, n) in &failures {
        eprintln!("storm: {n} sockets failed: {why}");
    }

    // Every socket's ids against its feed in the database, after its `after_id`.
    let upto: i64 = sqlx::query_scalar("select coalesce(max(id), 0) from notifications")
        .fetch_one(db)
        .await?;
    let feeds = feeds(db, &away, upto).await?;
    let mut run = StormRun::count(&away, &results, &feeds);
    run.settings = settings;
    run.population = layout.population;
    run.events_missed = events_missed;
    let mut missed_counts: Vec<f64> = away
        .iter()
        .filter(|a| a.role != Role::Admin)
        .map(|a| missed[&(a.role, a.user, a.last_seen)].len() as f64)
        .collect();
    missed_counts.sort_by(f64::total_cmp);
    run.missed_median = percentile(&missed_counts, 0.5);
    run.missed_admin = away
        .iter()
        .find(|a| a.role == Role::Admin)
        .map_or(0, |a| missed[&(a.role, a.user, a.last_seen)].len());
    run.order_latencies = paced.latencies();
    run.order_p50 = percentile(&run.order_latencies, 0.5);
    run.order_p99 = percentile(&run.order_latencies, 0.99);
    run.order_errors = paced.errors;
    Ok(run)
}

/// Opens every socket of the layout (a few hundred handshakes at a time), reads its hello, and closes it again.
async fn open_all(host: &str, world: &World, layout: &Layout) -> anyhow::Result<Vec<Away>> {
    let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let mut opening = Vec::with_capacity(layout.sockets);
    for i in 0..layout.sockets {
        let (role, n) = layout.owner(i);
        let user = match role {
            Role::Admin => &world.admins[n],
            Role::Worker => &world.workers[n],
            Role::Client => &world.clients[n],
        };
        let (host, token, gate) = (host.to_owned(), user.token.clone(), gate.clone());
        let id = user.id;
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut socket = Listener::connect(&host, "/ws/notifications", &token, i as u64)
                .await
                .context("socket connect")?;
            let mut last_seen = None;
            socket
                .until(|text| {
                    last_seen = number_after(text, br#""last_id":"#);
                    last_seen.is_some()
                })
                .await?;
            // The listener is dropped here: the socket goes away.
            anyhow::Ok(Away {
                role,
                user: id,
                token,
                last_seen: last_seen.context("a hello with last_id")?,
            })
        }));
    }
    let mut away = Vec::with_capacity(opening.len());
    for task in opening {
        away.push(task.await??);
    }
    Ok(away)
}

/// Places `missed` orders for every client of the layout, a few dozen at a time; returns how many.
async fn make_missed_events(
    http: &reqwest::Client,
    base: &str,
    world: &Arc<World>,
    layout: &Layout,
    missed: usize,
) -> anyhow::Result<usize> {
    let total = layout.population.clients * missed;
    let gate = Arc::new(Semaphore::new(MAKING_AT_ONCE));
    let mut placing = Vec::with_capacity(total);
    for i in 0..total {
        let permit = gate.clone().acquire_owned().await?;
        let (http, base, world) = (http.clone(), base.to_owned(), world.clone());
        placing.push(tokio::spawn(async move {
            let _permit = permit;
            place_order(&http, &base, &world, i).await
        }));
    }
    for task in placing {
        task.await??;
    }
    Ok(total)
}

/// The notification ids in each socket's feed after the id it last saw, up to `upto`, oldest first, by
/// (role, user, last seen).
async fn feeds(
    db: &PgPool,
    away: &[Away],
    upto: i64,
) -> anyhow::Result<HashMap<(Role, i64, i64), Vec<i64>>> {
    let mut feeds = HashMap::new();
    for socket in away {
        let key = (socket.role, socket.user, socket.last_seen);
        if feeds.contains_key(&key) {
            continue;
        }
        let ids: Vec<i64> = sqlx::query_scalar(
            "select id from visible_notifications($1, $2) where id > $3 and id <= $4 order by id",
        )
        .bind(socket.role.as_str())
        .bind(socket.user)
        .bind(socket.last_seen)
        .bind(upto)
        .fetch_all(db)
        .await?;
        feeds.insert(key, ids);
    }
    Ok(feeds)
}

/// What a reconnecting socket needs to know to tell when it has caught up.
struct Storming<'a> {
    /// How many events it missed (those at or below `upto`).
    need: usize,
    upto: i64,
    /// The storm's start, as time since the Unix epoch.
    started: Duration,
    /// Counts the sockets that caught up.
    caught: &'a AtomicUsize,
}

impl Storming<'_> {
    /// Reconnects on `path` and records every notification until `stop`.
    async fn reconnect(
        &self,
        host: &str,
        path: &str,
        token: &str,
        key: u64,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Reconnected> {
        let mut socket = Listener::connect(host, path, token, key).await?;
        let mut seen = Reconnected::default();
        let mut missed_seen = HashSet::new();
        let mut hello = false;
        let stopped = stop.changed();
        tokio::pin!(stopped);
        if self.need == 0 {
            self.caught.fetch_add(1, Ordering::SeqCst);
            seen.caught_up = Some((0.0, 0.0));
        }
        loop {
            tokio::select! {
                biased;
                filled = socket.fill() => {
                    let read = wall_clock();
                    let Some(arrived) = filled? else {
                        return Ok(seen);
                    };
                    let mut completed = false;
                    let open = socket
                        .drain(|frame| {
                            let Frame::Text(text) = frame else { return };
                            if !hello {
                                hello = number_after(text, br#""last_id":"#).is_some();
                                seen.hello = millis_between(self.started, arrived) / 1000.0;
                            } else if let Some(id) = notification_id(text) {
                                seen.ids.push(id);
                                if id <= self.upto && missed_seen.insert(id) && missed_seen.len() == self.need {
                                    completed = true;
                                }
                            }
                        })
                        .await?;
                    if completed && seen.caught_up.is_none() {
                        self.caught.fetch_add(1, Ordering::SeqCst);
                        seen.caught_up = Some((
                            millis_between(self.started, arrived) / 1000.0,
                            millis_between(self.started, read) / 1000.0,
                        ));
                    }
                    if !open {
                        return Ok(seen);
                    }
                }
                _ = &mut stopped => {
                    seen.open = true;
                    return Ok(seen);
                }
            }
        }
    }
}

impl StormRun {
    /// Matches what each socket received against its feed.
    fn count(
        away: &[Away],
        results: &[Reconnected],
        feeds: &HashMap<(Role, i64, i64), Vec<i64>>,
    ) -> Self {
        let mut run = Self::empty();
        let (mut caught_arrived, mut caught_read) = (Vec::new(), Vec::new());
        for (socket, got) in away.iter().zip(results) {
            run.by_role[socket.role as usize] += 1;
            let wanted: HashSet<i64> = feeds[&(socket.role, socket.user, socket.last_seen)]
                .iter()
                .copied()
                .collect();
            let mut distinct = HashSet::new();
            let mut previous = socket.last_seen;
            for &id in &got.ids {
                if !distinct.insert(id) {
                    run.duplicated += 1;
                } else if !wanted.contains(&id) {
                    run.unexpected += 1;
                }
                if id <= previous {
                    run.out_of_order += 1;
                }
                previous = previous.max(id);
            }
            run.expected += wanted.len();
            run.received += distinct.intersection(&wanted).count();
            run.lost += wanted.difference(&distinct).count();
            run.failed += usize::from(!got.open);
            run.last_hello = run.last_hello.max(got.hello);
            if let Some((arrived, read)) = got.caught_up {
                caught_arrived.push(arrived);
                caught_read.push(read);
            }
        }
        run.caught_up = caught_arrived.len();
        caught_arrived.sort_by(f64::total_cmp);
        caught_read.sort_by(f64::total_cmp);
        run.caught_up_p50 = percentile(&caught_arrived, 0.5);
        run.caught_up_last = caught_arrived.last().copied().unwrap_or(f64::NAN);
        run.caught_up_last_read = caught_read.last().copied().unwrap_or(f64::NAN);
        run
    }

    fn empty() -> Self {
        Self {
            settings: StormSettings {
                sockets: 0,
                admin_sockets: 0,
                missed: 0,
                spread: Duration::ZERO,
                orders_per_second: 0.0,
            },
            population: Population {
                admins: 0,
                workers: 0,
                clients: 0,
            },
            by_role: [0; 3],
            events_missed: 0,
            missed_median: 0.0,
            missed_admin: 0,
            expected: 0,
            received: 0,
            lost: 0,
            duplicated: 0,
            unexpected: 0,
            out_of_order: 0,
            failed: 0,
            caught_up: 0,
            caught_up_p50: f64::NAN,
            caught_up_last: f64::NAN,
            caught_up_last_read: f64::NAN,
            last_hello: 0.0,
            order_latencies: Vec::new(),
            order_p50: f64::NAN,
            order_p99: f64::NAN,
            order_errors: 0,
        }
    }
}

/// The number right after `key` in `text`, if any.
pub fn number_after(text: &[u8], key: &[u8]) -> Option<i64> {
    let at = text.windows(key.len()).position(|w| w == key)? + key.len();
    leading_number(&text[at..])
}

/// The number `text` starts with, if any.
fn leading_number(text: &[u8]) -> Option<i64> {
    let end = text
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    std::str::from_utf8(&text[..end]).ok()?.parse().ok()
}

/// The id of a notification frame (`{"type":"notification","notification":{"id":…`), found without parsing it.
pub fn notification_id(frame: &[u8]) -> Option<i64> {
    leading_number(frame.strip_prefix(br#"{"type":"notification","notification":{"id":"#)?)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A storm that met every target.
    pub fn a_run() -> StormRun {
        let mut run = StormRun::empty();
        run.settings = StormSettings {
            sockets: 10_000,
            admin_sockets: 10,
            missed: 20,
            spread: Duration::from_secs(1),
            orders_per_second: 50.0,
        };
        run.by_role = [10, 999, 8991];
        run.expected = 300_000;
        run.received = 300_000;
        run.caught_up = 10_000;
        run.caught_up_p50 = 1.5;
        run.caught_up_last = 4.9;
        run.caught_up_last_read = 5.1;
        run.order_latencies = vec![3.0, 99.0];
        run.order_p50 = 3.0;
        run.order_p99 = 99.0;
        run
    }

    #[test]
    fn the_layout_keeps_every_user_within_the_servers_sockets_per_user() {
        for (sockets, admin_sockets) in [(10_000, 10), (1000, 10), (25, 3), (10, 10)] {
            let layout = Layout::new(sockets, admin_sockets);
            let mut per_user: HashMap<(Role, usize), usize> = HashMap::new();
            for i in 0..sockets {
                *per_user.entry(layout.owner(i)).or_default() += 1;
            }
            let count = |role| per_user.keys().filter(|(r, _)| *r == role).count();
            assert!(
                per_user.values().all(|&n| n <= 20),
                "{sockets}: at most 20 sockets per user"
            );
            assert_eq!(count(Role::Admin), admin_sockets.min(sockets));
            let p = layout.population;
            if sockets > admin_sockets {
                assert_eq!(
                    count(Role::Client),
                    p.clients,
                    "{sockets}: every client has a socket"
                );
            }
            assert_eq!(p.workers, p.clients, "as many workers as clients");
        }
        let layout = Layout::new(10_000, 10);
        let roles: Vec<Role> = (0..10_000).map(|i| layout.owner(i).0).collect();
        let of = |role| roles.iter().filter(|r| **r == role).count();
        assert_eq!(
            (of(Role::Admin), of(Role::Worker), of(Role::Client)),
            (10, 999, 8991)
        );
        assert_eq!(layout.population.clients, 562);
    }

    #[test]
    fn ids_are_read_from_hello_and_notification_frames() {
        assert_eq!(
            number_after(
                br#"{"type":"hello","user_id":5,"role":"worker","last_id":1043}"#,
                br#""last_id":"#
            ),
            Some(1043)
        );
        assert_eq!(
            notification_id(
                br#"{"type":"notification","notification":{"id":77,"kind":"order_created"}}"#
            ),
            Some(77)
        );
        assert_eq!(notification_id(br#"{"type":"read","ids":[1,2]}"#), None);
        assert_eq!(notification_id(br#"{"type":"hello","last_id":3}"#), None);
    }
}

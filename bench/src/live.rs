//! Live admin pages (issue 17's live-pages target): admin sockets whose clients do what a browser's live island
//! does on each event, while orders are placed at a steady rate. Measured: the server process's CPU over the
//! window (its `utime + stime` in `/proc/<pid>/stat`) and whether every frame reached every socket.
//!
//! What the island does is the live design's: it applies the frame (here: parses it), and for an `order_created`
//! whose frame does not carry the order (a live one does) makes one small JSON read, `GET /api/v1/orders/{id}`
//! (the row it adds to the orders list). A run without that read (frames only) shows what a read would cost.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{Semaphore, oneshot, watch};

use crate::{
    fixtures::{Fixture, Population, World},
    listener::{Frame, Listener},
    rest::PacedLoad,
    stats::percentile,
};

/// Handshakes in flight at once while the sockets open.
const OPENING_AT_ONCE: usize = 100;
/// Reads a page makes at once (a browser's connections per host over HTTP/1.1).
const CONNECTIONS_PER_PAGE: usize = 6;
/// Admin sockets per admin user (the server allows 20 per user).
const SOCKETS_PER_ADMIN: usize = 10;
/// How long the run waits, after the last order, for the last frames and reads.
const DRAIN: Duration = Duration::from_secs(15);
/// The unit of `/proc/<pid>/stat`'s times: Linux's `USER_HZ`, 100 on every architecture it reports to userspace.
const TICKS_PER_SECOND: f64 = 100.0;

/// What a live-pages run does.
#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    /// Admin sockets.
    pub sockets: usize,
    /// Orders placed per second.
    pub orders_per_second: f64,
    /// For how long.
    pub seconds: u64,
    /// Whether the island reads a new order whose frame does not carry it (`GET /api/v1/orders/{id}`), as the
    /// browser's does, or only applies frames.
    pub reads: bool,
}

/// The figures of a live-pages run.
pub struct LiveRun {
    pub settings: LiveSettings,
    /// Orders placed, and how many failed.
    pub orders: usize,
    pub order_errors: usize,
    /// Frames every socket should have received, added up; of those, received, lost; and repeated ones.
    pub expected: usize,
    pub received: usize,
    pub lost: usize,
    pub duplicated: usize,
    /// The islands' reads, the failed ones, and their latency (ms).
    pub reads: usize,
    pub read_errors: usize,
    pub read_p50: f64,
    pub read_p99: f64,
    /// From the first order until every frame and read was done (s), and the server's CPU time in it (s).
    pub window: f64,
    pub cpu: f64,
}

impl LiveRun {
    /// The server's CPU use over the window, in cores.
    pub fn cores(&self) -> f64 {
        self.cpu / self.window
    }
}

/// What every socket counts, for the run to know when all is in.
#[derive(Default)]
struct Progress {
    frames: AtomicUsize,
    /// Reads started, and done.
    started: AtomicUsize,
    reads: AtomicUsize,
}

/// What one socket received and read.
#[derive(Default)]
struct Island {
    ids: Vec<i64>,
    /// The latency of each read (ms).
    reads: Vec<f64>,
    read_errors: usize,
}

/// One run.
pub async fn run(
    base: &str,
    db: &PgPool,
    secret: &str,
    server_pid: u32,
    settings: LiveSettings,
) -> anyhow::Result<LiveRun> {
    let host = base
        .strip_prefix("http://")
        .context("the base URL is http://host:port")?
        .trim_end_matches('/')
        .to_owned();
    let population = Population {
        admins: settings.sockets.div_ceil(SOCKETS_PER_ADMIN).max(1),
        workers: 50,
        clients: 500,
    };
    let world = Arc::new(World::populate(db, secret, population).await?);
    // Each island keeps its connection for its reads, as a browser tab does.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(settings.sockets + 16)
        .build()?;

    let (stop, stopped) = watch::channel(false);
    let progress = Arc::new(Progress::default());
    let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let mut opening = Vec::new();
    for i in 0..settings.sockets {
        let admin = world.admins[i % world.admins.len()].clone();
        let (ready, is_ready) = oneshot::channel();
        let island = island(
            Context {
                host: host.clone(),
                base: base.to_owned(),
                http: http.clone(),
                progress: progress.clone(),
                reads: settings.reads,
            },
            admin,
            i as u64 + 2_000_000,
            gate.clone(),
            ready,
            stopped.clone(),
        );
        opening.push((is_ready, tokio::spawn(island)));
    }
    let mut islands = Vec::new();
    for (is_ready, task) in opening {
        is_ready.await.context("a socket failed to open")?;
        islands.push(task);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (cpu_before, started) = (cpu_seconds(server_pid)?, Instant::now());
    let load = PacedLoad::start(base, &world, settings.orders_per_second, 0)?;
    tokio::time::sleep(Duration::from_secs(settings.seconds)).await;
    let paced = load.stop().await?;
    let order_ids: Vec<i64> = paced.placed.iter().map(|p| p.0).collect();
    let events: Vec<(i64, String)> =
        sqlx::query_as("select id, kind from notifications where order_id = any($1) order by id")
            .bind(&order_ids)
            .fetch_all(db)
            .await?;
    let frames_wanted = events.len() * settings.sockets;
    let deadline = Instant::now() + DRAIN;
    // Reads are made only for frames without their order; every read started is waited for.
    while (progress.frames.load(Ordering::SeqCst) < frames_wanted
        || progress.reads.load(Ordering::SeqCst) < progress.started.load(Ordering::SeqCst))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (cpu, window) = (
        cpu_seconds(server_pid)? - cpu_before,
        started.elapsed().as_secs_f64(),
    );
    stop.send(true)?;

    let wanted: HashSet<i64> = events.iter().map(|e| e.0).collect();
    let mut run = LiveRun {
        settings,
        orders: paced.placed.len(),
        order_errors: paced.errors,
        expected: 0,
        received: 0,
        lost: 0,
        duplicated: 0,
        reads: 0,
        read_errors: 0,
        read_p50: f64::NAN,
        read_p99: f64::NAN,
        window,
        cpu,
    };
    let mut latencies = Vec::new();
    let mut failed = 0;
    for task in islands {
        // An island that failed (its socket closed) received nothing more: its frames count as lost.
        let island = task.await?.unwrap_or_else(|e| {
            if failed == 0 {
                eprintln!("live pages: an island failed: {e:#}");
            }
            failed += 1;
            Island::default()
        });
        let mut got = HashSet::new();
        for id in island.ids {
            if !got.insert(id) {
                run.duplicated += 1;
            }
        }
        run.expected += wanted.len();
        run.received += got.intersection(&wanted).count();
        run.lost += wanted.difference(&got).count();
        run.read_errors += island.read_errors;
        latencies.extend(island.reads);
    }
    if failed > 0 {
        eprintln!("live pages: {failed} islands failed");
    }
    latencies.sort_by(f64::total_cmp);
    run.reads = latencies.len();
    run.read_p50 = percentile(&latencies, 0.5);
    run.read_p99 = percentile(&latencies, 0.99);
    Ok(run)
}

/// What an island shares with the others.
struct Context {
    host: String,
    base: String,
    http: reqwest::Client,
    progress: Arc<Progress>,
    reads: bool,
}

/// One admin's live page: opens its socket, says it is `ready` after the hello, then applies every frame (and
/// reads each new order) until `stop`.
async fn island(
    ctx: Context,
    admin: Fixture,
    key: u64,
    gate: Arc<Semaphore>,
    ready: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Island> {
    let permit = gate.acquire_owned().await?;
    let mut socket = Listener::connect(&ctx.host, "/ws/notifications", &admin.token, key).await?;
    socket
        .until(|text| text.starts_with(br#"{"type":"hello""#))
        .await?;
    drop(permit);
    let _ = ready.send(());
    let mut island = Island::default();
    let connections = Arc::new(Semaphore::new(CONNECTIONS_PER_PAGE));
    let mut reads = Vec::new();
    let stopped = stop.changed();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            biased;
            filled = socket.fill() => {
                if filled?.is_none() {
                    break;
                }
                let mut to_read = Vec::new();
                let open = socket
                    .drain(|frame| {
                        let Frame::Text(text) = frame else { return };
                        // Applying the frame: what the island's signals get.
                        let Ok(frame) = serde_json::from_slice::<Value>(text) else { return };
                        let notification = &frame["notification"];
                        if let Some(id) = notification["id"].as_i64() {
                            island.ids.push(id);
                            ctx.progress.frames.fetch_add(1, Ordering::Relaxed);
                            if ctx.reads
                                && notification["kind"] == "order_created"
                                && frame.get("order").is_none()
                            {
                                to_read.extend(notification["order_id"].as_i64());
                            }
                        }
                    })
                    .await?;
                // As in a browser, the reads go on beside the socket, a few at a time (HTTP/1.1's six connections
                // per host), while the socket keeps being read.
                for order in to_read {
                    let t0 = Instant::now();
                    let (http, url, token) = (
                        ctx.http.clone(),
                        format!("{}/api/v1/orders/{order}", ctx.base),
                        admin.token.clone(),
                    );
                    let (progress, connections) = (ctx.progress.clone(), connections.clone());
                    progress.started.fetch_add(1, Ordering::Relaxed);
                    reads.push(tokio::spawn(async move {
                        let _connection = connections.acquire_owned().await;
                        let response = http.get(url).bearer_auth(token).send().await;
                        let read = match response {
                            Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                            _ => false,
                        };
                        progress.reads.fetch_add(1, Ordering::Relaxed);
                        read.then(|| t0.elapsed().as_secs_f64() * 1000.0)
                    }));
                }
                if !open {
                    break;
                }
            }
            _ = &mut stopped => break,
        }
    }
    for read in reads {
        read.abort();
        match read.await {
            Ok(Some(latency)) => island.reads.push(latency),
            _ => island.read_errors += 1,
        }
    }
    Ok(island)
}

/// The CPU time process `pid` has used so far, user and system (s).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu(&stat).context("utime and stime in /proc/<pid>/stat")
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line, in seconds. The command name (field 2) may
/// hold spaces and parentheses, so the fields are counted from the last `)`.
fn parse_cpu(stat: &str) -> Option<f64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (the state).
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_utime_plus_stime_counted_from_the_command_names_end() {
        let stat = "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 3120 0 0 0 1234 567 0 0 20 0 9 0 \
                    1000 123456789 2345 18446744073709551615";
        assert_eq!(parse_cpu(stat), Some(18.01));
        assert_eq!(parse_cpu("4242 (short) S 1"), None);
    }
}

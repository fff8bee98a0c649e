//! The live-feed runs: with N authenticated sockets open, the server's memory per idle socket, then orders at a
//! fixed rate and how their frames reached every socket that should see them.

mod socket;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use tokio::sync::Mutex;

use crate::{
    Args,
    fixtures::World,
    rest::place_order,
    stats::{millis_between, percentile, wall_clock},
};
use socket::{Owner, Seen, Sockets};

/// The figures of one live-feed run.
pub struct FeedRun {
    /// Every delivery latency (to the frame's arrival on its socket), sorted (ms).
    pub latencies: Vec<f64>,
    /// The server's RSS growth per idle socket (KiB).
    pub kib_per_socket: f64,
    /// Frames the sockets should have received.
    pub expected: usize,
    /// Of those, the frames they received.
    pub received: usize,
    /// Of those, the frames they did not receive.
    pub lost: usize,
    /// Frames a socket received again.
    pub duplicated: usize,
    /// The median delivery latency (ms).
    pub p50: f64,
    /// The 99th-percentile delivery latency (ms).
    pub p99: f64,
    /// The same, to when the load generator read the frame.
    pub read_p50: f64,
    /// The same, to when the load generator read the frame.
    pub read_p99: f64,
    /// The slowest order request of the run (ms): a stall of the request itself (the commit) delays its frames.
    pub slowest_request: f64,
    /// Frames received per second of ordering.
    pub fanout: f64,
}

/// An order placed during a feed run: a slow order is a slow request or a slow fan-out.
#[derive(Clone, Copy)]
struct Placed {
    /// When its request started (since the Unix epoch).
    at: Duration,
    /// Its index in the run (which client and worker placed and serve it).
    index: usize,
    /// How long its request took (ms).
    request: f64,
}

/// The orders of a run.
struct Orders {
    /// Every order, by id.
    placed: HashMap<i64, Placed>,
    /// When the first request started (since the Unix epoch).
    start: Duration,
    /// How long placing them all took (s).
    seconds: f64,
}

/// What the sockets received of a run's orders.
struct Deliveries {
    expected: usize,
    received: usize,
    lost: usize,
    duplicated: usize,
    /// Every first frame of an order on a socket, from its request's start to its arrival, sorted (ms).
    latencies: Vec<f64>,
    /// The same, to when the load generator read it, sorted (ms).
    read_latencies: Vec<f64>,
    /// By order, the latency of its last frame (ms).
    last_frame: HashMap<i64, f64>,
}

/// One run with `n` sockets.
pub async fn run(
    http: &reqwest::Client,
    args: &Args,
    world: &Arc<World>,
    n: usize,
) -> anyhow::Result<FeedRun> {
    // Settle, then measure the server before the sockets.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kib(args.server_pid)?;
    let host = args
        .base
        .strip_prefix("http://")
        .context("the base URL is http://host:port")?
        .trim_end_matches('/');
    let sockets = Sockets::open(host, world, n).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(args.server_pid)?;
    let kib_per_socket = (after - before) / n as f64;

    let orders = place_orders(http, args, world).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = sockets.close().await?;

    let deliveries = Deliveries::count(world, &orders.placed, seen);
    deliveries.describe(&orders);
    Ok(FeedRun {
        kib_per_socket,
        expected: deliveries.expected,
        received: deliveries.received,
        lost: deliveries.lost,
        duplicated: deliveries.duplicated,
        p50: percentile(&deliveries.latencies, 0.5),
        p99: percentile(&deliveries.latencies, 0.99),
        read_p50: percentile(&deliveries.read_latencies, 0.5),
        read_p99: percentile(&deliveries.read_latencies, 0.99),
        slowest_request: orders
            .placed
            .values()
            .map(|p| p.request)
            .fold(0.0, f64::max),
        fanout: deliveries.received as f64 / orders.seconds,
        latencies: deliveries.latencies,
    })
}

/// Places orders at the configured rate for the configured time, remembering when each request started.
async fn place_orders(
    http: &reqwest::Client,
    args: &Args,
    world: &Arc<World>,
) -> anyhow::Result<Orders> {
    let sent: Arc<Mutex<HashMap<i64, Placed>>> = Arc::default();
    let total = usize::try_from(u64::from(args.orders_per_second) * args.feed_seconds)?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(
        1.0 / f64::from(args.orders_per_second),
    ));
    let started = Instant::now();
    let start = wall_clock();
    let mut requests = Vec::new();
    for i in 0..total {
        tick.tick().await;
        let (http, base, world, sent) =
            (http.clone(), args.base.clone(), world.clone(), sent.clone());
        requests.push(tokio::spawn(async move {
            let t0 = wall_clock();
            let id = place_order(&http, &base, &world, i).await?;
            let request = millis_between(t0, wall_clock());
            sent.lock().await.insert(
                id,
                Placed {
                    at: t0,
                    index: i,
                    request,
                },
            );
            anyhow::Ok(())
        }));
    }
    for r in requests {
        r.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let placed = sent.lock().await.clone();
    Ok(Orders {
        placed,
        start,
        seconds,
    })
}

impl Deliveries {
    /// Matches what each socket saw against the orders its user may see.
    fn count(world: &World, placed: &HashMap<i64, Placed>, seen: Vec<(Owner, Seen)>) -> Self {
        let (mut expected, mut received, mut lost, mut duplicated) = (0, 0, 0, 0);
        let (mut latencies, mut read_latencies) = (Vec::new(), Vec::new());
        let mut last_frame: HashMap<i64, f64> = HashMap::new();
        for (owner, seen) in seen {
            let wanted: HashSet<i64> = placed
                .iter()
                .filter(|(_, p)| owner.sees(world, p.index))
                .map(|(id, _)| *id)
                .collect();
            let mut got = HashSet::new();
            for (order, arrived, read) in seen {
                let Some(Placed { at: t0, .. }) = placed.get(&order) else {
                    continue;
                };
                if !got.insert(order) {
                    duplicated += 1;
                    continue;
                }
                let latency = millis_between(*t0, arrived);
                latencies.push(latency);
                read_latencies.push(millis_between(*t0, read));
                let last = last_frame.entry(order).or_insert(latency);
                *last = last.max(latency);
            }
            expected += wanted.len();
            received += got.intersection(&wanted).count();
            lost += wanted.difference(&got).count();
        }
        latencies.sort_by(f64::total_cmp);
        read_latencies.sort_by(f64::total_cmp);
        Self {
            expected,
            received,
            lost,
            duplicated,
            latencies,
            read_latencies,
            last_frame,
        }
    }

    /// Prints (to stderr) the slowest orders and how a typical order's frames spread out.
    fn describe(&self, orders: &Orders) {
        let mut slowest: Vec<(i64, f64)> = self.last_frame.iter().map(|(o, l)| (*o, *l)).collect();
        slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (order, last) in slowest.iter().take(4) {
            let (placed, request) = orders.placed.get(order).map_or((f64::NAN, f64::NAN), |p| {
                (millis_between(orders.start, p.at) / 1000.0, p.request)
            });
            eprintln!(
                "  slow order {order} (placed {placed:.2} s into the run): request {request:.1} ms, \
                 last frame {last:.1} ms"
            );
        }
        let mut lasts: Vec<f64> = self.last_frame.values().copied().collect();
        lasts.sort_by(f64::total_cmp);
        // How a typical order's burst spreads: its first frames come after the request's own latency, the last
        // after the whole fan-out.
        eprintln!(
            "  frames arrived after p1 {:.1} / p50 {:.1} / p99 {:.1} ms; an order's last frame after p50 {:.1} / \
             p90 {:.1} ms",
            percentile(&self.latencies, 0.01),
            percentile(&self.latencies, 0.5),
            percentile(&self.latencies, 0.99),
            percentile(&lasts, 0.5),
            percentile(&lasts, 0.9),
        );
    }
}

/// The resident memory of process `pid` (KiB).
fn rss_kib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("a number")?
        .parse()?)
}

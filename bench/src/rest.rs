//! The REST runs: `c` concurrent workers placing or listing orders back to back for the configured time.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::{Args, fixtures::World, stats::percentile};

/// What a REST run's workers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Operation {
    /// Place an order (JWT, JSON, order + notification in one transaction).
    CreateOrder,
    /// List a client's orders, 20 per page.
    ListOrders,
}

impl Operation {
    /// Both, in the order the report lists them.
    pub const ALL: [Self; 2] = [Self::CreateOrder, Self::ListOrders];

    /// The operation's name in the plot's legend and the progress lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::CreateOrder => "create order",
            Self::ListOrders => "list orders",
        }
    }

    /// The operation's name in the report's table.
    pub fn label(self) -> &'static str {
        match self {
            Self::CreateOrder => "create order",
            Self::ListOrders => "list orders (20 per page)",
        }
    }

    /// Whether the PostgreSQL ceiling (measured for order creation's transaction) applies.
    pub fn has_ceiling(self) -> bool {
        matches!(self, Self::CreateOrder)
    }

    /// Issues the `i`-th request of a run; `true` when it succeeded.
    async fn issue(self, http: &reqwest::Client, base: &str, world: &World, i: usize) -> bool {
        match self {
            Self::CreateOrder => place_order(http, base, world, i).await.is_ok(),
            Self::ListOrders => {
                let response = http
                    .get(format!("{base}/api/v1/orders?limit=20"))
                    .bearer_auth(&world.client(i).token)
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        }
    }
}

/// The figures of one REST run.
pub struct RestRun {
    /// Every latency, sorted (ms).
    pub latencies: Vec<f64>,
    /// Successful requests per second.
    pub rate: f64,
    /// The median latency (ms).
    pub p50: f64,
    /// The 99th-percentile latency (ms).
    pub p99: f64,
    /// Requests that failed.
    pub errors: usize,
}

/// Places the `i`-th order of a run (its client and worker chosen by `i`): returns its id.
pub async fn place_order(
    http: &reqwest::Client,
    base: &str,
    world: &World,
    i: usize,
) -> anyhow::Result<i64> {
    let response = http
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&world.client(i).token)
        .json(&json!({"service_id": world.service, "worker_id": world.worker(i).id, "description": "bench"}))
        .send()
        .await?;
    if response.status().as_u16() != 201 {
        bail!("create order answered {}", response.status());
    }
    let body: Value = response.json().await?;
    body["id"].as_i64().context("an order id")
}

/// `c` workers issuing `operation` back to back for the configured time.
pub async fn run(
    http: &reqwest::Client,
    args: &Args,
    world: &Arc<World>,
    c: usize,
    operation: Operation,
) -> anyhow::Result<RestRun> {
    let deadline = Instant::now() + Duration::from_secs(args.rest_seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..c {
        let (http, base, world) = (http.clone(), args.base.clone(), world.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0_usize;
            let mut i = worker;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                if operation.issue(&http, &base, &world, i).await {
                    latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
                i += c;
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await?;
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    Ok(RestRun {
        rate: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        errors,
        latencies: all,
    })
}

/// Orders placed at a steady rate by clients of a world (an open loop: a slow answer does not slow the next
/// request), until stopped: the load that runs beside the storm and the live-pages phases. It runs on a thread and
/// runtime of its own, with its own connections, so that its latencies are the server's answers and not the wait for
/// the load generator's busy runtime (ten thousand sockets in the storm).
pub struct PacedLoad {
    stop: tokio::sync::watch::Sender<bool>,
    done: tokio::sync::oneshot::Receiver<anyhow::Result<Paced>>,
}

/// What a paced load placed.
pub struct Paced {
    /// Every order placed: its id, its index in the load (which client and worker) and its request's latency (ms).
    pub placed: Vec<(i64, usize, f64)>,
    /// Requests that failed.
    pub errors: usize,
}

impl Paced {
    /// The requests' latencies, sorted (ms).
    pub fn latencies(&self) -> Vec<f64> {
        let mut all: Vec<f64> = self.placed.iter().map(|p| p.2).collect();
        all.sort_by(f64::total_cmp);
        all
    }
}

impl PacedLoad {
    /// Starts placing `rate` orders per second, the first with index `first` (so its client and worker).
    pub fn start(base: &str, world: &Arc<World>, rate: f64, first: usize) -> anyhow::Result<Self> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (report, done) = tokio::sync::oneshot::channel();
        let (base, world) = (base.to_owned(), world.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("paced-load".to_owned())
            .spawn(move || {
                let placed = runtime.block_on(place_paced(base, world, rate, first, stopped));
                let _ = report.send(placed);
            })?;
        Ok(Self { stop, done })
    }

    /// Stops placing orders and waits for the answers of those in flight.
    pub async fn stop(self) -> anyhow::Result<Paced> {
        let _ = self.stop.send(true);
        self.done.await?
    }
}

/// The paced load's loop, on its own runtime.
async fn place_paced(
    base: String,
    world: Arc<World>,
    rate: f64,
    first: usize,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Paced> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = Vec::new();
    let mut i = first;
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => break,
            _ = tick.tick() => {}
        }
        let (http, base, world) = (http.clone(), base.clone(), world.clone());
        let index = i;
        requests.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let id = place_order(&http, &base, &world, index).await;
            id.map(|id| (id, index, t0.elapsed().as_secs_f64() * 1000.0))
        }));
        i += 1;
    }
    let (mut placed, mut errors) = (Vec::new(), 0);
    for request in requests {
        match request.await? {
            Ok(p) => placed.push(p),
            Err(_) => errors += 1,
        }
    }
    Ok(Paced { placed, errors })
}

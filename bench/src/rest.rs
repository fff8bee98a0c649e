//! The REST runs: `c` concurrent workers placing or listing orders back to back for the configured time.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::{Args, fixtures::World, stats::percentile};

/// What a REST run's workers do.
#[derive(Clone, Copy)]
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

//! The channels phase: orders placed at a steady rate for workers whose Telegram is linked, with admins on their
//! default 15-minute digest, and the messages received by a fake Bot API this process serves (the server's
//! `TELEGRAM_API_BASE` points at it; `scripts/bench.sh` starts that server). It measures every due message's
//! delivery, the lag from the order's notification (`notifications.created_at`) to the Bot API's receipt of its
//! message, and order creation meanwhile.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use axum::{Json, Router, extract::State, routing::post};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    Args,
    fixtures::{Population, World},
    rest::PacedLoad,
    stats::{percentile, wall_clock},
};

/// A message the fake Bot API took: its chat, the order it names, and when it arrived (since the Unix epoch).
struct Received {
    chat_id: i64,
    order_id: Option<i64>,
    at: Duration,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// What a channels run measured.
pub struct ChannelsRun {
    pub workers: usize,
    pub admins: usize,
    pub orders_per_second: f64,
    pub seconds: u64,
    pub orders: usize,
    pub order_errors: usize,
    pub order_p99: f64,
    /// Messages due during the run: one per order, to its worker's chat.
    pub expected: usize,
    pub delivered: usize,
    pub lost: usize,
    pub duplicated: usize,
    /// From the order's notification to the Bot API's receipt of its message (ms).
    pub lag_p50: f64,
    pub lag_p99: f64,
    /// Digest rows waiting for the admins' interval to end (not due during the run).
    pub digest_waiting: i64,
}

/// The fake `sendMessage`: takes every message, as Telegram does.
async fn send_message(State(inbox): State<Inbox>, Json(body): Json<Value>) -> Json<Value> {
    let text = body["text"].as_str().unwrap_or_default();
    let order_id = text
        .split("/orders/")
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .map(str::to_owned)
        })
        .and_then(|id| id.parse().ok());
    let chat_id = body["chat_id"].as_i64().unwrap_or_default();
    let mut inbox = inbox.lock().expect("not poisoned");
    inbox.push(Received {
        chat_id,
        order_id,
        at: wall_clock(),
    });
    Json(json!({ "ok": true, "result": { "message_id": inbox.len(), "chat": { "id": chat_id } } }))
}

/// Serves the fake Bot API on `listen` until the process ends.
async fn serve_bot(listen: &str) -> anyhow::Result<Inbox> {
    let inbox: Inbox = Arc::default();
    let router = Router::new()
        .route("/{bot}/sendMessage", post(send_message))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("the fake Bot API cannot listen on {listen}"))?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(inbox)
}

/// The chat id a fixture's Telegram is linked to.
fn chat_of(user_id: i64) -> i64 {
    user_id + 10_000_000
}

/// Runs the phase.
pub async fn run(args: &Args, db: &PgPool) -> anyhow::Result<ChannelsRun> {
    let inbox = serve_bot(&args.bot_listen).await?;
    let population = Population {
        admins: 5,
        workers: args.channel_workers,
        clients: 200,
    };
    let world = Arc::new(World::populate(db, &args.jwt_secret, population).await?);
    let linked: Vec<i64> = world
        .workers
        .iter()
        .chain(&world.admins)
        .map(|u| u.id)
        .collect();
    sqlx::query(
        "insert into telegram_links (user_id, chat_id) select id, id + 10000000 from unnest($1::bigint[]) id",
    )
    .bind(&linked)
    .execute(db)
    .await?;

    let rate = f64::from(args.channel_orders_per_second);
    let load = PacedLoad::start(&args.base, &world, rate, 0)?;
    tokio::time::sleep(Duration::from_secs(args.channel_seconds)).await;
    let paced = load.stop().await?;
    let orders: Vec<i64> = paced.placed.iter().map(|p| p.0).collect();
    let worker_of: HashMap<i64, i64> = paced
        .placed
        .iter()
        .map(|&(id, index, _)| (id, world.worker(index).id))
        .collect();

    // Every order's message, or a deadline.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let arrived = {
            let inbox = inbox.lock().expect("not poisoned");
            inbox
                .iter()
                .filter(|r| r.order_id.is_some_and(|id| worker_of.contains_key(&id)))
                .count()
        };
        if arrived >= orders.len() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let created: HashMap<i64, f64> = sqlx::query_as::<_, (i64, f64)>(
        "select order_id, extract(epoch from created_at)::float8 from notifications \
         where kind = 'order_created' and order_id = any($1)",
    )
    .bind(&orders)
    .fetch_all(db)
    .await?
    .into_iter()
    .collect();
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut lags = Vec::new();
    for r in inbox.lock().expect("not poisoned").iter() {
        let Some(order) = r.order_id else { continue };
        let Some(&worker) = worker_of.get(&order) else {
            continue;
        };
        if r.chat_id != chat_of(worker) {
            continue;
        }
        *seen.entry(order).or_default() += 1;
        if let Some(at) = created.get(&order) {
            lags.push((r.at.as_secs_f64() - at) * 1000.0);
        }
    }
    lags.sort_by(f64::total_cmp);
    let digest_waiting: i64 = sqlx::query_scalar(
        "select count(*) from deliveries where digest and status = 'pending' and user_id = any($1)",
    )
    .bind(world.admins.iter().map(|a| a.id).collect::<Vec<_>>())
    .fetch_one(db)
    .await?;
    let latencies = paced.latencies();
    Ok(ChannelsRun {
        workers: world.workers.len(),
        admins: world.admins.len(),
        orders_per_second: rate,
        seconds: args.channel_seconds,
        orders: orders.len(),
        order_errors: paced.errors,
        order_p99: percentile(&latencies, 0.99),
        expected: orders.len(),
        delivered: seen.len(),
        lost: orders.len() - seen.len(),
        duplicated: seen.values().map(|n| n - 1).sum(),
        lag_p50: percentile(&lags, 0.5),
        lag_p99: percentile(&lags, 0.99),
        digest_waiting,
    })
}

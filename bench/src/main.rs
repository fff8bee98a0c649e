//! The benchmark driver behind `make bench` (`scripts/bench.sh` starts the server and calls this).
//!
//! It measures a running release server on this machine and prints Markdown tables:
//! - REST: placing an order (JWT, JSON, order + notification in one transaction) and listing orders, at each
//!   concurrency, as requests per second and p50/p99 latency;
//! - live feed: with N authenticated sockets open (10 % admins), the server's RSS per idle socket, then orders at
//!   a fixed rate, the latency from the order's HTTP request to its frame's arrival on every socket that should
//!   see it (p50/p99, by the kernel's receive timestamp; also to when this process read it), the frames fanned out
//!   per second, and lost frames.
//!
//! Users are created directly in the database and their tokens signed with the server's secret, so setting up
//! ten thousand sockets does not spend minutes hashing passwords.

mod listener;

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail};
use clap::Parser;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::{Mutex, Semaphore, watch};

use listener::{Frame, Listener};

/// Measures a running Task server.
#[derive(Debug, Parser)]
struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3100")]
    base: String,
    /// The server's database (for fixtures).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The server's JWT secret (to sign the fixtures' tokens).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
    /// The server's process id (for its memory).
    #[arg(long)]
    server_pid: u32,
    /// REST concurrencies.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    concurrency: Vec<usize>,
    /// Seconds per REST run.
    #[arg(long, default_value_t = 15)]
    rest_seconds: u64,
    /// Socket counts for the live-feed runs.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    sockets: Vec<usize>,
    /// Orders per second during a live-feed run.
    #[arg(long, default_value_t = 20)]
    orders_per_second: u32,
    /// Seconds of orders per live-feed run.
    #[arg(long, default_value_t = 15)]
    feed_seconds: u64,
    /// The output of `shared/bench/pg_ceiling.sh` from the same run, if any.
    #[arg(long, default_value = "")]
    ceiling: String,
    /// Where to write the latency plot (SVG), if anywhere.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
}

/// A user with a signed access token.
#[derive(Debug, Clone)]
struct Fixture {
    id: i64,
    token: String,
}

struct World {
    admins: Vec<Fixture>,
    workers: Vec<Fixture>,
    clients: Vec<Fixture>,
    service: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = PgPool::connect(&args.database_url)
        .await
        .context("Failed to connect to the bench database")?;
    let world = fixtures(&db, &args.jwt_secret).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let mut report = String::new();

    let ceiling: HashMap<usize, f64> = args
        .ceiling
        .lines()
        .filter_map(|line| {
            let (left, tps) = line.rsplit_once(": ")?;
            let c = left.rsplit_once("concurrency ")?.1.parse().ok()?;
            Some((c, tps.trim_end_matches(" tps").parse().ok()?))
        })
        .collect();

    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    writeln!(report, "### REST\n")?;
    writeln!(
        report,
        "| operation | concurrency | requests/s | p50 (ms) | p99 (ms) | errors | PostgreSQL ceiling (tps) | share of ceiling |"
    )?;
    writeln!(report, "|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for &c in &args.concurrency {
        let run = rest(&http, &args, &world, c, Operation::CreateOrder).await?;
        curves.push((format!("create order, c={c}"), percentiles(&run.latencies)));
        let (ceil, share) = match ceiling.get(&c) {
            Some(t) => (format!("{t:.0}"), format!("{:.0} %", 100.0 * run.rate / t)),
            None => ("–".to_owned(), "–".to_owned()),
        };
        writeln!(
            report,
            "| create order | {c} | {:.0} | {:.1} | {:.1} | {} | {ceil} | {share} |",
            run.rate, run.p50, run.p99, run.errors
        )?;
        eprintln!(
            "create order at {c}: {:.0}/s p99 {:.1} ms",
            run.rate, run.p99
        );
    }
    for &c in &args.concurrency {
        let run = rest(&http, &args, &world, c, Operation::ListOrders).await?;
        curves.push((format!("list orders, c={c}"), percentiles(&run.latencies)));
        writeln!(
            report,
            "| list orders (20 per page) | {c} | {:.0} | {:.1} | {:.1} | {} | – | – |",
            run.rate, run.p50, run.p99, run.errors
        )?;
        eprintln!(
            "list orders at {c}: {:.0}/s p99 {:.1} ms",
            run.rate, run.p99
        );
    }

    writeln!(report, "\n### Live feed\n")?;
    writeln!(
        report,
        "| sockets | RSS per idle socket (KiB) | orders/s | frames expected | frames received | lost | duplicated | delivery p50 (ms) | delivery p99 (ms) | read by the load generator p50 / p99 (ms) | slowest order request (ms) | frames/s fanned out |"
    )?;
    writeln!(
        report,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for &n in &args.sockets {
        let run = feed(&http, &args, &world, n).await?;
        curves.push((
            format!("feed delivery, {n} sockets"),
            percentiles(&run.latencies),
        ));
        writeln!(
            report,
            "| {n} | {:.1} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} / {:.1} | {:.1} | {:.0} |",
            run.kib_per_socket,
            args.orders_per_second,
            run.expected,
            run.received,
            run.lost,
            run.duplicated,
            run.p50,
            run.p99,
            run.read_p50,
            run.read_p99,
            run.slowest_request,
            run.fanout
        )?;
        eprintln!(
            "feed with {n} sockets: p99 {:.1} ms (read {:.1} ms), {:.1} KiB/socket, lost {}",
            run.p99, run.read_p99, run.kib_per_socket, run.lost
        );
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, plot(&curves))
            .with_context(|| format!("Failed to write {}", path.display()))?;
    }
    println!("{report}");
    Ok(())
}

/// Admins, workers serving one service, and clients, inserted directly with signed tokens.
async fn fixtures(db: &PgPool, secret: &str) -> anyhow::Result<World> {
    let tag = chrono::Utc::now().timestamp_millis();
    let make = async |role: &str, n: usize| -> anyhow::Result<Vec<Fixture>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "insert into users (username, password_hash, role, full_name)
             select $1 || '_' || $2 || '_' || g, 'bench fixture: no password', $1, 'Bench ' || $1
             from generate_series(1, $3) g returning id",
        )
        .bind(role)
        .bind(tag.to_string())
        .bind(i64::try_from(n)?)
        .fetch_all(db)
        .await?;
        ids.into_iter()
            .map(|id| {
                Ok(Fixture {
                    id,
                    token: sign(secret, id)?,
                })
            })
            .collect()
    };
    let admins = make("admin", 10).await?;
    let workers = make("worker", 50).await?;
    let clients = make("client", 500).await?;
    let service: i64 = sqlx::query_scalar(
        "insert into services (name, price) values ('Bench service ' || $1, 100000) returning id",
    )
    .bind(tag.to_string())
    .fetch_one(db)
    .await?;
    for w in &workers {
        sqlx::query("insert into service_workers (service_id, worker_id) values ($1, $2)")
            .bind(service)
            .bind(w.id)
            .execute(db)
            .await?;
    }
    Ok(World {
        admins,
        workers,
        clients,
        service,
    })
}

fn sign(secret: &str, id: i64) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": id.to_string(), "typ": "access", "iat": now, "exp": now + 6 * 3600});
    Ok(jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

#[derive(Clone, Copy)]
enum Operation {
    CreateOrder,
    ListOrders,
}

struct RestRun {
    /// Every latency, sorted (ms).
    latencies: Vec<f64>,
    rate: f64,
    p50: f64,
    p99: f64,
    errors: usize,
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a rank within 0..len"
)]
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * (sorted.len() - 1) as f64).round();
    sorted[rank as usize]
}

/// Places an order: returns its id.
async fn place_order(
    http: &reqwest::Client,
    base: &str,
    world: &World,
    i: usize,
) -> anyhow::Result<i64> {
    let client = &world.clients[i % world.clients.len()];
    let worker = &world.workers[i % world.workers.len()];
    let response = http
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&client.token)
        .json(&json!({"service_id": world.service, "worker_id": worker.id, "description": "bench"}))
        .send()
        .await?;
    if response.status().as_u16() != 201 {
        bail!("create order answered {}", response.status());
    }
    let body: Value = response.json().await?;
    body["id"].as_i64().context("an order id")
}

/// `c` workers issuing `operation` back to back for the configured time.
async fn rest(
    http: &reqwest::Client,
    args: &Args,
    world: &World,
    c: usize,
    operation: Operation,
) -> anyhow::Result<RestRun> {
    let world = Arc::new(World {
        admins: world.admins.clone(),
        workers: world.workers.clone(),
        clients: world.clients.clone(),
        service: world.service,
    });
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
                let ok = match operation {
                    Operation::CreateOrder => place_order(&http, &base, &world, i).await.is_ok(),
                    Operation::ListOrders => {
                        let client = &world.clients[i % world.clients.len()];
                        let response = http
                            .get(format!("{base}/api/v1/orders?limit=20"))
                            .bearer_auth(&client.token)
                            .send()
                            .await;
                        match response {
                            Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                            _ => false,
                        }
                    }
                };
                if ok {
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

/// The latency at each plotted percentile of a sorted sample: (percentile, ms).
fn percentiles(sorted: &[f64]) -> Vec<(f64, f64)> {
    [0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9]
        .iter()
        .map(|&p| (p, percentile(sorted, p / 100.0)))
        .collect()
}

/// An SVG chart of latency by percentile, one line per run (the percentile axis is stretched towards the tail).
fn plot(curves: &[(String, Vec<(f64, f64)>)]) -> String {
    const COLORS: [&str; 8] = [
        "#0b6bcb", "#d1495b", "#2a9d8f", "#e9a03b", "#6a4c93", "#3d5a80", "#8d6e63", "#111111",
    ];
    let (width, height, left, right, top, bottom) = (760.0, 420.0, 60.0, 230.0, 20.0, 50.0);
    let max_ms = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(_, ms)| *ms))
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);
    // x: -log10(1 - p/100), so 50, 90, 99, 99.9 are evenly spaced.
    let tail = |p: f64| -(1.0 - p / 100.0).max(0.0005).log10();
    let x = |p: f64| left + (width - left - right) * tail(p) / tail(99.9);
    let y = |ms: f64| top + (height - top - bottom) * (1.0 - ms / max_ms);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    svg.push_str(&format!(
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    ));
    for p in [0.0, 50.0, 90.0, 99.0, 99.9] {
        let px = x(p);
        svg.push_str(&format!(
            r##"<line x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">p{p}</text>"##,
            height - bottom,
            height - bottom + 16.0
        ));
    }
    for i in 0..=4 {
        let ms = max_ms * f64::from(i) / 4.0;
        let py = y(ms);
        svg.push_str(&format!(
            r##"<line x1="{left}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{ms:.0} ms</text>"##,
            width - right,
            left - 6.0,
            py + 4.0
        ));
    }
    for (i, (label, points)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = points
            .iter()
            .filter(|(_, ms)| ms.is_finite())
            .map(|(p, ms)| format!("{:.1},{:.1}", x(*p), y(*ms)))
            .collect();
        svg.push_str(&format!(
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        ));
        let ly = top + 18.0 * (i as f64 + 1.0);
        svg.push_str(&format!(
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="3" fill="{color}"/><text x="{:.1}" y="{:.1}">{label}</text>"#,
            width - right + 14.0,
            ly - 4.0,
            width - right + 32.0,
            ly
        ));
    }
    svg.push_str(&format!(
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile (tail stretched)</text></svg>"#,
        left + (width - left - right) / 2.0,
        height - 10.0
    ));
    svg
}

/// Where `needle` starts in `haystack`, if it occurs.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `order_id` of a notification frame, found without parsing the whole frame.
fn order_id_of(frame: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"order_id\":";
    let at = find(frame, KEY)? + KEY.len();
    let digits = &frame[at..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

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

struct FeedRun {
    /// Every delivery latency (to the frame's arrival on its socket), sorted (ms).
    latencies: Vec<f64>,
    kib_per_socket: f64,
    expected: usize,
    received: usize,
    lost: usize,
    duplicated: usize,
    p50: f64,
    p99: f64,
    /// The same, to when the load generator read the frame.
    read_p50: f64,
    read_p99: f64,
    /// The slowest order request of the run (ms): a stall of the request itself (the commit) delays its frames.
    slowest_request: f64,
    fanout: f64,
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

/// What one socket saw: (order id, when the kernel received its frame, when the load generator read it), as time
/// since the Unix epoch.
type Seen = Vec<(i64, Duration, Duration)>;

/// The wall clock as time since the Unix epoch: the kernel's receive timestamps are on this clock.
fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `later - earlier` in milliseconds.
fn millis_between(earlier: Duration, later: Duration) -> f64 {
    (later.as_secs_f64() - earlier.as_secs_f64()) * 1000.0
}

async fn feed(
    http: &reqwest::Client,
    args: &Args,
    world: &World,
    n: usize,
) -> anyhow::Result<FeedRun> {
    // Settle, then measure the server before the sockets.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kib(args.server_pid)?;
    let host = args
        .base
        .strip_prefix("http://")
        .context("the base URL is http://host:port")?
        .trim_end_matches('/')
        .to_owned();
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(200));
    let mut sockets = Vec::new();
    let mut owners = Vec::new();
    for i in 0..n {
        // 10 % admins, 10 % workers, 80 % clients.
        let (role, user) = match i % 10 {
            0 => ("admin", world.admins[i / 10 % world.admins.len()].clone()),
            1 => (
                "worker",
                world.workers[i / 10 % world.workers.len()].clone(),
            ),
            _ => ("client", world.clients[i % world.clients.len()].clone()),
        };
        owners.push((role, user.id));
        let (host, gate, mut stop) = (host.clone(), gate.clone(), stop_rx.clone());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        sockets.push((
            ready_rx,
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await?;
                let mut socket =
                    Listener::connect(&host, "/ws/notifications", &user.token, i as u64)
                        .await
                        .context("socket connect")?;
                socket
                    .until(|text| find(text, br#""type":"hello""#).is_some())
                    .await
                    .context("hello")?;
                drop(permit);
                let _ = ready_tx.send(());
                let mut seen: Seen = Vec::new();
                // One waiter on the stop signal for the socket's life, not one per frame: 10 000 sockets
                // re-registering with one shared `Notify` per frame contend on its lock.
                let stopped = stop.changed();
                tokio::pin!(stopped);
                loop {
                    tokio::select! {
                        biased;
                        filled = socket.fill() => {
                            let read = wall_clock();
                            let Some(arrived) = filled? else {
                                break;
                            };
                            // A cheap scan instead of a JSON parse: the load generator shares the cores.
                            let open = socket
                                .drain(|frame| {
                                    if let Frame::Text(text) = frame
                                        && let Some(order) = order_id_of(text)
                                    {
                                        seen.push((order, arrived, read));
                                    }
                                })
                                .await?;
                            if !open {
                                break;
                            }
                        }
                        _ = &mut stopped => break,
                    }
                }
                anyhow::Ok(seen)
            }),
        ));
    }
    let mut handles = Vec::new();
    for (ready, handle) in sockets {
        ready.await.context("a socket failed to open")?;
        handles.push(handle);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(args.server_pid)?;
    let kib_per_socket = (after - before) / n as f64;

    // Orders at a fixed rate; remember when each request started.
    let sent: Arc<Mutex<HashMap<i64, Placed>>> = Arc::default();
    let total = usize::try_from(u64::from(args.orders_per_second) * args.feed_seconds)?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(
        1.0 / f64::from(args.orders_per_second),
    ));
    let started = Instant::now();
    let phase_start = wall_clock();
    let mut requests = Vec::new();
    let world = Arc::new(World {
        admins: world.admins.clone(),
        workers: world.workers.clone(),
        clients: world.clients.clone(),
        service: world.service,
    });
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
    let phase = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_tx.send(true)?;

    let sent = sent.lock().await.clone();
    let (mut expected, mut received, mut lost, mut duplicated) = (0, 0, 0, 0);
    let (mut latencies, mut read_latencies) = (Vec::new(), Vec::new());
    let mut last_frame: HashMap<i64, f64> = HashMap::new();
    for ((role, user), handle) in owners.into_iter().zip(handles) {
        let seen = handle.await??;
        let wanted: HashSet<i64> = sent
            .iter()
            .filter(|(_, Placed { index: i, .. })| match role {
                "admin" => true,
                "worker" => world.workers[i % world.workers.len()].id == user,
                _ => world.clients[i % world.clients.len()].id == user,
            })
            .map(|(id, _)| *id)
            .collect();
        let mut got = HashSet::new();
        for (order, arrived, read) in seen {
            let Some(Placed { at: t0, .. }) = sent.get(&order) else {
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
    let mut slowest: Vec<(i64, f64)> = last_frame.iter().map(|(o, l)| (*o, *l)).collect();
    slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (order, last) in slowest.iter().take(4) {
        let (placed, request) = sent.get(order).map_or((f64::NAN, f64::NAN), |p| {
            (millis_between(phase_start, p.at) / 1000.0, p.request)
        });
        eprintln!(
            "  slow order {order} (placed {placed:.2} s into the run): request {request:.1} ms, last frame {last:.1} ms"
        );
    }
    let mut lasts: Vec<f64> = last_frame.into_values().collect();
    lasts.sort_by(f64::total_cmp);
    // How a typical order's burst spreads: its first frames come after the request's own latency, the last after
    // the whole fan-out.
    eprintln!(
        "  frames arrived after p1 {:.1} / p50 {:.1} / p99 {:.1} ms; an order's last frame after p50 {:.1} / p90 {:.1} ms",
        percentile(&latencies, 0.01),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&lasts, 0.5),
        percentile(&lasts, 0.9),
    );
    Ok(FeedRun {
        kib_per_socket,
        expected,
        received,
        lost,
        duplicated,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        read_p50: percentile(&read_latencies, 0.5),
        read_p99: percentile(&read_latencies, 0.99),
        slowest_request: sent.values().map(|p| p.request).fold(0.0, f64::max),
        fanout: received as f64 / phase,
        latencies,
    })
}

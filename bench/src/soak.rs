//! The bounded soak and fault run (`make soak`, and in the test command): two server instances over one
//! PostgreSQL and one Redis, concurrent clients ordering and paying (Payme and Click, with duplicated webhook
//! calls), workers moving orders on, live sockets on both instances reconnecting with `after_id` as a browser does,
//! and Redis and then PostgreSQL restarted mid-run. At the end it checks the invariants:
//! - no request was answered 500 (503 `unavailable` is allowed while a dependency restarts) and no webhook answered
//!   an HTTP error;
//! - every order that was paid has exactly one confirmed transaction, and every confirmed transaction's order is
//!   paid or further; no order was announced paid twice;
//! - every socket received every event its user may see, committed after it first connected, exactly once and in
//!   id order, across its reconnects.
//!
//! It starts the instances itself; `scripts/soak.sh` gives it private PostgreSQL and Redis servers to restart.

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use clap::Parser;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::{process::Child, sync::Mutex};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _};

#[derive(Debug, Parser)]
struct Args {
    /// The release server binary.
    #[arg(long)]
    server: String,
    /// The (empty) database both instances use.
    #[arg(long)]
    database_url: String,
    #[arg(long)]
    redis_url: String,
    /// Seconds of load.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Ports of the two instances.
    #[arg(long, default_value = "3511")]
    port_a: u16,
    #[arg(long, default_value = "3512")]
    port_b: u16,
    /// A shell command that restarts Redis (run at a third of the run).
    #[arg(long)]
    restart_redis: String,
    /// A shell command that restarts PostgreSQL (run at two thirds of the run).
    #[arg(long)]
    restart_postgres: String,
    #[arg(long, default_value_t = 8)]
    clients: usize,
}

const PAYME_KEY: &str = "soak-payme-key-0123456789abcdefghij";
const CLICK_SECRET: &str = "soak-click-secret";
const CLICK_SERVICE: i64 = 4242;
const PRICE: i64 = 250_000;

/// Every HTTP answer's status, counted.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    unavailable: AtomicU64,
    server_errors: AtomicU64,
    failed_connections: AtomicU64,
    errors: Mutex<Vec<String>>,
}

struct Ctx {
    http: reqwest::Client,
    bases: [String; 2],
    tally: Tally,
    stop: AtomicBool,
}

impl Ctx {
    fn base(&self, i: usize) -> &str {
        &self.bases[i % 2]
    }

    /// One request; counts its status. `None` when there was no usable answer (connection refused, 503).
    async fn call(&self, request: reqwest::RequestBuilder, what: &str) -> Option<(u16, Value)> {
        self.tally.requests.fetch_add(1, Ordering::Relaxed);
        let Ok(response) = request.send().await else {
            self.tally
                .failed_connections
                .fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == 503 {
            self.tally.unavailable.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if status >= 500 {
            self.tally.server_errors.fetch_add(1, Ordering::Relaxed);
            self.tally
                .errors
                .lock()
                .await
                .push(format!("{what}: {status} {body}"));
            return None;
        }
        Some((status, body))
    }

    async fn json(
        &self,
        i: usize,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base(i)));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.call(request, &format!("{method} {path}")).await
    }

    /// Retries a request the way a client does while a dependency restarts.
    async fn json_retry(
        &self,
        i: usize,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        for attempt in 0..40 {
            if let Some(answer) = self
                .json(i + attempt, method.clone(), path, token, body.clone())
                .await
            {
                return Some(answer);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        None
    }

    async fn payme(&self, i: usize, method: &str, params: Value) -> Option<Value> {
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("Paycom:{PAYME_KEY}"))
        );
        for attempt in 0..40 {
            let request = self
                .http
                .post(format!("{}/api/v1/payment/payme", self.base(i + attempt)))
                .header("Authorization", &auth)
                .json(&json!({ "id": attempt, "method": method, "params": params }));
            if let Some((200, answer)) = self.call(request, method).await {
                // -32400: our side could not answer (the database restarting); Payme repeats, so do we.
                if answer["error"]["code"] != -32400 {
                    return Some(answer);
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        None
    }

    async fn click(&self, i: usize, fields: Vec<(&str, String)>) -> Option<Value> {
        let complete = fields.iter().any(|(k, v)| *k == "action" && v == "1");
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let signed = format!(
            "{}{}{CLICK_SECRET}{}{}{}{}{}",
            field("click_trans_id"),
            field("service_id"),
            field("merchant_trans_id"),
            if complete {
                field("merchant_prepare_id")
            } else {
                ""
            },
            field("amount"),
            field("action"),
            field("sign_time"),
        );
        let mut all = fields.clone();
        let digest = md5_hex(signed.as_bytes());
        all.push(("sign_string", digest));
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(all.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        for attempt in 0..40 {
            let request = self
                .http
                .post(format!("{}/api/v1/payment/click", self.base(i + attempt)))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.clone());
            if let Some((200, answer)) = self.call(request, "click").await {
                // -7: our update failed (the database restarting); Click repeats, so do we.
                if answer["error"] != -7 {
                    return Some(answer);
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        None
    }
}

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest as _, Md5};
    hex::encode(Md5::digest(data))
}

/// A live socket that reconnects with `after_id` until told to stop; records every notification id.
struct Listener {
    user_id: i64,
    role: String,
    /// The `last_id` of the first hello: events above it must all arrive.
    start: i64,
    ids: Vec<i64>,
    reconnects: u32,
}

async fn listen(
    ctx: Arc<Ctx>,
    instance: usize,
    token: String,
    user_id: i64,
    role: String,
) -> anyhow::Result<Listener> {
    let mut listener = Listener {
        user_id,
        role,
        start: -1,
        ids: Vec::new(),
        reconnects: 0,
    };
    let mut quiet_since: Option<Instant> = None;
    loop {
        let last = listener.ids.last().copied().unwrap_or(listener.start);
        let query = if listener.start < 0 {
            String::new()
        } else {
            format!("?after_id={last}")
        };
        let url = format!(
            "{}/ws/notifications{query}",
            ctx.base(instance).replacen("http", "ws", 1)
        );
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(request).await else {
            if ctx.stop.load(Ordering::Relaxed)
                && quiet_since.is_some_and(|t| t.elapsed() > Duration::from_secs(30))
            {
                bail!("socket of user {user_id} could not reconnect after the run");
            }
            quiet_since.get_or_insert_with(Instant::now);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        loop {
            let timeout = if ctx.stop.load(Ordering::Relaxed) {
                Duration::from_secs(3)
            } else {
                Duration::from_secs(60)
            };
            match tokio::time::timeout(timeout, ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let frame: Value = serde_json::from_str(&text)?;
                    match frame["type"].as_str() {
                        Some("hello") if listener.start < 0 => {
                            listener.start = frame["last_id"].as_i64().unwrap_or(0)
                        }
                        Some("notification") => {
                            let id = frame["notification"]["id"].as_i64().context("an id")?;
                            ensure!(
                                id > listener.ids.last().copied().unwrap_or(listener.start),
                                "user {user_id}: id {id} out of order or repeated"
                            );
                            listener.ids.push(id);
                        }
                        _ => {}
                    }
                }
                Ok(Some(Ok(_))) => {}
                // Closed, failed (an instance or Redis restarting, a resync), or quiet after the run: reconnect or end.
                Ok(Some(Err(_)) | None) => break,
                Err(_) if ctx.stop.load(Ordering::Relaxed) => return Ok(listener),
                Err(_) => break,
            }
        }
        listener.reconnects += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_instance(args: &Args, port: u16, jwt: &str, log: &str) -> anyhow::Result<Child> {
    let log_file = std::fs::File::create(log)?;
    let child = tokio::process::Command::new(&args.server)
        .arg("serve")
        .env("DATABASE_URL", &args.database_url)
        .env("REDIS_URL", &args.redis_url)
        .env("REDIS_PREFIX", "soak")
        .env("JWT_SECRET", jwt)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LEPTOS_OUTPUT_NAME", "task")
        .env("LEPTOS_SITE_ROOT", "target/site")
        .env("COOKIE_SECURE", "false")
        .env("RUST_LOG", "warn")
        .env("LOGIN_RATE_LIMIT", "100000")
        .env("REGISTER_RATE_LIMIT", "100000")
        .env("ORDER_RATE_LIMIT", "100000")
        .env("PAYME_MERCHANT_ID", "soak-cashbox")
        .env("PAYME_KEY", PAYME_KEY)
        .env("CLICK_SERVICE_ID", CLICK_SERVICE.to_string())
        .env("CLICK_MERCHANT_ID", "1")
        .env("CLICK_MERCHANT_USER_ID", "2")
        .env("CLICK_SECRET_KEY", CLICK_SECRET)
        .stdout(Stdio::from(log_file.try_clone()?))
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .context("the server binary starts")?;
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(child);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("instance on {port} did not become ready (see {log})")
}

/// Runs a fault: the shell command that restarts one dependency.
async fn restart(name: &str, command: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let status = tokio::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .await?;
    ensure!(status.success(), "restarting {name} failed");
    println!(
        "soak: {name} restarted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn login(ctx: &Ctx, username: &str, password: &str) -> anyhow::Result<(String, i64)> {
    let (status, body) = ctx
        .json_retry(
            0,
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": username, "password": password })),
        )
        .await
        .context("login answered")?;
    ensure!(status == 200, "login of {username}: {status} {body}");
    Ok((
        body["access"].as_str().context("access")?.to_owned(),
        body["user"]["id"].as_i64().context("id")?,
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let jwt = "soak-jwt-secret-0123456789abcdefghijklmnopqrstuvwxyz";
    for command in [
        vec!["migrate"],
        vec!["create-admin", "--username", "soakadmin"],
    ] {
        let status = tokio::process::Command::new(&args.server)
            .args(&command)
            .env("DATABASE_URL", &args.database_url)
            .env("ADMIN_PASSWORD", "soak-admin-password")
            .env("RUST_LOG", "warn")
            .status()
            .await?;
        ensure!(status.success(), "server {command:?} failed");
    }
    let pool = PgPool::connect(&args.database_url).await?;
    let mut a = start_instance(&args, args.port_a, jwt, "/tmp/task-soak-a.log").await?;
    let mut b = start_instance(&args, args.port_b, jwt, "/tmp/task-soak-b.log").await?;
    let ctx = Arc::new(Ctx {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        bases: [
            format!("http://127.0.0.1:{}", args.port_a),
            format!("http://127.0.0.1:{}", args.port_b),
        ],
        tally: Tally::default(),
        stop: AtomicBool::new(false),
    });

    // The cast: an admin, two workers serving one service, the clients.
    let (admin, admin_id) = login(&ctx, "soakadmin", "soak-admin-password").await?;
    let mut workers = Vec::new();
    for n in 0..2 {
        let name = format!("soakworker{n}");
        let (status, body) = ctx
            .json_retry(n, reqwest::Method::POST, "/api/v1/users", Some(&admin), Some(json!({ "username": name, "password": "soak-worker-password", "role": "worker" })))
            .await
            .context("a worker")?;
        ensure!(status == 201, "worker: {body}");
        workers.push(login(&ctx, &name, "soak-worker-password").await?);
    }
    let (status, service) = ctx
        .json_retry(0, reqwest::Method::POST, "/api/v1/services", Some(&admin), Some(json!({ "name": "Soak service", "description": "", "price": PRICE, "is_active": true })))
        .await
        .context("a service")?;
    ensure!(status == 201, "service: {service}");
    let service_id = service["id"].as_i64().context("service id")?;
    let (status, _) = ctx
        .json_retry(
            0,
            reqwest::Method::PUT,
            &format!("/api/v1/services/{service_id}/workers"),
            Some(&admin),
            Some(json!({ "worker_ids": workers.iter().map(|w| w.1).collect::<Vec<_>>() })),
        )
        .await
        .context("service workers")?;
    ensure!(status == 200, "service workers");
    let mut clients = Vec::new();
    for n in 0..args.clients {
        let name = format!("soakclient{n}");
        ctx.json_retry(
            n,
            reqwest::Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({ "username": name, "password": "soak-client-password" })),
        )
        .await;
        clients.push(login(&ctx, &name, "soak-client-password").await?);
    }

    // Sockets: every client and worker, and the admin on both instances.
    let mut sockets = Vec::new();
    for (i, (token, id)) in clients.iter().enumerate() {
        sockets.push(tokio::spawn(listen(
            ctx.clone(),
            i,
            token.clone(),
            *id,
            "client".into(),
        )));
    }
    for (i, (token, id)) in workers.iter().enumerate() {
        sockets.push(tokio::spawn(listen(
            ctx.clone(),
            i,
            token.clone(),
            *id,
            "worker".into(),
        )));
    }
    for i in 0..2 {
        sockets.push(tokio::spawn(listen(
            ctx.clone(),
            i,
            admin.clone(),
            admin_id,
            "admin".into(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let mut actors = Vec::new();
    for (i, (token, _)) in clients.iter().enumerate() {
        let (ctx, token) = (ctx.clone(), token.clone());
        actors.push(tokio::spawn(async move {
            let mut n = 0_usize;
            while Instant::now() < deadline {
                n += 1;
                let Some((201, order)) = ctx.json_retry(i + n, reqwest::Method::POST, "/api/v1/orders", Some(&token), Some(json!({ "service_id": service_id }))).await else {
                    continue;
                };
                let order_id = order["id"].as_i64().unwrap_or_default();
                match (i + n) % 5 {
                    0 | 1 => {
                        // Payme, with Perform sent three times at once (Payme repeats when unsure).
                        let id = format!("{i:04x}{n:020x}");
                        let created = ctx.payme(i + n, "CreateTransaction", json!({ "id": id, "time": chrono::Utc::now().timestamp_millis(), "amount": PRICE, "account": { "order_id": order_id.to_string() } })).await;
                        if created.is_some_and(|c| c.get("result").is_some()) {
                            let performs = (0..3).map(|k| ctx.payme(i + n + k, "PerformTransaction", json!({ "id": id })));
                            futures_util::future::join_all(performs).await;
                        }
                    }
                    2 | 3 => {
                        let attempt = i64::try_from(i * 1_000_000 + n).unwrap_or_default() + 7_000_000_000;
                        let base = |action: &str| {
                            vec![
                                ("click_trans_id", attempt.to_string()),
                                ("service_id", CLICK_SERVICE.to_string()),
                                ("click_paydoc_id", (attempt + 1).to_string()),
                                ("merchant_trans_id", order_id.to_string()),
                                ("amount", format!("{}.{:02}", PRICE / 100, PRICE % 100)),
                                ("action", action.to_owned()),
                                ("error", "0".to_owned()),
                                ("sign_time", "2026-11-24 10:00:00".to_owned()),
                            ]
                        };
                        if let Some(prepared) = ctx.click(i + n, base("0")).await
                            && let Some(prepare_id) = prepared["merchant_prepare_id"].as_i64()
                        {
                            let mut complete = base("1");
                            complete.push(("merchant_prepare_id", prepare_id.to_string()));
                            let completes = (0..2).map(|k| ctx.click(i + n + k, complete.clone()));
                            futures_util::future::join_all(completes).await;
                        }
                    }
                    _ => {}
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }
    for (i, (token, _)) in workers.iter().enumerate() {
        let (ctx, token) = (ctx.clone(), token.clone());
        actors.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                for (from, to) in [("paid", "in_process"), ("in_process", "completed")] {
                    let Some((200, page)) = ctx
                        .json(
                            i + n,
                            reqwest::Method::GET,
                            &format!("/api/v1/orders?status={from}&limit=10"),
                            Some(&token),
                            None,
                        )
                        .await
                    else {
                        continue;
                    };
                    for order in page["results"].as_array().cloned().unwrap_or_default() {
                        let id = order["id"].as_i64().unwrap_or_default();
                        ctx.json(
                            i + n,
                            reqwest::Method::PATCH,
                            &format!("/api/v1/orders/{id}/status"),
                            Some(&token),
                            Some(json!({ "status": to })),
                        )
                        .await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }));
    }

    // The faults.
    for (third, name, command) in [
        (1, "Redis", &args.restart_redis),
        (2, "PostgreSQL", &args.restart_postgres),
    ] {
        tokio::time::sleep_until((started + Duration::from_secs(third * args.duration / 3)).into())
            .await;
        restart(name, command).await?;
    }

    for actor in actors {
        actor.await?;
    }
    // Let the last events travel, then stop the sockets (each ends after 3 quiet seconds).
    tokio::time::sleep(Duration::from_secs(2)).await;
    ctx.stop.store(true, Ordering::Relaxed);
    let mut listeners = Vec::new();
    for socket in sockets {
        listeners.push(socket.await??);
    }
    let _ = a.start_kill();
    let _ = b.start_kill();

    // The invariants.
    let mut invariants = Invariants::default();
    let requests = ctx.tally.requests.load(Ordering::Relaxed);
    let server_errors = ctx.tally.server_errors.load(Ordering::Relaxed);
    let mut broken = Vec::new();
    if server_errors > 0 {
        broken.push(format!(
            "{server_errors} answers were 5xx other than 503: {:?}",
            ctx.tally
                .errors
                .lock()
                .await
                .iter()
                .take(5)
                .collect::<Vec<_>>()
        ));
    }
    invariants.check("no 5xx answer but 503 while a dependency restarted", broken);
    let doubly_paid: i64 = sqlx::query_scalar(
        "select count(*) from (select order_id from transactions where status = 'confirmed' group by order_id having count(*) > 1) t",
    )
    .fetch_one(&pool)
    .await?;
    let paid_without: i64 = sqlx::query_scalar(
        "select count(*) from orders o where o.status in ('paid', 'in_process', 'completed')
         and (select count(*) from transactions t where t.order_id = o.id and t.status = 'confirmed') <> 1",
    )
    .fetch_one(&pool)
    .await?;
    let confirmed_unpaid: i64 = sqlx::query_scalar(
        "select count(*) from transactions t join orders o on o.id = t.order_id
         where t.status = 'confirmed' and o.status not in ('paid', 'in_process', 'completed')",
    )
    .fetch_one(&pool)
    .await?;
    let announced_twice: i64 = sqlx::query_scalar(
        "select count(*) from (select order_id from notifications where kind = 'payment_confirmed' group by order_id having count(*) > 1) t",
    )
    .fetch_one(&pool)
    .await?;
    let mut broken = Vec::new();
    if doubly_paid + paid_without + confirmed_unpaid + announced_twice > 0 {
        broken.push(format!(
            "payments: {doubly_paid} orders confirmed twice, {paid_without} paid orders without exactly one confirmed transaction, {confirmed_unpaid} confirmed transactions on unpaid orders, {announced_twice} orders announced paid twice"
        ));
    }
    invariants.check(
        "every paid order has exactly one confirmed transaction",
        broken,
    );
    let mut broken = Vec::new();
    let mut frames = 0;
    let mut reconnects = 0;
    let mut missing_total = 0;
    for listener in &listeners {
        let expected: Vec<i64> = sqlx::query_scalar(
            "select id from notifications n where n.id > $1
             and ($3 = 'admin' or ($3 = 'client' and n.client_id = $2) or ($3 = 'worker' and n.worker_id = $2))
             order by id",
        )
        .bind(listener.start)
        .bind(listener.user_id)
        .bind(&listener.role)
        .fetch_all(&pool)
        .await?;
        frames += listener.ids.len();
        reconnects += listener.reconnects;
        if expected != listener.ids {
            let got: std::collections::HashSet<_> = listener.ids.iter().collect();
            let missing = expected.iter().filter(|id| !got.contains(id)).count();
            missing_total += missing;
            broken.push(format!(
                "socket of {} {}: expected {} events, received {} ({missing} missing)",
                listener.role,
                listener.user_id,
                expected.len(),
                listener.ids.len()
            ));
        }
    }
    invariants.check("every socket received its events once and in order", broken);
    let counts: HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("select status, count(*) from orders group by status")
            .fetch_all(&pool)
            .await?
            .into_iter()
            .collect();
    println!(
        "soak: {} s, 2 instances, {} clients: {requests} requests ({} answered 503 and {} found no server while a dependency restarted, {server_errors} other 5xx), orders by status {counts:?}, {frames} frames on {} sockets ({reconnects} reconnects, {missing_total} missing)",
        args.duration,
        args.clients,
        ctx.tally.unavailable.load(Ordering::Relaxed),
        ctx.tally.failed_connections.load(Ordering::Relaxed),
        listeners.len()
    );
    let paid = counts.get("paid").copied().unwrap_or(0)
        + counts.get("in_process").copied().unwrap_or(0)
        + counts.get("completed").copied().unwrap_or(0);
    let mut broken = Vec::new();
    if paid == 0 {
        broken.push("no order was paid: the run proved nothing".to_owned());
    }
    invariants.check("orders were paid", broken);
    invariants.report()
}

/// The run's invariants as they were checked: each one's name and, when it does not hold, what broke it.
#[derive(Default)]
struct Invariants(Vec<(&'static str, Vec<String>)>);

impl Invariants {
    /// Records one invariant; it holds when `broken` is empty.
    fn check(&mut self, name: &'static str, broken: Vec<String>) {
        self.0.push((name, broken));
    }

    /// Prints what broke each failed invariant, then the tally (`soak: N passed, N failed`) of the invariants
    /// checked; an error when any failed.
    fn report(&self) -> anyhow::Result<()> {
        let failed = self
            .0
            .iter()
            .filter(|(_, broken)| !broken.is_empty())
            .count();
        for (name, broken) in &self.0 {
            for why in broken {
                println!("soak: FAILED {name}: {why}");
            }
        }
        println!("soak: {} passed, {failed} failed", self.0.len() - failed);
        ensure!(failed == 0, "{failed} soak invariants failed");
        Ok(())
    }
}

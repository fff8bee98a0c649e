//! Notifications away from the page (API.md, "Notifications that reach people away from the page"): settings,
//! linking Telegram through the bot's webhook, and the delivery pipeline against local fakes that speak the real
//! protocols — a Bot API server (recording calls, failing on demand, 429 with `retry_after`, "blocked") and an SMTP
//! server holding a real SMTP conversation.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::{domain::delivery::pipeline, models::Role};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::post,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use crate::{
    helpers::{TestApp, TestUser, spawn_app, spawn_app_with},
    live::post_message,
};

const BOT_TOKEN: &str = "123456:TEST-token";
const BOT_NAME: &str = "task_test_bot";
const HOOK_SECRET: &str = "hook-secret-0123456789";

/// One `sendMessage` call the fake Bot API received.
#[derive(Debug, Clone)]
struct BotCall {
    chat_id: i64,
    text: String,
    at: Instant,
    /// The status it answered.
    status: u16,
}

/// What the fake Bot API does, and what it saw.
#[derive(Default)]
struct Bot {
    calls: Vec<BotCall>,
    /// Every `n`th call fails with a 500.
    fail_every: Option<usize>,
    /// The first this many calls get a 429 with `retry_after`.
    too_many: usize,
    retry_after: u64,
    /// Chats that blocked the bot.
    blocked: HashSet<i64>,
    /// How long each answer takes.
    delay: Duration,
    /// Calls with a wrong token in the path.
    wrong_token: usize,
    /// Down (every call a 502) until then.
    down_until: Option<Instant>,
}

type FakeBot = Arc<Mutex<Bot>>;

impl Bot {
    /// The calls it accepted (answered 200).
    fn sent(bot: &FakeBot) -> Vec<BotCall> {
        bot.lock()
            .expect("the fake's lock")
            .calls
            .iter()
            .filter(|c| c.status == 200)
            .cloned()
            .collect()
    }

    fn all(bot: &FakeBot) -> Vec<BotCall> {
        bot.lock().expect("the fake's lock").calls.clone()
    }
}

async fn send_message(
    State(bot): State<FakeBot>,
    Path(path): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let (status, answer, delay) = {
        let mut bot = bot.lock().expect("the fake's lock");
        if path != format!("bot{BOT_TOKEN}") {
            bot.wrong_token += 1;
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"})),
            );
        }
        let chat_id = body["chat_id"].as_i64().unwrap_or_default();
        let n = bot.calls.len() + 1;
        let (status, answer) = if bot.down_until.is_some_and(|until| Instant::now() < until) {
            (
                502,
                json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
            )
        } else if bot.blocked.contains(&chat_id) {
            (
                403,
                json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
            )
        } else if n <= bot.too_many {
            (
                429,
                json!({"ok": false, "error_code": 429,
                       "description": format!("Too Many Requests: retry after {}", bot.retry_after),
                       "parameters": {"retry_after": bot.retry_after}}),
            )
        } else if bot.fail_every.is_some_and(|every| n % every == 0) {
            (
                500,
                json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
            )
        } else {
            (
                200,
                json!({"ok": true, "result": {"message_id": n, "chat": {"id": chat_id}, "text": body["text"]}}),
            )
        };
        bot.calls.push(BotCall {
            chat_id,
            text: body["text"].as_str().unwrap_or_default().to_owned(),
            at: Instant::now(),
            status,
        });
        (status, answer, bot.delay)
    };
    tokio::time::sleep(delay).await;
    (
        StatusCode::from_u16(status).expect("a valid status"),
        Json(answer),
    )
}

/// Starts the fake Bot API; returns its base URL.
async fn spawn_fake_bot(bot: FakeBot) -> String {
    let router = Router::new()
        .route("/{bot}/sendMessage", post(send_message))
        .with_state(bot);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

/// One message the fake SMTP server took.
#[derive(Debug, Clone)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

type Mailbox = Arc<Mutex<Vec<Mail>>>;

/// A small SMTP server (RFC 5321: greeting, EHLO/HELO, MAIL, RCPT, DATA with dot-stuffing, RSET, NOOP, QUIT);
/// returns its `smtp://` URL.
async fn spawn_fake_smtp(mailbox: Mailbox) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let url = format!("smtp://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let mailbox = mailbox.clone();
            tokio::spawn(async move {
                let (reader, mut writer) = stream.into_split();
                let mut lines = BufReader::new(reader).lines();
                let _ = writer.write_all(b"220 fake.smtp ESMTP ready\r\n").await;
                let mut from = String::new();
                let mut to = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-fake.smtp greets you\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                        b"250 OK\r\n"
                    } else if upper.starts_with("RSET") {
                        from.clear();
                        to.clear();
                        b"250 OK\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        from = line[10..].trim().to_owned();
                        b"250 OK\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        to.push(line[8..].trim().to_owned());
                        b"250 OK\r\n"
                    } else if upper == "DATA" {
                        let _ = writer
                            .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                            .await;
                        let mut data = String::new();
                        while let Ok(Some(line)) = lines.next_line().await {
                            if line == "." {
                                break;
                            }
                            data.push_str(line.strip_prefix('.').unwrap_or(&line));
                            data.push('\n');
                        }
                        mailbox.lock().expect("the mailbox's lock").push(Mail {
                            from: std::mem::take(&mut from),
                            to: std::mem::take(&mut to),
                            data,
                        });
                        b"250 OK: queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = writer.write_all(b"221 Bye\r\n").await;
                        return;
                    } else {
                        b"502 Command not implemented\r\n"
                    };
                    if writer.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// The app with the Telegram channel on (against `bot_base`) and email through `smtp`, its sweeps running often.
async fn spawn_with_channels(
    db: PgPool,
    bot_base: Option<String>,
    smtp: Option<String>,
    max_attempts: i32,
) -> TestApp {
    spawn_app_with(db, move |c| {
        if let Some(base) = bot_base {
            with_bot(c, base);
            c.notify.telegram_webhook_secret = Some(HOOK_SECRET.to_owned().into());
        }
        c.notify.smtp_url = smtp.map(Into::into);
        c.notify.delivery_interval_ms = 50;
        c.notify.delivery_backoff_secs = 0;
        c.notify.delivery_max_attempts = max_attempts;
        c.notify.delivery_timeout_secs = 5;
    })
    .await
}

/// Points `c`'s Telegram channel at the fake Bot API at `base`.
fn with_bot(c: &mut server::config::ServeConfig, base: String) {
    c.notify.telegram_api_base = base;
    c.notify.telegram_bot_token = Some(BOT_TOKEN.to_owned().into());
    c.notify.telegram_bot_username = Some(BOT_NAME.to_owned());
}

/// Calls the bot's webhook as Telegram would, with `secret` in its header.
async fn webhook(app: &TestApp, secret: Option<&str>, update: Value) -> u16 {
    let mut request = app
        .http
        .post(format!("{}/api/v1/telegram/webhook", app.base))
        .json(&update);
    if let Some(secret) = secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    request
        .send()
        .await
        .expect("the server answers")
        .status()
        .as_u16()
}

fn start(chat_id: i64, text: &str) -> Value {
    json!({"update_id": chat_id, "message": {"message_id": 1, "date": 0,
           "chat": {"id": chat_id, "type": "private"}, "text": text}})
}

/// Links `user`'s Telegram to `chat_id` the way a person does: the deep link's token, sent as `/start <token>`.
async fn link(app: &TestApp, user: &TestUser, chat_id: i64) {
    let answer = app
        .post("/api/v1/me/telegram/link", &user.access, json!({}))
        .await;
    let url = answer.expect(201)["url"]
        .as_str()
        .expect("a link")
        .to_owned();
    let token = url
        .strip_prefix(&format!("https://t.me/{BOT_NAME}?start="))
        .expect("the bot's deep link");
    let status = webhook(
        app,
        Some(HOOK_SECRET),
        start(chat_id, &format!("/start {token}")),
    )
    .await;
    assert_eq!(status, 200);
}

/// Links many users' chats at once, directly (arranging a test).
async fn link_directly(app: &TestApp, users: &[&TestUser]) {
    for user in users {
        sqlx::query("insert into telegram_links (user_id, chat_id) values ($1, $1 + 1000000)")
            .bind(user.id)
            .execute(&app.db)
            .await
            .expect("the link is stored");
    }
}

/// Waits until `done` holds (checked every 50 ms), at most `limit`.
async fn wait_until<F, Fut>(limit: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many deliveries are in each status.
async fn statuses(db: &PgPool) -> HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>("select status, count(*) from deliveries group by status")
        .fetch_all(db)
        .await
        .expect("the deliveries are counted")
        .into_iter()
        .collect()
}

async fn pending(db: &PgPool) -> i64 {
    statuses(db).await.get("pending").copied().unwrap_or(0)
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn settings_start_at_the_role_defaults_and_a_bad_update_changes_nothing(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let worker = app.user(Role::Worker).await;
    let client = app.user(Role::Client).await;
    let admin = app.user(Role::Admin).await;

    // Act
    let of_worker = app
        .get("/api/v1/me/notification-settings", &worker.access)
        .await;
    let of_client = app
        .get("/api/v1/me/notification-settings", &client.access)
        .await;
    let of_admin = app
        .get("/api/v1/me/notification-settings", &admin.access)
        .await;

    // Assert
    let every = json!(["telegram", "web_push", "email"]);
    let worker_kinds = &of_worker.expect(200)["kinds"];
    assert_eq!(
        worker_kinds,
        &json!({"order_created": every, "order_assigned": every, "order_message": every})
    );
    let client_kinds = of_client.expect(200)["kinds"]
        .as_object()
        .expect("kinds")
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(
        client_kinds,
        [
            "order_message",
            "order_status_changed",
            "payment_canceled",
            "payment_confirmed"
        ]
    );
    assert_eq!(of_admin.expect(200)["digest_minutes"], 15);
    assert_eq!(of_worker.body["quiet_hours"], Value::Null);
    assert_eq!(
        of_worker.body["channels"]["telegram"],
        json!({"linked": false, "enabled": true, "available": false, "last_error": null})
    );
    let stored: i64 = sqlx::query_scalar("select count(*) from notification_settings")
        .fetch_one(&app.db)
        .await
        .expect("counted");
    assert_eq!(stored, 0, "defaults are not written");

    let bad = [
        (
            json!({"kinds": {"nope": ["email"]}, "digest_minutes": 0}),
            "kinds.nope",
            "an unknown kind",
        ),
        (
            json!({"kinds": {}, "digest_minutes": 5}),
            "digest_minutes",
            "a digest interval not offered",
        ),
        (
            json!({"kinds": {}, "digest_minutes": 0, "quiet_hours": {"from": "25:00", "to": "07:00"}}),
            "quiet_hours.from",
            "a time that is not one",
        ),
        (
            json!({"kinds": {}, "digest_minutes": 0, "quiet_hours": {"from": "07:00", "to": "07:00"}}),
            "quiet_hours",
            "empty quiet hours",
        ),
        (
            json!({"kinds": {"order_created": ["pigeon"]}, "digest_minutes": 0}),
            "kinds.order_created[0]",
            "an unknown channel",
        ),
    ];
    for (body, field, case) in bad {
        let answer = app
            .put("/api/v1/me/notification-settings", &worker.access, body)
            .await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        assert!(
            answer.body["errors"].get(field).is_some(),
            "{case}: expected an error on {field}: {}",
            answer.body
        );
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from notification_settings")
        .fetch_one(&app.db)
        .await
        .expect("counted");
    assert_eq!(stored, 0, "a refused update writes nothing");

    let good = json!({
        "channels": {"telegram": {"enabled": false, "linked": true}, "email": {"enabled": true}},
        "kinds": {"order_created": ["email", "telegram", "email"]},
        "quiet_hours": {"from": "22:00", "to": "08:00"},
        "digest_minutes": 0
    });
    let saved = app
        .put("/api/v1/me/notification-settings", &worker.access, good)
        .await;
    let saved = saved.expect(200);
    assert_eq!(
        saved["kinds"],
        json!({"order_created": ["email", "telegram"]})
    );
    assert_eq!(saved["channels"]["telegram"]["enabled"], false);
    assert_eq!(
        saved["channels"]["telegram"]["linked"], false,
        "read-only parts are ignored"
    );
    assert_eq!(
        saved["quiet_hours"],
        json!({"from": "22:00", "to": "08:00"})
    );
    let again = app
        .get("/api/v1/me/notification-settings", &worker.access)
        .await;
    assert_eq!(again.expect(200), saved);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn without_a_bot_token_telegram_is_off(pool: PgPool) {
    let app = spawn_app(pool).await;
    let worker = app.user(Role::Worker).await;

    let link = app
        .post("/api/v1/me/telegram/link", &worker.access, json!({}))
        .await;
    assert_eq!(link.status, 409, "{}", link.body);
    assert_eq!(
        webhook(&app, Some(HOOK_SECRET), start(1, "/stop")).await,
        404
    );

    // With no channel at all, the fan-out only moves its cursor past what was committed: no rows, and turning a
    // channel on later does not send this history.
    let admin = app.user(Role::Admin).await;
    let client = app.user(Role::Client).await;
    let service = app.service(&admin, &[&worker]).await;
    app.order(&client, service, Some(&worker)).await;
    let newest: i64 = sqlx::query_scalar("select max(id) from notifications")
        .fetch_one(&app.db)
        .await
        .expect("the order's event");
    wait_until(
        Duration::from_secs(10),
        "the cursor passes the order",
        || {
            let ctx = app.ctx.clone();
            async move {
                pipeline::fan_out(&ctx)
                    .await
                    .expect("a round of the fan-out");
                sqlx::query_scalar::<_, i64>("select upto from delivery_cursor")
                    .fetch_one(&ctx.db)
                    .await
                    .expect("the cursor")
                    >= newest
            }
        },
    )
    .await;
    let rows: i64 = sqlx::query_scalar("select count(*) from deliveries")
        .fetch_one(&app.db)
        .await
        .expect("counted");
    assert_eq!(rows, 0);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn linking_through_the_webhook_delivers_the_next_order_to_the_workers_chat_once(
    pool: PgPool,
) {
    // Arrange
    let bot: FakeBot = Arc::default();
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_with_channels(pool, Some(base), None, 8).await;
    let admin = app.user(Role::Admin).await;
    let worker = app.user(Role::Worker).await;
    let client = app.user(Role::Client).await;
    let service = app.service(&admin, &[&worker]).await;

    // Act: the link's token through the webhook, with and without the secret.
    let answer = app
        .post("/api/v1/me/telegram/link", &worker.access, json!({}))
        .await;
    let url = answer.expect(201)["url"]
        .as_str()
        .expect("a url")
        .to_owned();
    assert!(answer.body["expires_at"].is_string());
    // The settings page's button (a plain form) leads the browser to the same deep link, a fresh one.
    let form = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(format!("{}/_fn/create_telegram_link", app.base))
        .header("cookie", format!("task_access={}", worker.access))
        .header("sec-fetch-site", "same-origin")
        .header("accept", "text/html")
        .header("referer", format!("{}/settings", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("the server answers");
    assert_eq!(form.status().as_u16(), 302);
    let location = form
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        location.starts_with(&format!("https://t.me/{BOT_NAME}?start=")) && location != url,
        "{location}"
    );
    // A new link replaces the user's earlier one: the page's is the one that links.
    let url = location;
    let token = url
        .strip_prefix(&format!("https://t.me/{BOT_NAME}?start="))
        .expect("the bot's deep link")
        .to_owned();
    let command = start(4242, &format!("/start {token}"));
    assert_eq!(webhook(&app, None, command.clone()).await, 401, "no secret");
    assert_eq!(
        webhook(&app, Some("wrong"), command.clone()).await,
        401,
        "a wrong secret"
    );
    assert_eq!(webhook(&app, Some(HOOK_SECRET), command.clone()).await, 200);
    // The token is spent: another chat presenting it links nothing.
    assert_eq!(
        webhook(
            &app,
            Some(HOOK_SECRET),
            start(5151, &format!("/start {token}"))
        )
        .await,
        200
    );
    assert_eq!(
        webhook(&app, Some(HOOK_SECRET), json!({"update_id": 9})).await,
        200,
        "anything else is taken"
    );
    assert_eq!(
        webhook(&app, Some(HOOK_SECRET), json!([1, 2])).await,
        200,
        "even nonsense"
    );
    let settings = app
        .get("/api/v1/me/notification-settings", &worker.access)
        .await;
    assert_eq!(settings.expect(200)["channels"]["telegram"]["linked"], true);
    let chat: i64 = sqlx::query_scalar("select chat_id from telegram_links where user_id = $1")
        .bind(worker.id)
        .fetch_one(&app.db)
        .await
        .expect("linked");
    assert_eq!(chat, 4242);

    let order = app.order(&client, service, Some(&worker)).await["id"]
        .as_i64()
        .expect("an order id");

    // Assert: the worker's chat gets the order, with its link, once.
    wait_until(
        Duration::from_secs(15),
        "the order reaches the chat",
        || async { !Bot::sent(&bot).is_empty() },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = Bot::sent(&bot);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].chat_id, 4242);
    assert!(
        sent[0]
            .text
            .contains(&format!("http://testserver/orders/{order}")),
        "{}",
        sent[0].text
    );
    assert!(
        sent[0].text.contains(&format!("#{order}")),
        "{}",
        sent[0].text
    );
    let log = app
        .get(
            &format!("/api/v1/deliveries?user_id={}", worker.id),
            &admin.access,
        )
        .await;
    let log = log.expect(200);
    assert_eq!(log["count"], 1);
    assert_eq!(log["results"][0]["status"], "sent");
    assert_eq!(log["results"][0]["channel"], "telegram");
    assert_eq!(log["results"][0]["attempts"], 1);
    assert_eq!(
        app.get("/api/v1/deliveries", &worker.access).await.status,
        403,
        "the log is for admins"
    );
    for (query, count) in [
        ("?status=sent&channel=telegram", 1),
        ("?status=failed", 0),
        ("?channel=email", 0),
    ] {
        let log = app
            .get(&format!("/api/v1/deliveries{query}"), &admin.access)
            .await;
        assert_eq!(log.expect(200)["count"], count, "{query}");
    }
    assert_eq!(
        app.get("/api/v1/deliveries?status=lost", &admin.access)
            .await
            .status,
        400
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"deliveries_total{channel="telegram",outcome="sent"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("delivery_lag_seconds"), "{metrics}");

    // `/stop` unlinks.
    assert_eq!(
        webhook(&app, Some(HOOK_SECRET), start(4242, "/stop")).await,
        200
    );
    let settings = app
        .get("/api/v1/me/notification-settings", &worker.access)
        .await;
    assert_eq!(
        settings.expect(200)["channels"]["telegram"]["linked"],
        false
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_provider_failing_a_third_of_the_calls_still_delivers_every_message_exactly_once(
    pool: PgPool,
) {
    // Arrange: every third call fails; ten linked workers.
    let bot: FakeBot = Arc::new(Mutex::new(Bot {
        fail_every: Some(3),
        ..Bot::default()
    }));
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_with_channels(pool, Some(base), None, 30).await;
    let admin = app.user(Role::Admin).await;
    let client = app.user(Role::Client).await;
    let mut workers = Vec::new();
    for _ in 0..10 {
        workers.push(app.user(Role::Worker).await);
    }
    let refs: Vec<&TestUser> = workers.iter().collect();
    link_directly(&app, &refs).await;
    let service = app.service(&admin, &refs).await;

    // Act: three orders for each worker.
    let mut orders = Vec::new();
    for round in 0..3 {
        for worker in &workers {
            let id = app.order(&client, service, Some(worker)).await["id"]
                .as_i64()
                .expect("an order id");
            orders.push((id, worker.id, round));
        }
    }

    // Assert: every order reached its worker's chat once, though a third of the calls failed.
    wait_until(
        Duration::from_secs(60),
        "every delivery is sent",
        || async {
            statuses(&app.db).await.get("sent").copied().unwrap_or(0) == 30
                && pending(&app.db).await == 0
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = Bot::sent(&bot);
    let failed = Bot::all(&bot).len() - sent.len();
    assert!(failed >= 10, "a third of the calls failed: {failed}");
    assert_eq!(sent.len(), 30, "one accepted message per delivery");
    for (order, worker, _) in &orders {
        let chat = worker + 1_000_000;
        let to_it: Vec<_> = sent
            .iter()
            .filter(|c| c.chat_id == chat && c.text.ends_with(&format!("/orders/{order}")))
            .collect();
        assert_eq!(to_it.len(), 1, "order {order} to worker {worker}: {sent:?}");
    }
    let retried: i64 = sqlx::query_scalar("select count(*) from deliveries where attempts > 1")
        .fetch_one(&app.db)
        .await
        .expect("counted");
    assert!(retried > 0, "some were retried");
    assert_eq!(statuses(&app.db).await.get("failed"), None);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn one_chat_gets_at_most_one_message_a_second(pool: PgPool) {
    // Arrange: eight messages for one chat, due at once (more than a sender waits for: the later ones are held).
    let bot: FakeBot = Arc::default();
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_with_channels(pool, Some(base), None, 8).await;
    let user = app.user(Role::Worker).await;
    link(&app, &user, 333).await;

    // Act
    for _ in 0..8 {
        app.post(
            "/api/v1/me/notification-settings/test",
            &user.access,
            json!({}),
        )
        .await
        .expect(202);
    }

    // Assert: sent one by one, a second apart (the network may shorten a gap a little).
    wait_until(Duration::from_secs(30), "the eight are sent", || async {
        Bot::sent(&bot).len() == 8
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(Bot::all(&bot).len(), 8, "each sent once");
    let once: i64 = sqlx::query_scalar(
        "select count(*) from deliveries where status = 'sent' and attempts = 1",
    )
    .fetch_one(&app.db)
    .await
    .expect("counted");
    assert_eq!(once, 8, "waiting for a turn spends no attempt");
    let times: Vec<Instant> = Bot::all(&bot).iter().map(|c| c.at).collect();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(800),
            "two calls {:?} apart",
            pair[1] - pair[0]
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn two_senders_at_once_never_send_a_message_twice(pool: PgPool) {
    // Arrange: slow answers, so the senders' claims overlap; 20 linked users with 3 test messages each.
    let bot: FakeBot = Arc::new(Mutex::new(Bot {
        delay: Duration::from_millis(30),
        ..Bot::default()
    }));
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_with_channels(pool, Some(base.clone()), None, 8).await;
    // Another instance over the same database, with the same bot; and one without any channel, which must leave
    // the rows alone.
    let (secret, prefix) = (app.jwt_secret.clone(), app.redis_prefix.clone());
    let second = spawn_app_with(app.db.clone(), move |c| {
        c.jwt_secret = secret.into();
        c.redis_prefix = prefix;
        with_bot(c, base);
        c.notify.delivery_interval_ms = 50;
    })
    .await;
    let _third = app.second_instance().await;
    let mut users = Vec::new();
    for _ in 0..20 {
        users.push(app.user(Role::Client).await);
    }
    let refs: Vec<&TestUser> = users.iter().collect();
    link_directly(&app, &refs).await;

    // Act: both instances' sweeps, and two more senders in this test, drain the same rows.
    sqlx::query(
        "insert into deliveries (user_id, channel)
         select user_id, 'telegram' from telegram_links, generate_series(1, 3)",
    )
    .execute(&app.db)
    .await
    .expect("the deliveries are queued");
    let drain = |ctx: app::domain::Context| async move {
        loop {
            let claimed = pipeline::send_due(&ctx).await.expect("a round of sending");
            if claimed == 0 && pending(&ctx.db).await == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(drain(app.ctx.clone()), drain(second.ctx.clone()))
    })
    .await
    .expect("the rows are drained in time");

    // Assert
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        Bot::all(&bot).len(),
        60,
        "each of the 60 rows was sent once"
    );
    let once: i64 = sqlx::query_scalar(
        "select count(*) from deliveries where status = 'sent' and attempts = 1",
    )
    .fetch_one(&app.db)
    .await
    .expect("counted");
    assert_eq!(once, 60);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_row_held_by_a_sender_that_died_is_sent_when_its_lease_ends(pool: PgPool) {
    // Arrange: a row claimed by an instance that then died mid-send (its lease runs 2 more seconds).
    let bot: FakeBot = Arc::default();
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_with_channels(pool, Some(base), None, 8).await;
    let user = app.user(Role::Worker).await;
    link_directly(&app, &[&user]).await;
    let id: i64 = sqlx::query_scalar(
        "insert into deliveries (user_id, channel, attempts, lease, leased_until, next_attempt_at)
         values ($1, 'telegram', 1, gen_random_uuid(), now() + interval '2 seconds', now() + interval '2 seconds')
         returning id",
    )
    .bind(user.id)
    .fetch_one(&app.db)
    .await
    .expect("the row is stored");

    // Assert: untouched while the lease holds, sent once after.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(Bot::all(&bot).is_empty(), "a leased row is left alone");
    wait_until(Duration::from_secs(10), "the row is sent", || async {
        !Bot::sent(&bot).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(Bot::sent(&bot).len(), 1);
    let (status, attempts): (String, i32) =
        sqlx::query_as("select status, attempts from deliveries where id = $1")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .expect("the row");
    assert_eq!((status.as_str(), attempts), ("sent", 2));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_429_waits_its_retry_after_and_a_blocked_bot_unlinks_the_chat(pool: PgPool) {
    // Arrange: the first call is told to wait 2 seconds; one user blocked the bot.
    let bot: FakeBot = Arc::new(Mutex::new(Bot {
        too_many: 1,
        retry_after: 2,
        ..Bot::default()
    }));
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_with_channels(pool, Some(base), None, 8).await;
    let patient = app.user(Role::Client).await;
    link(&app, &patient, 111).await;

    // Act
    let queued = app
        .post(
            "/api/v1/me/notification-settings/test",
            &patient.access,
            json!({}),
        )
        .await;
    assert_eq!(queued.expect(202)["queued"], 1);

    // Assert
    wait_until(
        Duration::from_secs(15),
        "the test message is sent",
        || async { !Bot::sent(&bot).is_empty() },
    )
    .await;
    let calls = Bot::all(&bot);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].status, 429);
    assert!(
        calls[1].at - calls[0].at >= Duration::from_millis(1900),
        "retried after {:?}",
        calls[1].at - calls[0].at
    );
    assert!(calls[1].text.contains("test message"), "{}", calls[1].text);

    // A chat that blocked the bot: the message fails for good and the chat is unlinked.
    let blocker = app.user(Role::Client).await;
    link(&app, &blocker, 222).await;
    bot.lock().expect("the fake's lock").blocked.insert(222);
    app.post(
        "/api/v1/me/notification-settings/test",
        &blocker.access,
        json!({}),
    )
    .await
    .expect(202);
    // The chat is unlinked as the answer comes, and the row recorded just after.
    wait_until(
        Duration::from_secs(15),
        "the blocked chat is unlinked and its message recorded",
        || async {
            let (linked, done): (bool, bool) = sqlx::query_as(
                "select exists (select 1 from telegram_links where chat_id = 222), \
                        not exists (select 1 from deliveries where user_id = $1 and status = 'pending')",
            )
            .bind(blocker.id)
            .fetch_one(&app.db)
            .await
            .expect("checked");
            !linked && done
        },
    )
    .await;
    let (status, error): (String, Option<String>) =
        sqlx::query_as("select status, last_error from deliveries where user_id = $1")
            .bind(blocker.id)
            .fetch_one(&app.db)
            .await
            .expect("the row");
    assert_eq!(status, "failed");
    assert!(error.unwrap_or_default().contains("blocked"));
    let settings = app
        .get("/api/v1/me/notification-settings", &blocker.access)
        .await;
    let telegram = &settings.expect(200)["channels"]["telegram"];
    assert_eq!(telegram["linked"], false);
    assert!(
        telegram["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("blocked")),
        "the settings say why: {telegram}"
    );
    let calls_to_222 = Bot::all(&bot).iter().filter(|c| c.chat_id == 222).count();
    assert_eq!(calls_to_222, 1, "not retried");
    assert_eq!(bot.lock().expect("the fake's lock").wrong_token, 0);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn quiet_hours_hold_a_message_until_they_end(pool: PgPool) {
    // Arrange: quiet hours from an hour ago to an hour from now, Tashkent time.
    let bot: FakeBot = Arc::default();
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_with_channels(pool, Some(base), None, 8).await;
    let admin = app.user(Role::Admin).await;
    let worker = app.user(Role::Worker).await;
    let client = app.user(Role::Client).await;
    link_directly(&app, &[&worker]).await;
    let service = app.service(&admin, &[&worker]).await;
    let now = chrono::Utc::now().with_timezone(&app::domain::delivery::settings::tashkent());
    let hh = |t: chrono::DateTime<chrono::FixedOffset>| t.format("%H:00").to_string();
    let (from, to) = (
        hh(now - chrono::Duration::hours(1)),
        hh(now + chrono::Duration::hours(1)),
    );
    app.put(
        "/api/v1/me/notification-settings",
        &worker.access,
        json!({"kinds": {"order_created": ["telegram"]}, "quiet_hours": {"from": from, "to": to}, "digest_minutes": 0}),
    )
    .await
    .expect(200);

    // Act
    app.order(&client, service, Some(&worker)).await;

    // Assert: the row waits for the end of the quiet hours; nothing is sent.
    wait_until(
        Duration::from_secs(10),
        "the delivery row exists",
        || async { pending(&app.db).await == 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(Bot::all(&bot).is_empty());
    let wait: f64 = sqlx::query_scalar(
        "select extract(epoch from next_attempt_at - now())::float8 from deliveries where user_id = $1",
    )
    .bind(worker.id)
    .fetch_one(&app.db)
    .await
    .expect("the row");
    assert!(wait > 60.0 && wait <= 7200.0, "held for {wait} s");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn email_goes_out_through_a_real_smtp_conversation(pool: PgPool) {
    // Arrange
    let mailbox: Mailbox = Arc::default();
    let smtp = spawn_fake_smtp(mailbox.clone()).await;
    let app = spawn_with_channels(pool, None, Some(smtp), 8).await;
    let admin = app.user(Role::Admin).await;
    let worker = app.user(Role::Worker).await;
    let client = app.user(Role::Client).await;
    sqlx::query("update users set email = 'client@example.com' where id = $1")
        .bind(client.id)
        .execute(&app.db)
        .await
        .expect("the address is set");
    let service = app.service(&admin, &[&worker]).await;
    let order = app.order(&client, service, Some(&worker)).await["id"]
        .as_i64()
        .expect("an order id");

    // Act: a test message, then the worker writes on the order (the client's default kinds include messages).
    app.post(
        "/api/v1/me/notification-settings/test",
        &client.access,
        json!({}),
    )
    .await
    .expect(202);
    app.post(
        &format!("/api/v1/orders/{order}/messages"),
        &worker.access,
        json!({"text": "On my way"}),
    )
    .await
    .expect(201);

    // Assert
    wait_until(Duration::from_secs(15), "both emails arrive", || async {
        mailbox.lock().expect("the mailbox's lock").len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = mailbox.lock().expect("the mailbox's lock").clone();
    assert_eq!(mails.len(), 2, "{mails:?}");
    for mail in &mails {
        assert_eq!(mail.to, ["<client@example.com>"]);
        assert!(mail.from.contains("noreply@localhost"), "{}", mail.from);
    }
    let event = mails
        .iter()
        .find(|m| m.data.contains(&format!("/orders/{order}")))
        .expect("the order's email");
    assert!(
        event
            .data
            .contains(&format!("Subject: New message on order #{order}")),
        "{}",
        event.data
    );
    assert!(
        mails.iter().any(|m| m.data.contains("test message")),
        "{mails:?}"
    );
    assert_eq!(statuses(&app.db).await.get("sent"), Some(&2));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_digest_sends_one_message_listing_what_happened_in_its_interval(pool: PgPool) {
    // Arrange: an admin on the default 15-minute digest, with Telegram linked.
    let bot: FakeBot = Arc::default();
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_with_channels(pool, Some(base), None, 8).await;
    let admin = app.user(Role::Admin).await;
    let worker = app.user(Role::Worker).await;
    let client = app.user(Role::Client).await;
    link(&app, &admin, 555).await;
    let service = app.service(&admin, &[&worker]).await;

    // Act: two orders; then the interval ends.
    let mut orders = Vec::new();
    for _ in 0..2 {
        orders.push(
            app.order(&client, service, Some(&worker)).await["id"]
                .as_i64()
                .expect("an order id"),
        );
    }
    wait_until(
        Duration::from_secs(10),
        "the admin's rows wait for the digest",
        || async {
            let waiting: i64 = sqlx::query_scalar(
            "select count(*) from deliveries where user_id = $1 and digest and status = 'pending'
             and next_attempt_at > now()",
        )
        .bind(admin.id)
        .fetch_one(&app.db)
        .await
        .expect("counted");
            waiting == 2
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        Bot::all(&bot).is_empty(),
        "nothing before the interval ends"
    );
    sqlx::query("update deliveries set next_attempt_at = now() where user_id = $1")
        .bind(admin.id)
        .execute(&app.db)
        .await
        .expect("the interval ends");

    // Assert: one message naming both orders, and both rows sent.
    wait_until(Duration::from_secs(10), "the digest is sent", || async {
        !Bot::sent(&bot).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = Bot::sent(&bot);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].chat_id, 555);
    for order in &orders {
        assert!(
            sent[0]
                .text
                .contains(&format!("http://testserver/orders/{order}")),
            "{}",
            sent[0].text
        );
    }
    let sent_rows: i64 = sqlx::query_scalar(
        "select count(*) from deliveries where user_id = $1 and status = 'sent' and attempts = 1",
    )
    .bind(admin.id)
    .fetch_one(&app.db)
    .await
    .expect("counted");
    assert_eq!(sent_rows, 2);
}

/// A browser's public key (the Web Push spec's example).
const P256DH: &str = concat!(
    "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-",
    "Ts1XbjhazAkj7I99e8QcYP7DkM"
);

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn push_subscriptions_are_stored_per_device_and_counted_in_the_settings(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;
    let device = |n: u32| {
        json!({"endpoint": format!("https://push.example/send/{n}"),
               "keys": {"p256dh": P256DH,
                        "auth": "tBHItJI5svbpez7KI4CCXg"}})
    };

    // Act
    for n in [1, 2, 2] {
        app.post("/api/v1/me/push-subscriptions", &user.access, device(n))
            .await
            .expect(201);
    }
    let bad = app
        .post(
            "/api/v1/me/push-subscriptions",
            &user.access,
            json!({"endpoint": "http://push.example/x", "keys": {"p256dh": "a b", "auth": ""}}),
        )
        .await;

    // Assert
    assert_eq!(bad.status, 400, "{}", bad.body);
    for field in ["endpoint", "keys.p256dh", "keys.auth"] {
        assert!(
            bad.body["errors"].get(field).is_some(),
            "{field}: {}",
            bad.body
        );
    }
    let settings = app
        .get("/api/v1/me/notification-settings", &user.access)
        .await;
    assert_eq!(
        settings.expect(200)["channels"]["web_push"]["subscriptions"],
        2
    );
    let gone = app
        .call(
            reqwest::Method::DELETE,
            "/api/v1/me/push-subscriptions",
            Some(&user.access),
            Some(json!({"endpoint": "https://push.example/send/1"})),
        )
        .await;
    assert_eq!(gone.status, 204);
    let settings = app
        .get("/api/v1/me/notification-settings", &user.access)
        .await;
    assert_eq!(
        settings.expect(200)["channels"]["web_push"]["subscriptions"],
        1
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn blocking_the_bot_unlinks_the_chat_and_later_messages_are_skipped(pool: PgPool) {
    // Arrange
    let bot: FakeBot = Arc::default();
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_with_channels(pool, Some(base), None, 8).await;
    let user = app.user(Role::Client).await;
    link(&app, &user, 777).await;
    // A message queued while the chat is still linked.
    sqlx::query(
        "insert into deliveries (user_id, channel, next_attempt_at)
         values ($1, 'telegram', now() + interval '1 second')",
    )
    .bind(user.id)
    .execute(&app.db)
    .await
    .expect("queued");

    // Act: Telegram tells the webhook the user blocked the bot.
    let blocked = json!({"update_id": 1, "my_chat_member": {
        "chat": {"id": 777, "type": "private"}, "from": {"id": 777, "is_bot": false, "first_name": "A"},
        "date": 0, "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": true, "first_name": "B"}},
        "new_chat_member": {"status": "kicked", "until_date": 0,
                            "user": {"id": 1, "is_bot": true, "first_name": "B"}}}});
    assert_eq!(webhook(&app, Some(HOOK_SECRET), blocked).await, 200);

    // Assert: unlinked, and the queued message is skipped rather than sent.
    let settings = app
        .get("/api/v1/me/notification-settings", &user.access)
        .await;
    assert_eq!(
        settings.expect(200)["channels"]["telegram"]["linked"],
        false
    );
    wait_until(
        Duration::from_secs(10),
        "the queued message is settled",
        || async { pending(&app.db).await == 0 },
    )
    .await;
    assert_eq!(statuses(&app.db).await.get("skipped"), Some(&1));
    assert!(Bot::all(&bot).is_empty());
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_provider_down_for_a_while_gets_every_message_once_when_it_is_back(pool: PgPool) {
    // Arrange: the Bot API is down for 30 seconds; retries back off from 1 second, doubling (the sixth attempt,
    // 31 s in, finds it back).
    let bot: FakeBot = Arc::new(Mutex::new(Bot {
        down_until: Some(Instant::now() + Duration::from_secs(30)),
        ..Bot::default()
    }));
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_app_with(pool, move |c| {
        with_bot(c, base);
        c.notify.delivery_interval_ms = 50;
        c.notify.delivery_backoff_secs = 1;
    })
    .await;
    let mut users = Vec::new();
    for _ in 0..5 {
        users.push(app.user(Role::Client).await);
    }
    let refs: Vec<&TestUser> = users.iter().collect();
    link_directly(&app, &refs).await;

    // Act
    for user in &users {
        app.post(
            "/api/v1/me/notification-settings/test",
            &user.access,
            json!({}),
        )
        .await
        .expect(202);
    }

    // Assert: refused while down, each sent once after, none failed.
    wait_until(Duration::from_secs(90), "every message is sent", || async {
        statuses(&app.db).await.get("sent").copied().unwrap_or(0) == 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = Bot::all(&bot);
    assert!(calls.iter().any(|c| c.status == 502), "the outage was met");
    let mut accepted: Vec<i64> = Bot::sent(&bot).iter().map(|c| c.chat_id).collect();
    accepted.sort_unstable();
    let mut expected: Vec<i64> = users.iter().map(|u| u.id + 1_000_000).collect();
    expected.sort_unstable();
    assert_eq!(accepted, expected, "one accepted message per chat");
    let retried: i64 = sqlx::query_scalar(
        "select count(*) from deliveries where attempts > 1 and last_error like '%502%'",
    )
    .fetch_one(&app.db)
    .await
    .expect("counted");
    assert_eq!(
        retried, 5,
        "each was retried after the outage, its last error kept"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_instance_killed_with_sigkill_mid_send_loses_no_message(pool: PgPool) {
    // Arrange: a slow Bot API (it takes each message at once and answers after 1.5 s), and a child instance (the
    // server binary) that does all the sending: this process's instance has the same channels but its sweeps wait
    // an hour, so it sends only when the test asks it to.
    let bot = FakeBot::default();
    bot.lock().expect("the fake's lock").delay = Duration::from_millis(1500);
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_app_with(pool.clone(), {
        let base = base.clone();
        move |c| {
            with_bot(c, base);
            c.notify.delivery_interval_ms = 3_600_000;
            c.notify.delivery_timeout_secs = 5;
        }
    })
    .await;
    let mut users = Vec::new();
    for _ in 0..6 {
        users.push(app.user(Role::Client).await);
    }
    link_directly(&app, &users.iter().collect::<Vec<_>>()).await;
    let port = crate::live::free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("serve")
        .env("DATABASE_URL", crate::operations::database_url(&pool))
        .env("JWT_SECRET", &app.jwt_secret)
        .env("REDIS_URL", &app.redis_url)
        .env("REDIS_PREFIX", &app.redis_prefix)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("TELEGRAM_API_BASE", &base)
        .env("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
        .env("TELEGRAM_BOT_USERNAME", BOT_NAME)
        .env("DELIVERY_INTERVAL_MS", "50")
        .env("DELIVERY_TIMEOUT_SECS", "5")
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts");

    // Act: a message for each user; the child is killed while the Bot API holds its first answers.
    for user in &users {
        app.post(
            "/api/v1/me/notification-settings/test",
            &user.access,
            json!({}),
        )
        .await
        .expect(202);
    }
    wait_until(Duration::from_secs(30), "the child is mid-send", || async {
        !Bot::all(&bot).is_empty()
    })
    .await;
    child.start_kill().expect("SIGKILL is sent");
    child.wait().await.expect("the child exits");
    // The rows it held: taken by Telegram or not, their outcome is not recorded.
    let orphaned: i64 = sqlx::query_scalar(
        "select count(*) from deliveries where status = 'pending' and lease is not null",
    )
    .fetch_one(&app.db)
    .await
    .expect("counted");
    assert!(orphaned > 0, "the child died holding rows");
    // This instance sends what is left, the orphaned rows once their lease has ended.
    wait_until(Duration::from_secs(60), "every message is sent", || async {
        pipeline::send_due(&app.ctx).await.expect("the sweep runs");
        pending(&app.db).await == 0
    })
    .await;

    // Assert: every user got their message; a second copy only of a message the child had handed over when it
    // died, and never more of them than rows it left behind.
    assert_eq!(statuses(&app.db).await.get("sent"), Some(&6));
    let sent = Bot::sent(&bot);
    let mut per_chat: HashMap<i64, usize> = HashMap::new();
    for call in &sent {
        *per_chat.entry(call.chat_id).or_default() += 1;
    }
    for user in &users {
        assert!(
            per_chat
                .get(&(user.id + 1_000_000))
                .is_some_and(|n| *n >= 1),
            "user {} got nothing",
            user.id
        );
    }
    let duplicates: usize = per_chat.values().map(|n| n - 1).sum();
    assert!(
        i64::try_from(duplicates).unwrap_or(i64::MAX) <= orphaned,
        "{duplicates} duplicates, {orphaned} rows orphaned"
    );
}

/// A TCP proxy in front of PostgreSQL that can drop every connection and refuse new ones for a while: to the app
/// behind it, the database restarted.
struct Outage {
    port: u16,
    down: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Outage {
    async fn start(upstream: (String, u16)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let port = listener.local_addr().expect("an address").port();
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (flag, handles) = (down.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                handles.lock().expect("the proxy's lock").push(link);
            }
        });
        Self { port, down, links }
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().expect("the proxy's lock").drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Waits until the delivery sweep has passed every notification so far.
pub(crate) async fn settled(db: &PgPool) {
    wait_until(Duration::from_secs(15), "the sweep caught up", || async {
        let (upto, last): (Option<i64>, Option<i64>) = sqlx::query_as(
            "select (select upto from delivery_cursor), (select max(id) from notifications)",
        )
        .fetch_one(db)
        .await
        .expect("the cursor");
        upto.unwrap_or(0) >= last.unwrap_or(0)
    })
    .await;
}

/// Checks that every delivery is sent and the Bot API took each one, a second time at most for a row claimed
/// again (a row's attempts past the first: the provider never fails in these tests, so only a re-claim after a
/// lost outcome adds one).
async fn every_row_sent_once_outside_the_window(db: &PgPool, bot: &FakeBot) -> usize {
    let rows: Vec<(i64, i32)> = sqlx::query_as(
        "select t.chat_id, d.attempts from deliveries d join telegram_links t using (user_id) \
         where d.status = 'sent'",
    )
    .fetch_all(db)
    .await
    .expect("the rows");
    assert_eq!(pending(db).await, 0);
    assert_eq!(
        statuses(db).await.values().sum::<i64>(),
        i64::try_from(rows.len()).unwrap_or_default(),
        "every row is sent"
    );
    let mut expected: HashMap<i64, usize> = HashMap::new();
    let mut reclaims = 0;
    for (chat, attempts) in &rows {
        *expected.entry(*chat).or_default() += 1;
        reclaims += usize::try_from(attempts - 1).unwrap_or_default();
    }
    let mut got: HashMap<i64, usize> = HashMap::new();
    for call in Bot::sent(bot) {
        *got.entry(call.chat_id).or_default() += 1;
    }
    let mut duplicates = 0;
    for (chat, n) in &expected {
        let taken = got.get(chat).copied().unwrap_or(0);
        assert!(taken >= *n, "chat {chat}: {taken} of {n} messages");
        duplicates += taken - n;
    }
    assert!(
        duplicates <= reclaims,
        "{duplicates} duplicates, {reclaims} re-claims"
    );
    rows.len()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_postgresql_restart_mid_send_loses_no_message(pool: PgPool) {
    // Arrange: the app reaches PostgreSQL through a proxy that can cut it off; the Bot API answers slowly.
    let options = pool.connect_options();
    let upstream = (options.get_host().to_owned(), options.get_port());
    let outage = Outage::start(upstream).await;
    let through = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with((*options).clone().host("127.0.0.1").port(outage.port))
        .await
        .expect("connected through the proxy");
    let bot = FakeBot::default();
    bot.lock().expect("the fake's lock").delay = Duration::from_millis(400);
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_with_channels(through, Some(base), None, 8).await;
    let w = crate::helpers::World::new(&app).await;
    settled(&pool).await;
    link_directly(&app, &[&w.client_a, &w.worker_a]).await;

    // Act: messages are fanned out and sent; PostgreSQL goes away for 3 s in the middle of it, and comes back.
    for text in ["one", "two", "three"] {
        post_message(&app, &w.worker_a, w.order_a, text).await;
    }
    wait_until(Duration::from_secs(15), "a send is under way", || async {
        !Bot::all(&bot).is_empty()
    })
    .await;
    outage.cut();
    tokio::time::sleep(Duration::from_secs(3)).await;
    outage.restore();
    post_message(&app, &w.worker_a, w.order_a, "after").await;
    settled(&pool).await;
    wait_until(Duration::from_secs(60), "every message is sent", || async {
        pending(&pool).await == 0
    })
    .await;

    // Assert: the four messages reached both chats (client A's and worker A's), each once but for the window.
    let rows = every_row_sent_once_outside_the_window(&pool, &bot).await;
    assert_eq!(rows, 8, "4 messages × 2 linked chats");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_redis_restart_loses_no_message(pool: PgPool) {
    // Arrange: a private Redis, stopped and started again while messages are on their way.
    let redis = crate::live::PrivateRedis::start(crate::live::free_port());
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let bot = FakeBot::default();
    let base = spawn_fake_bot(bot.clone()).await;
    let app = spawn_app_with(pool.clone(), move |c| {
        c.redis_url = url;
        with_bot(c, base);
        c.notify.delivery_interval_ms = 50;
        c.notify.delivery_backoff_secs = 0;
        c.notify.delivery_timeout_secs = 5;
    })
    .await;
    let w = crate::helpers::World::new(&app).await;
    settled(&pool).await;
    link_directly(&app, &[&w.client_a, &w.worker_a]).await;

    // Act
    post_message(&app, &w.worker_a, w.order_a, "before").await;
    let port = redis.stop();
    for text in ["during 1", "during 2"] {
        post_message(&app, &w.worker_a, w.order_a, text).await;
    }
    let _redis = crate::live::PrivateRedis::start(port);
    post_message(&app, &w.worker_a, w.order_a, "after").await;
    settled(&pool).await;
    wait_until(Duration::from_secs(30), "every message is sent", || async {
        pending(&pool).await == 0
    })
    .await;

    // Assert: nothing was lost, and with no instance dying nothing was sent twice.
    let rows = every_row_sent_once_outside_the_window(&pool, &bot).await;
    assert_eq!(rows, 8, "4 messages × 2 linked chats");
    assert_eq!(Bot::sent(&bot).len(), 8, "no duplicate");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_telegram_limits_hold_for_all_instances_together(pool: PgPool) {
    // Arrange: two instances over one database and one Redis, each allowed 5 messages a second; 20 chats with a
    // message each, and one chat with four.
    let bot: FakeBot = Arc::default();
    let base = spawn_fake_bot(bot.clone()).await;
    let channels = |base: String| {
        move |c: &mut server::config::ServeConfig| {
            with_bot(c, base);
            c.notify.telegram_messages_per_second = 5;
            c.notify.delivery_interval_ms = 50;
            c.notify.delivery_timeout_secs = 5;
        }
    };
    let app = spawn_app_with(pool, channels(base.clone())).await;
    let (secret, prefix) = (app.jwt_secret.clone(), app.redis_prefix.clone());
    let tweak = channels(base);
    let _other = spawn_app_with(app.db.clone(), move |c| {
        tweak(c);
        c.jwt_secret = secret.into();
        c.redis_prefix = prefix;
    })
    .await;
    let mut users = Vec::new();
    for _ in 0..20 {
        users.push(app.user(Role::Client).await);
    }
    link_directly(&app, &users.iter().collect::<Vec<_>>()).await;
    let busy = &users[0];

    // Act
    for user in &users {
        app.post(
            "/api/v1/me/notification-settings/test",
            &user.access,
            json!({}),
        )
        .await
        .expect(202);
    }
    for _ in 0..3 {
        app.post(
            "/api/v1/me/notification-settings/test",
            &busy.access,
            json!({}),
        )
        .await
        .expect(202);
    }

    // Assert: never more than 5 in a second across both instances (one more at a window's edge), and the busy
    // chat's messages a second apart.
    wait_until(Duration::from_secs(60), "all are sent", || async {
        Bot::sent(&bot).len() == 23
    })
    .await;
    let calls = Bot::all(&bot);
    assert_eq!(calls.len(), 23, "each sent once");
    let times: Vec<Instant> = calls.iter().map(|c| c.at).collect();
    for (i, start) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .take_while(|t| **t - *start < Duration::from_secs(1))
            .count();
        assert!(within <= 6, "{within} calls within a second");
    }
    let busy_chat = busy.id + 1_000_000;
    let busy_times: Vec<Instant> = calls
        .iter()
        .filter(|c| c.chat_id == busy_chat)
        .map(|c| c.at)
        .collect();
    assert_eq!(busy_times.len(), 4);
    for pair in busy_times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(800),
            "two calls to one chat {:?} apart",
            pair[1] - pair[0]
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_delivery_log_counts_from_the_tallies_and_pages_from_either_end(pool: PgPool) {
    // Arrange: 90 rows of three users over every status and channel, some of them changed after they came.
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let users = [
        app.user(Role::Client).await,
        app.user(Role::Worker).await,
        app.user(Role::Client).await,
    ];
    sqlx::query(
        "insert into deliveries (user_id, channel, status)
         select ($1::bigint[])[1 + g % 3], (array['telegram', 'web_push', 'email'])[1 + g / 30],
                (array['pending', 'sent', 'failed', 'skipped'])[1 + g % 4]
         from generate_series(0, 89) g",
    )
    .bind(users.iter().map(|u| u.id).collect::<Vec<_>>())
    .execute(&app.db)
    .await
    .expect("the rows");
    sqlx::query("update deliveries set status = 'sent' where status = 'pending' and id % 2 = 0")
        .execute(&app.db)
        .await
        .expect("some are sent");
    let user = users[1].id;
    let filters = [
        String::new(),
        "status=sent".to_owned(),
        "channel=email".to_owned(),
        "status=failed&channel=web_push".to_owned(),
        format!("user_id={user}"),
        format!("user_id={user}&status=sent"),
    ];
    for filter in &filters {
        // What the log must show, newest first.
        let status = filter.split('&').find_map(|p| p.strip_prefix("status="));
        let channel = filter.split('&').find_map(|p| p.strip_prefix("channel="));
        let by_user = filter.contains("user_id");
        let expected: Vec<i64> = sqlx::query_scalar(
            "select id from deliveries where ($1::text is null or status = $1)
             and ($2::text is null or channel = $2) and (not $3 or user_id = $4) order by id desc",
        )
        .bind(status)
        .bind(channel)
        .bind(by_user)
        .bind(user)
        .fetch_all(&app.db)
        .await
        .expect("the rows");

        // Act: every page of 7, the first and the far ones.
        let mut shown = Vec::new();
        let mut offset = 0;
        loop {
            let page = app
                .get(
                    &format!("/api/v1/deliveries?{filter}&limit=7&offset={offset}"),
                    &admin.access,
                )
                .await;
            let body = page.expect(200);
            assert_eq!(
                body["count"].as_i64(),
                i64::try_from(expected.len()).ok(),
                "{filter}: the count"
            );
            let ids: Vec<i64> = body["results"]
                .as_array()
                .expect("results")
                .iter()
                .filter_map(|d| d["id"].as_i64())
                .collect();
            if ids.is_empty() {
                break;
            }
            shown.extend(ids);
            offset += 7;
        }

        // Assert
        assert_eq!(shown, expected, "{filter}: the rows, newest first");
    }
}

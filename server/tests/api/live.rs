//! The live feed over a real WebSocket client: authentication before the upgrade, every frame type, visibility,
//! replay after `after_id`, several sockets per user, concurrent writers, two instances, a Redis restart, an
//! instance killed with -9, and a socket that falls behind.

use std::{process::Stdio, time::Duration};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest as _},
};

use crate::helpers::{TestApp, TestUser, World, spawn_app, spawn_app_with};
use app::models::Role;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The upgrade request of the feed at `base` (`ws://…`), with `token` as the bearer if given.
fn feed_request(
    base: &str,
    token: Option<&str>,
    query: &str,
) -> Result<tungstenite::handshake::client::Request, tungstenite::Error> {
    let mut request = format!("{base}/ws/notifications{query}").into_client_request()?;
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
    }
    Ok(request)
}

async fn try_connect(
    base: &str,
    token: Option<&str>,
    query: &str,
) -> Result<Ws, tungstenite::Error> {
    tokio_tungstenite::connect_async(feed_request(base, token, query)?)
        .await
        .map(|(ws, _)| ws)
}

async fn connect(app: &TestApp, user: &TestUser, after_id: Option<i64>) -> Ws {
    let query = after_id.map_or_else(String::new, |id| format!("?after_id={id}"));
    try_connect(&app.ws_base(), Some(&user.access), &query)
        .await
        .expect("the socket opens")
}

/// The next JSON frame (protocol pings skipped), or `None` if the socket closed.
async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(&text).expect("JSON frames"));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Binary(_))) => panic!("binary frame"),
            Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
        }
    }
}

async fn frame(ws: &mut Ws) -> Value {
    next(ws).await.expect("the socket is open")
}

/// Reads the hello frame and checks it.
async fn hello(ws: &mut Ws, user: &TestUser) -> i64 {
    let hello = frame(ws).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    assert_eq!(hello["user_id"], user.id);
    hello["last_id"].as_i64().expect("last_id")
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .expect("sent");
}

/// Sends a ping and returns every frame before the pong: proves nothing else was queued.
async fn drain(ws: &mut Ws) -> Vec<Value> {
    send(ws, json!({"type": "ping"})).await;
    let mut before = Vec::new();
    loop {
        let f = frame(ws).await;
        if f["type"] == "pong" {
            return before;
        }
        before.push(f);
    }
}

fn notification_id(frame: &Value) -> i64 {
    assert_eq!(frame["type"], "notification", "{frame}");
    frame["notification"]["id"].as_i64().expect("an id")
}

pub(crate) async fn post_message(app: &TestApp, user: &TestUser, order: i64, text: &str) {
    app.post(
        &format!("/api/v1/orders/{order}/messages"),
        &user.access,
        json!({"text": text}),
    )
    .await
    .expect(201);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_socket_refuses_bad_credentials_before_the_upgrade(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;
    let cases = [
        (None, String::new(), "no token"),
        (Some("garbage"), String::new(), "a malformed token"),
        (
            Some(user.refresh.as_str()),
            String::new(),
            "a refresh token",
        ),
        (
            None,
            format!("?token={}", user.access),
            "a token in the query string",
        ),
        (
            None,
            format!("?access={}", user.access),
            "a token in the query string",
        ),
    ];
    for (token, query, description) in cases {
        match try_connect(&app.ws_base(), token, &query).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 401, "{description}")
            }
            Ok(_) => panic!("{description}: the socket opened"),
            Err(e) => panic!("{description}: {e}"),
        }
    }
    // The browser's cookie works like the header (from the site's own page, as the browser says in `Origin`).
    let mut request = format!("{}/ws/notifications", app.ws_base())
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "cookie",
        format!("task_access={}", user.access)
            .parse()
            .expect("a header value"),
    );
    request
        .headers_mut()
        .insert("origin", app.base.parse().expect("a header value"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the cookie is accepted");
    hello(&mut ws, &user).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn each_role_receives_exactly_the_events_it_may_see(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut sockets = Vec::new();
    for user in [&w.admin, &w.client_a, &w.worker_a, &w.client_b, &w.worker_b] {
        let mut ws = connect(&app, user, None).await;
        let hello_frame = frame(&mut ws).await;
        assert_eq!(hello_frame["role"], user_role(&w, user));
        sockets.push(ws);
    }

    post_message(&app, &w.client_a, w.order_a, "for A").await;
    post_message(&app, &w.client_b, w.order_b, "for B").await;

    let mut got = Vec::new();
    for ws in &mut sockets {
        // Events committed just before the socket opened may still arrive live: only the messages matter here.
        let frames: Vec<Value> = collect(ws, 2)
            .await
            .into_iter()
            .filter(|f| f["notification"]["kind"] == "order_message")
            .collect();
        got.push(
            frames
                .iter()
                .map(|f| {
                    f["notification"]["data"]["text"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(got[0], ["for A", "for B"], "admin");
    assert_eq!(got[1], ["for A"], "client A");
    assert_eq!(got[2], ["for A"], "worker A");
    assert_eq!(got[3], ["for B"], "client B");
    assert_eq!(got[4], ["for B"], "worker B");
}

fn user_role(w: &World, user: &TestUser) -> &'static str {
    if user.id == w.admin.id {
        "admin"
    } else if user.id == w.worker_a.id || user.id == w.worker_b.id {
        "worker"
    } else {
        "client"
    }
}

/// Reads frames until `expected` notifications arrived or a ping round-trip shows nothing more is queued; the
/// round-trip happens after a short pause so late frames are not missed.
async fn collect(ws: &mut Ws, expected: usize) -> Vec<Value> {
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while frames.len() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        frames.extend(
            drain(ws)
                .await
                .into_iter()
                .filter(|f| f["type"] == "notification"),
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    frames.extend(
        drain(ws)
            .await
            .into_iter()
            .filter(|f| f["type"] == "notification"),
    );
    frames
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn after_id_replays_what_was_missed_then_continues_live(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let first = app
        .get("/api/v1/notifications", &w.client_a.access)
        .await
        .ids()[0];
    post_message(&app, &w.worker_a, w.order_a, "one").await;
    post_message(&app, &w.worker_a, w.order_a, "two").await;
    post_message(&app, &w.client_b, w.order_b, "not for A").await;

    let mut ws = connect(&app, &w.client_a, Some(first)).await;
    let last_id = hello(&mut ws, &w.client_a).await;
    let one = frame(&mut ws).await;
    let two = frame(&mut ws).await;
    post_message(&app, &w.worker_a, w.order_a, "three").await;
    let three = frame(&mut ws).await;

    assert_eq!(one["notification"]["data"]["text"], "one");
    assert_eq!(two["notification"]["data"]["text"], "two");
    assert_eq!(
        notification_id(&two),
        last_id,
        "hello names the newest id of the caller's feed"
    );
    assert_eq!(three["notification"]["data"]["text"], "three");
    assert_eq!(three["notification"]["read"], false);
    assert!(
        notification_id(&one) < notification_id(&two)
            && notification_id(&two) < notification_id(&three)
    );
    assert!(drain(&mut ws).await.is_empty());
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn live_frames_match_the_stored_events_and_a_gap_in_the_ids_loses_nothing(pool: PgPool) {
    // Arrange: a socket, then events that the committing requests hand to the feed (an order, a message), an id
    // taken and never committed (as by a rolled-back transaction or another instance), and more events after it.
    let app = spawn_app(pool.clone()).await;
    let w = World::new(&app).await;
    let mut ws = connect(&app, &w.client_a, None).await;
    hello(&mut ws, &w.client_a).await;

    // Act
    let order = app.order(&w.client_a, w.service, Some(&w.worker_a)).await["id"]
        .as_i64()
        .expect("an order id");
    post_message(&app, &w.worker_a, order, "before the gap").await;
    let mut live = vec![frame(&mut ws).await, frame(&mut ws).await];
    sqlx::query("select nextval('notifications_id_seq')")
        .execute(&pool)
        .await
        .expect("an id taken");
    post_message(&app, &w.worker_a, order, "after the gap").await;
    post_message(&app, &w.worker_a, order, "and after that").await;
    live.push(frame(&mut ws).await);
    live.push(frame(&mut ws).await);

    // Assert: every event once, in id order, each frame exactly the event as the REST API stores it.
    let texts: Vec<&Value> = live
        .iter()
        .map(|f| &f["notification"]["data"]["text"])
        .collect();
    assert_eq!(
        texts,
        [
            &Value::Null,
            &json!("before the gap"),
            &json!("after the gap"),
            &json!("and after that")
        ]
    );
    assert_eq!(live[0]["notification"]["kind"], "order_created");
    // The order's first frame carries the order as placed (what a list row shows); a message's carries none.
    let placed = app
        .get(&format!("/api/v1/orders/{order}"), &w.client_a.access)
        .await;
    for field in [
        "id",
        "client_id",
        "worker_id",
        "service_id",
        "service_name",
        "price",
        "description",
        "client",
        "worker",
        "created_at",
    ] {
        assert_eq!(
            live[0]["order"][field], placed.body[field],
            "the order_created frame's order.{field}: {}",
            live[0]
        );
    }
    assert_eq!(live[0]["order"]["status"], "pending");
    assert!(
        live[1..].iter().all(|f| f.get("order").is_none()),
        "{live:?}"
    );
    let ids: Vec<i64> = live.iter().map(notification_id).collect();
    assert!(ids.windows(2).all(|p| p[0] < p[1]), "{ids:?}");
    let stored = app
        .get(
            &format!("/api/v1/notifications?order_id={order}"),
            &w.client_a.access,
        )
        .await;
    for f in &live {
        let id = notification_id(f);
        let row = stored.body["results"]
            .as_array()
            .and_then(|r| r.iter().find(|n| n["id"] == id))
            .unwrap_or_else(|| panic!("event {id} is stored: {}", stored.body));
        assert_eq!(
            &f["notification"], row,
            "the live frame of {id} is the stored event"
        );
    }
    assert!(drain(&mut ws).await.is_empty());
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn pings_get_pongs_and_bad_frames_get_errors_without_closing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;
    let mut ws = connect(&app, &user, None).await;
    hello(&mut ws, &user).await;

    let cases = [
        ("not json", "malformed"),
        (r#"{"type": "dance"}"#, "unknown_type"),
        (r#"{"no_type": 1}"#, "malformed"),
        (r#"{"type": "mark_read", "ids": "all"}"#, "malformed"),
        (r#"{"type": "ping", "extra": 1}"#, "malformed"),
    ];
    for (text, code) in cases {
        ws.send(Message::Text(text.into())).await.expect("sent");
        let reply = frame(&mut ws).await;
        assert_eq!(
            (reply["type"].as_str(), reply["code"].as_str()),
            (Some("error"), Some(code)),
            "{text}: {reply}"
        );
    }
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("sent");
    assert_eq!(frame(&mut ws).await["code"], "unsupported");
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(frame(&mut ws).await, json!({"type": "pong"}));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn mark_read_tells_the_users_other_sockets_and_only_them(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut tab1 = connect(&app, &w.client_a, None).await;
    let mut tab2 = connect(&app, &w.client_a, None).await;
    let mut other = connect(&app, &w.client_b, None).await;
    hello(&mut tab1, &w.client_a).await;
    hello(&mut tab2, &w.client_a).await;
    hello(&mut other, &w.client_b).await;
    let mine = app
        .get("/api/v1/notifications", &w.client_a.access)
        .await
        .ids()[0];
    let theirs = app
        .get("/api/v1/notifications", &w.client_b.access)
        .await
        .ids()[0];

    send(
        &mut tab1,
        json!({"type": "mark_read", "ids": [mine, theirs]}),
    )
    .await;

    assert_eq!(
        frame(&mut tab2).await,
        json!({"type": "read", "ids": [mine]})
    );
    assert!(
        drain(&mut tab1).await.is_empty(),
        "the tab that marked them is not told"
    );
    assert!(
        drain(&mut other).await.is_empty(),
        "another user is not told"
    );
    assert_eq!(
        app.get("/api/v1/notifications/unread-count", &w.client_a.access)
            .await
            .expect(200)["count"],
        0
    );
    assert_eq!(
        app.get("/api/v1/notifications/unread-count", &w.client_b.access)
            .await
            .expect(200)["count"],
        1
    );

    // Read state changed over REST reaches every socket of the user.
    post_message(&app, &w.worker_a, w.order_a, "new").await;
    let new_id = notification_id(&frame(&mut tab1).await);
    assert_eq!(notification_id(&frame(&mut tab2).await), new_id);
    app.post(
        "/api/v1/notifications/read-all",
        &w.client_a.access,
        json!({}),
    )
    .await
    .expect(200);
    assert_eq!(
        frame(&mut tab1).await,
        json!({"type": "read", "ids": [new_id]})
    );
    assert_eq!(
        frame(&mut tab2).await,
        json!({"type": "read", "ids": [new_id]})
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_socket_of_a_user_gets_every_event_and_closing_one_spares_the_others(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut tabs = Vec::new();
    for _ in 0..3 {
        let mut ws = connect(&app, &w.worker_a, None).await;
        hello(&mut ws, &w.worker_a).await;
        tabs.push(ws);
    }

    post_message(&app, &w.client_a, w.order_a, "first").await;
    for ws in &mut tabs {
        assert_eq!(frame(ws).await["notification"]["data"]["text"], "first");
    }
    let mut closed = tabs.remove(0);
    closed.close(None).await.expect("closed");
    post_message(&app, &w.client_a, w.order_a, "second").await;

    for ws in &mut tabs {
        assert_eq!(frame(ws).await["notification"]["data"]["text"], "second");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_socket_that_never_answers_pings_is_closed(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.feed_ping_secs = 1).await;
    let user = app.user(Role::Client).await;
    let mut silent = connect(&app, &user, None).await;
    let mut alive = connect(&app, &user, None).await;
    hello(&mut silent, &user).await;
    hello(&mut alive, &user).await;

    // `alive` keeps reading (so its client answers the server's pings); `silent` reads nothing for 3.5 s.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(3500);
    while tokio::time::Instant::now() < deadline {
        assert!(drain(&mut alive).await.is_empty());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    assert_eq!(
        next(&mut silent).await,
        None,
        "a socket silent for two ping intervals stays open"
    );
    assert!(
        drain(&mut alive).await.is_empty(),
        "the answering socket was closed too"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_deactivated_users_sockets_close(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut ws = connect(&app, &w.worker_a, None).await;
    hello(&mut ws, &w.worker_a).await;

    app.delete(&format!("/api/v1/users/{}", w.worker_a.id), &w.admin.access)
        .await
        .expect(204);

    assert_eq!(
        next(&mut ws).await,
        None,
        "the socket stays open after deactivation"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn concurrent_writers_and_a_reconnecting_reader_see_every_id_once_in_order(pool: PgPool) {
    reconnecting_reader_under_concurrent_writers(pool, 16_384).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_reader_resuming_inside_and_outside_the_events_kept_in_memory_sees_every_id_once_in_order(
    pool: PgPool,
) {
    // Eight events kept: the reader's resumes are caught up from memory or from the database, whichever holds
    // what it missed.
    reconnecting_reader_under_concurrent_writers(pool, 8).await;
}

/// Eight writers post 200 messages while an admin's reader keeps dropping its socket and resuming after the last id
/// it saw, on an instance that keeps the latest `recent` events in memory.
async fn reconnecting_reader_under_concurrent_writers(pool: PgPool, recent: usize) {
    let app = spawn_app_with(pool.clone(), |c| c.feed_recent_events = recent).await;
    let w = World::new(&app).await;
    let start = app
        .get("/api/v1/notifications?limit=1", &w.admin.access)
        .await
        .ids()[0];

    // Arrange: eight writers, each posting 25 messages on orders A and B as fast as they can.
    let mut writers = Vec::new();
    for i in 0..8 {
        let (http, base) = (app.http.clone(), app.base.clone());
        let (user, order) = if i % 2 == 0 {
            (w.client_a.clone(), w.order_a)
        } else {
            (w.client_b.clone(), w.order_b)
        };
        writers.push(tokio::spawn(async move {
            for n in 0..25 {
                let response = http
                    .post(format!("{base}/api/v1/orders/{order}/messages"))
                    .bearer_auth(&user.access)
                    .json(&json!({"text": format!("w{i} m{n}")}))
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(response.status().as_u16(), 201);
            }
        }));
    }

    // Act: a reader that keeps dropping its socket and resuming after the last id it saw.
    let mut seen: Vec<i64> = Vec::new();
    let mut cursor = start;
    let mut round = 0_usize;
    loop {
        let done = writers.iter().all(tokio::task::JoinHandle::is_finished);
        let mut ws = connect(&app, &w.admin, Some(cursor)).await;
        hello(&mut ws, &w.admin).await;
        let take = 3 + round % 7;
        round += 1;
        for _ in 0..take {
            let Ok(Some(f)) = tokio::time::timeout(Duration::from_millis(300), next(&mut ws)).await
            else {
                break;
            };
            let id = notification_id(&f);
            seen.push(id);
            cursor = id;
        }
        drop(ws);
        if done {
            // One last pass after every writer finished, reading until quiet.
            let mut ws = connect(&app, &w.admin, Some(cursor)).await;
            hello(&mut ws, &w.admin).await;
            while let Ok(Some(f)) =
                tokio::time::timeout(Duration::from_millis(1500), next(&mut ws)).await
            {
                seen.push(notification_id(&f));
            }
            break;
        }
    }
    for writer in writers {
        writer.await.expect("the writer finished");
    }

    // Assert: strictly increasing (no duplicate, no reordering) and exactly the committed ids.
    assert!(
        seen.windows(2).all(|p| p[0] < p[1]),
        "out of order or duplicated: {seen:?}"
    );
    let expected: Vec<i64> =
        sqlx::query_scalar("select id from notifications where id > $1 order by id")
            .bind(start)
            .fetch_all(&pool)
            .await
            .expect("ids");
    assert_eq!(expected.len(), 200);
    assert_eq!(seen, expected, "the reader missed or invented ids");
    assert!(round > 3, "the reader reconnected only {round} times");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_event_committed_on_one_instance_reaches_sockets_on_another(pool: PgPool) {
    let a = spawn_app(pool).await;
    let b = a.second_instance().await;
    let w = World::new(&a).await;
    let mut on_b = connect(&b, &w.worker_a, None).await;
    hello(&mut on_b, &w.worker_a).await;
    let mut on_a = connect(&a, &w.worker_a, None).await;
    hello(&mut on_a, &w.worker_a).await;

    let started = std::time::Instant::now();
    post_message(&a, &w.client_a, w.order_a, "across").await;
    let got = frame(&mut on_b).await;
    assert_eq!(got["notification"]["data"]["text"], "across");
    // Pushed through Redis, not found by the once-a-second safety poll.
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        frame(&mut on_a).await["notification"]["data"]["text"],
        "across"
    );

    // Read state crosses instances too.
    let id = notification_id(&got);
    send(&mut on_a, json!({"type": "mark_read", "ids": [id]})).await;
    assert_eq!(frame(&mut on_b).await, json!({"type": "read", "ids": [id]}));
}

/// A private Redis on a free port, for tests that stop and restart it.
pub(crate) struct PrivateRedis {
    pub(crate) port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    pub(crate) fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/setup.sh installs it)");
        let redis = Self { port, child };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(redis);
        panic!("redis-server did not start on {port}");
    }

    pub(crate) fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_redis_restart_loses_nothing(pool: PgPool) {
    let redis = PrivateRedis::start(free_port());
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let app = spawn_app_with(pool, |c| c.redis_url = url.clone()).await;
    let w = World::new(&app).await;
    let mut ws = connect(&app, &w.client_a, None).await;
    hello(&mut ws, &w.client_a).await;
    post_message(&app, &w.worker_a, w.order_a, "before").await;
    assert_eq!(
        frame(&mut ws).await["notification"]["data"]["text"],
        "before"
    );

    // Redis goes away: the REST API keeps working and the socket keeps receiving (from PostgreSQL).
    let port = redis.stop();
    for text in ["during 1", "during 2"] {
        post_message(&app, &w.worker_a, w.order_a, text).await;
    }
    let redis = PrivateRedis::start(port);
    post_message(&app, &w.worker_a, w.order_a, "after").await;

    let mut texts = Vec::new();
    let mut ids = Vec::new();
    while texts.len() < 3 {
        let f = frame(&mut ws).await;
        ids.push(notification_id(&f));
        texts.push(
            f["notification"]["data"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(texts, ["during 1", "during 2", "after"]);
    assert!(ids.windows(2).all(|p| p[0] < p[1]));
    drop(redis);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn clients_of_an_instance_killed_with_sigkill_resume_on_another_without_loss(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let w = World::new(&app).await;
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("serve")
        .env("DATABASE_URL", crate::operations::database_url(&pool))
        .env("JWT_SECRET", &app.jwt_secret)
        .env("REDIS_URL", &app.redis_url)
        .env("REDIS_PREFIX", &app.redis_prefix)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts");
    let doomed = format!("ws://127.0.0.1:{port}");
    let mut ws = None;
    for _ in 0..100 {
        if let Ok(socket) = try_connect(&doomed, Some(&w.client_a.access), "").await {
            ws = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ws = ws.expect("the child instance accepts sockets");
    hello(&mut ws, &w.client_a).await;
    post_message(&app, &w.worker_a, w.order_a, "seen").await;
    let last = notification_id(&frame(&mut ws).await);

    child.start_kill().expect("SIGKILL is sent");
    child.wait().await.expect("the child exits");
    for text in ["while down 1", "while down 2"] {
        post_message(&app, &w.worker_a, w.order_a, text).await;
    }
    let mut resumed = connect(&app, &w.client_a, Some(last)).await;
    hello(&mut resumed, &w.client_a).await;
    post_message(&app, &w.worker_a, w.order_a, "after").await;

    let mut texts = Vec::new();
    for _ in 0..3 {
        texts.push(
            frame(&mut resumed).await["notification"]["data"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(texts, ["while down 1", "while down 2", "after"]);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_socket_that_stops_reading_is_told_to_resync_and_memory_stays_bounded(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), |c| c.feed_capacity = 16).await;
    let w = World::new(&app).await;
    // A client with a tiny receive buffer that does not read for a while.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small buffer");
    let stream = socket
        .connect(
            app.base
                .trim_start_matches("http://")
                .parse()
                .expect("an address"),
        )
        .await
        .expect("connected");
    let request = feed_request(&app.ws_base(), Some(&w.admin.access), "").expect("a request");
    let (mut ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .expect("upgraded");
    let first_cursor = hello(&mut ws, &w.admin).await;

    // 4 000 events of ~4 KiB each: far more than the socket buffers hold and the feed lets a socket lag.
    sqlx::query(
        "insert into notifications (order_id, kind, client_id, worker_id, data)
         select $1, 'order_message', $2, $3, jsonb_build_object('text', repeat('x', 4000))
         from generate_series(1, 4000)",
    )
    .bind(w.order_a)
    .bind(w.client_a.id)
    .bind(w.worker_a.id)
    .execute(&pool)
    .await
    .expect("events are inserted");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Now read: some events in order, then `resync`, then the close.
    let mut ids = Vec::new();
    let mut resync = false;
    while let Ok(Some(f)) = tokio::time::timeout(Duration::from_secs(5), next(&mut ws)).await {
        if f["type"] == "resync" {
            resync = true;
            break;
        }
        ids.push(notification_id(&f));
    }
    assert!(resync, "no resync after {} events", ids.len());
    assert!(
        ids.len() < 4000,
        "every event was delivered: the socket never fell behind"
    );
    assert!(ids.windows(2).all(|p| p[0] < p[1]));
    assert_eq!(
        next(&mut ws).await,
        None,
        "the socket stays open after resync"
    );
    // The server is healthy and a fresh socket resumes where the old one stopped.
    let cursor = ids.last().copied().unwrap_or(first_cursor);
    let mut again = connect(&app, &w.admin, Some(cursor)).await;
    hello(&mut again, &w.admin).await;
    assert_eq!(notification_id(&frame(&mut again).await), cursor + 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_socket_sending_too_many_frames_is_throttled_and_stays_open(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.socket_message_limit = 5).await;
    let w = World::new(&app).await;
    let mut ws = connect(&app, &w.client_a, None).await;
    hello(&mut ws, &w.client_a).await;
    for _ in 0..8 {
        send(&mut ws, json!({"type": "ping"})).await;
    }
    let mut pongs = 0;
    let mut throttled = 0;
    for _ in 0..8 {
        let f = frame(&mut ws).await;
        match f["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") if f["code"] == "throttled" => {
                throttled += 1;
                assert!(
                    f["detail"].as_str().unwrap_or_default().contains("wait"),
                    "{f}"
                );
            }
            _ => panic!("unexpected frame {f}"),
        }
    }
    assert_eq!((pongs, throttled), (5, 3));
    // Still open: events keep arriving.
    post_message(&app, &w.worker_a, w.order_a, "still here").await;
    let f = frame(&mut ws).await;
    assert_eq!(f["notification"]["kind"], "order_message", "{f}");
}

/// Reads until the socket closes; returns the close frame's code (`None` if it closed without one).
async fn close_code(ws: &mut Ws, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the socket closes in time");
        match message {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_users_sockets_are_capped_and_the_oldest_gives_way_with_4003(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut sockets = Vec::new();
    for _ in 0..20 {
        let mut ws = connect(&app, &w.client_a, None).await;
        hello(&mut ws, &w.client_a).await;
        sockets.push(ws);
    }
    // Another user's sockets do not count.
    let mut other = connect(&app, &w.client_b, None).await;
    hello(&mut other, &w.client_b).await;

    // The 21st: the first one is closed, the others stay.
    let mut newest = connect(&app, &w.client_a, None).await;
    hello(&mut newest, &w.client_a).await;
    let mut oldest = sockets.remove(0);
    assert_eq!(
        close_code(&mut oldest, Duration::from_secs(5)).await,
        Some(4003)
    );
    post_message(&app, &w.worker_a, w.order_a, "to every open tab").await;
    for ws in sockets.iter_mut().chain([&mut newest]) {
        assert_eq!(
            frame(ws).await["notification"]["data"]["text"],
            "to every open tab"
        );
    }
    assert!(drain(&mut other).await.is_empty());

    // Closing one makes room again: the next one closes nobody.
    drop(sockets.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connect(&app, &w.client_a, None).await;
    hello(&mut again, &w.client_a).await;
    for ws in &mut sockets {
        assert!(drain(ws).await.is_empty(), "a socket was closed");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_socket_closes_with_4002_when_its_token_expires_and_resumes_with_a_fresh_one(
    pool: PgPool,
) {
    // Arrange: access tokens that live 3 seconds.
    let app = spawn_app_with(pool, |c| c.access_token_ttl_secs = 3).await;
    let user = app.user(Role::Client).await;
    let mut ws = connect(&app, &user, None).await;
    let last_id = hello(&mut ws, &user).await;
    let opened = std::time::Instant::now();

    // Act: nothing but waiting.
    let code = close_code(&mut ws, Duration::from_secs(8)).await;

    // Assert: closed once the token ran out, with 4002; a fresh token opens the feed again where it was.
    assert_eq!(code, Some(4002));
    assert!(
        opened.elapsed() <= Duration::from_secs(4),
        "{:?}",
        opened.elapsed()
    );
    let fresh = app.refresh(&user.refresh).await;
    let access = fresh.expect(200)["access"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let mut again = try_connect(
        &app.ws_base(),
        Some(&access),
        &format!("?after_id={last_id}"),
    )
    .await
    .expect("the socket opens with the fresh token");
    assert_eq!(hello(&mut again, &user).await, last_id);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn opening_a_socket_does_not_wait_for_the_feeds_exclusive_lock(pool: PgPool) {
    // Arrange: a long transaction that records an event holds the feed's shared lock (as `record` does); the
    // stable watermark's exclusive lock would have to wait for it to end.
    let app = spawn_app(pool.clone()).await;
    let w = World::new(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut writer = pool.begin().await.expect("a transaction");
    sqlx::query("select pg_advisory_xact_lock_shared($1)")
        .bind(app::domain::watermark::EVENT_LOCK)
        .execute(&mut *writer)
        .await
        .expect("the shared lock");

    // Act: sockets open meanwhile, one after another and several at once.
    let started = std::time::Instant::now();
    let mut first = connect(&app, &w.client_a, None).await;
    hello(&mut first, &w.client_a).await;
    let together = (0..5).map(|_| async {
        let mut ws = connect(&app, &w.worker_a, None).await;
        hello(&mut ws, &w.worker_a).await;
        ws
    });
    let mut sockets = futures_util::future::join_all(together).await;
    let took = started.elapsed();
    writer.rollback().await.expect("rolled back");

    // Assert: they said hello without waiting for the writer, and still get what follows.
    assert!(
        took < Duration::from_secs(3),
        "the sockets waited {took:?} for the lock"
    );
    post_message(&app, &w.client_a, w.order_a, "after the writer").await;
    for ws in &mut sockets {
        assert_eq!(
            frame(ws).await["notification"]["data"]["text"],
            "after the writer"
        );
    }
}

/// Reconnects `user` after `after_id` and returns the hello's `last_id` and every frame the catch-up sent.
async fn catch_up(app: &TestApp, user: &TestUser, after_id: i64) -> (i64, Vec<Value>) {
    let mut ws = connect(app, user, Some(after_id)).await;
    let last_id = hello(&mut ws, user).await;
    (last_id, drain(&mut ws).await)
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_catch_up_from_memory_sends_the_frames_of_the_database_replay(pool: PgPool) {
    // Arrange: an instance that keeps the latest 6 events in memory; what each user had seen; then events of
    // both clients (the first worker serves client A), few enough to be kept.
    let app = spawn_app_with(pool.clone(), |c| c.feed_recent_events = 6).await;
    let w = World::new(&app).await;
    let users = [&w.client_a, &w.worker_a, &w.client_b, &w.admin];
    let mut seen = Vec::new();
    for user in users {
        let mut ws = connect(&app, user, None).await;
        seen.push(hello(&mut ws, user).await);
    }
    post_message(&app, &w.worker_a, w.order_a, "one").await;
    post_message(&app, &w.client_b, w.order_b, "not for A").await;
    post_message(&app, &w.client_a, w.order_a, "two").await;

    // Act: each reconnects after what it saw: from memory; on an instance started since, whose memory was
    // loaded from the database; and, once more events pushed them out of memory, from the database.
    let mut from_memory = Vec::new();
    for (user, &after) in users.iter().zip(&seen) {
        from_memory.push(catch_up(&app, user, after).await);
    }
    let restarted = app.second_instance().await;
    let mut after_restart = Vec::new();
    for (user, &after) in users.iter().zip(&seen) {
        after_restart.push(catch_up(&restarted, user, after).await);
    }
    for n in 0..7 {
        post_message(&app, &w.worker_b, w.order_b, &format!("pushing out {n}")).await;
    }
    let mut from_database = Vec::new();
    for (user, &after) in users.iter().zip(&seen) {
        let (last_id, mut frames) = catch_up(&app, user, after).await;
        // Only what was made before the first catch-ups.
        let newest = from_memory[from_database.len()].0;
        frames.retain(|f| notification_id(f) <= newest.max(after));
        from_database.push((last_id, frames));
    }

    // Assert: the same hello and frames every way, which are the REST feed's after the same id.
    for (i, (user, &after)) in users.iter().zip(&seen).enumerate() {
        let rest: Vec<Value> = app
            .get(
                &format!("/api/v1/notifications?after_id={after}"),
                &user.access,
            )
            .await
            .expect(200)["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|n| n["id"].as_i64() <= Some(from_memory[i].0))
            .map(|n| json!({"type": "notification", "notification": n}))
            .collect();
        assert_eq!(
            from_memory[i].1,
            rest,
            "{}: from memory",
            user_role(&w, user)
        );
        assert_eq!(
            from_memory[i],
            after_restart[i],
            "{}: after a restart",
            user_role(&w, user)
        );
        assert_eq!(
            from_memory[i].1,
            from_database[i].1,
            "{}: from the database",
            user_role(&w, user)
        );
    }
    let texts = |frames: &[Value]| -> Vec<String> {
        frames
            .iter()
            .map(|f| {
                f["notification"]["data"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(texts(&from_memory[0].1), ["one", "two"]);
    assert_eq!(texts(&from_memory[1].1), ["one", "two"]);
    assert_eq!(texts(&from_memory[2].1), ["not for A"]);
    assert_eq!(texts(&from_memory[3].1), ["one", "not for A", "two"]);
    assert_eq!(
        from_memory[0].0,
        notification_id(&from_memory[0].1[1]),
        "hello names the newest"
    );
    assert_eq!(from_memory[2].0, notification_id(&from_memory[2].1[0]));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_catch_up_from_memory_says_which_of_its_events_were_read(pool: PgPool) {
    // Arrange: two events for client A after what it saw; it reads the first in another tab, and a second user
    // marks everything read.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut ws = connect(&app, &w.client_a, None).await;
    let seen_a = hello(&mut ws, &w.client_a).await;
    let mut ws = connect(&app, &w.client_b, None).await;
    let seen_b = hello(&mut ws, &w.client_b).await;
    drop(ws);
    post_message(&app, &w.worker_a, w.order_a, "one").await;
    post_message(&app, &w.worker_a, w.order_a, "two").await;
    post_message(&app, &w.worker_b, w.order_b, "three").await;
    post_message(&app, &w.worker_b, w.order_b, "four").await;
    let first = app
        .get(
            &format!("/api/v1/notifications?after_id={seen_a}"),
            &w.client_a.access,
        )
        .await
        .ids()[0];
    app.post(
        &format!("/api/v1/notifications/{first}/read"),
        &w.client_a.access,
        json!({}),
    )
    .await
    .expect(204);
    app.post(
        "/api/v1/notifications/read-all",
        &w.client_b.access,
        json!({}),
    )
    .await
    .expect(200);

    // Act
    let (_, frames_a) = catch_up(&app, &w.client_a, seen_a).await;
    let (_, frames_b) = catch_up(&app, &w.client_b, seen_b).await;

    // Assert: each frame's read state is the user's.
    let read = |frames: &[Value]| -> Vec<(String, bool)> {
        frames
            .iter()
            .map(|f| {
                let n = &f["notification"];
                (
                    n["data"]["text"].as_str().unwrap_or_default().to_owned(),
                    n["read"] == true,
                )
            })
            .collect()
    };
    assert_eq!(
        read(&frames_a),
        [("one".to_owned(), true), ("two".to_owned(), false)]
    );
    assert_eq!(
        read(&frames_b),
        [("three".to_owned(), true), ("four".to_owned(), true)]
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn sockets_opening_together_are_each_answered_for_their_own_user(pool: PgPool) {
    use app::domain::{
        Actor,
        feed::{self, Opening, OpeningQuery},
    };
    // Arrange: events of both orders; client A reads its first one by one; worker B is deactivated.
    let app = spawn_app(pool.clone()).await;
    let w = World::new(&app).await;
    let before: i64 = sqlx::query_scalar("select coalesce(max(id), 0) from notifications")
        .fetch_one(&pool)
        .await
        .expect("max id");
    post_message(&app, &w.worker_a, w.order_a, "one").await;
    post_message(&app, &w.client_b, w.order_b, "two").await;
    post_message(&app, &w.client_a, w.order_a, "three").await;
    let ids: Vec<i64> =
        sqlx::query_scalar("select id from notifications where id > $1 order by id")
            .bind(before)
            .fetch_all(&pool)
            .await
            .expect("ids");
    let [one, two, three] = ids[..] else {
        panic!("three events, got {ids:?}")
    };
    app.post(
        &format!("/api/v1/notifications/{one}/read"),
        &w.client_a.access,
        json!({}),
    )
    .await
    .expect(204);
    app.delete(&format!("/api/v1/users/{}", w.worker_b.id), &w.admin.access)
        .await
        .expect(204);
    let actor = |user: &TestUser, role: Role| Actor {
        id: user.id,
        role,
        username: user.username.clone(),
        full_name: String::new(),
        session_epoch: 0,
    };
    let client_a = actor(&w.client_a, Role::Client);
    let client_b = actor(&w.client_b, Role::Client);
    let admin = actor(&w.admin, Role::Admin);
    let queries = [
        // A's catch-up after `before` holds the event it read; after `one`, none it read.
        OpeningQuery::new(&client_a, Some(before), three, true),
        OpeningQuery::new(&client_a, Some(one), three, false),
        // B's feed at `three` ends at `two`; at `one`, before any of these events.
        OpeningQuery::new(&client_b, None, three, true),
        OpeningQuery::new(&client_b, None, one, true),
        OpeningQuery::new(&admin, Some(before), three, true),
        // Refused: a deactivated user (whose feed still ends at `two`), a role the user does not have, an ended
        // session.
        OpeningQuery::new(&actor(&w.worker_b, Role::Worker), None, three, true),
        OpeningQuery::new(&actor(&w.client_a, Role::Admin), None, three, false),
        OpeningQuery::new(
            &Actor {
                session_epoch: 1,
                ..client_b.clone()
            },
            None,
            three,
            false,
        ),
        // A catch-up from memory above `one`: B has no event in (before, one], A has `one`.
        OpeningQuery::new(&client_b, None, three, false).with_gap(Some((before, one))),
        OpeningQuery::new(&client_a, None, three, false).with_gap(Some((before, one))),
        OpeningQuery::new(&client_a, None, three, false).with_gap(Some((one, two))),
    ];

    // Act: the whole batch in one statement, and each query alone.
    let together = feed::openings(&pool, &queries).await.expect("openings");
    let mut alone = Vec::new();
    for query in &queries {
        alone.extend(
            feed::openings(&pool, std::slice::from_ref(query))
                .await
                .expect("opening"),
        );
    }

    // Assert
    let b_before = sqlx::query_scalar::<_, i64>(
        "select coalesce(max(id), 0) from notifications where client_id = $1 and id <= $2",
    )
    .bind(w.client_b.id)
    .bind(one)
    .fetch_one(&pool)
    .await
    .expect("B's last id");
    let opening = |allowed, read_between, last_id| Opening {
        allowed,
        read_between,
        last_id,
        gap_empty: true,
    };
    let expected = vec![
        opening(true, true, Some(three)),
        opening(true, false, None),
        opening(true, false, Some(two)),
        opening(true, false, Some(b_before)),
        opening(true, false, Some(three)),
        opening(false, false, Some(two)),
        opening(false, false, None),
        opening(false, false, None),
        opening(true, false, None),
        Opening {
            gap_empty: false,
            ..opening(true, false, None)
        },
        opening(true, false, None),
    ];
    assert_eq!(together, expected);
    assert_eq!(alone, expected, "a batch of one answers as the batch does");
    assert!(
        feed::openings(&pool, &[]).await.expect("none").is_empty(),
        "no sockets, no answers"
    );

    // And over real sockets opening at once: every one is greeted with its own user's newest id.
    let users = [&w.client_a, &w.client_b, &w.worker_a, &w.admin];
    let greeted = futures_util::future::join_all(users.iter().cycle().take(24).map(|user| async {
        let mut ws = connect(&app, user, None).await;
        (user.id, hello(&mut ws, user).await)
    }))
    .await;
    for (user, last_id) in greeted {
        let who = users.iter().find(|u| u.id == user).expect("a user");
        let newest = app
            .get("/api/v1/notifications?limit=1", &who.access)
            .await
            .expect(200)["results"][0]["id"]
            .as_i64();
        assert_eq!(Some(last_id), newest, "user {user}");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_client_whose_last_event_is_older_than_what_is_kept_still_gets_exactly_its_feed(
    pool: PgPool,
) {
    // Arrange: an instance that keeps the latest 4 events; what client A had seen; then others' events push A's
    // last one out of memory.
    let app = spawn_app_with(pool.clone(), |c| c.feed_recent_events = 4).await;
    let w = World::new(&app).await;
    let mut ws = connect(&app, &w.client_a, None).await;
    let seen = hello(&mut ws, &w.client_a).await;
    drop(ws);
    for n in 0..6 {
        post_message(&app, &w.worker_b, w.order_b, &format!("not for A {n}")).await;
    }
    let rest_after = |after: i64| {
        let app = &app;
        let access = w.client_a.access.clone();
        async move {
            app.get(&format!("/api/v1/notifications?after_id={after}"), &access)
                .await
                .expect(200)["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|n| json!({"type": "notification", "notification": n}))
                .collect::<Vec<Value>>()
        }
    };

    // Act and assert: nothing of A's below what is kept (the catch-up comes from memory), then one event of A's
    // in what is kept, then one below it again (the gap is not empty: from the database).
    let (last_id, frames) = catch_up(&app, &w.client_a, seen).await;
    assert_eq!((last_id, frames), (seen, Vec::new()), "nothing new for A");
    post_message(&app, &w.worker_a, w.order_a, "for A").await;
    let (last_id, frames) = catch_up(&app, &w.client_a, seen).await;
    assert_eq!(frames, rest_after(seen).await);
    assert_eq!(frames.len(), 1);
    assert_eq!(last_id, notification_id(&frames[0]));
    for n in 0..6 {
        post_message(&app, &w.worker_b, w.order_b, &format!("pushing out {n}")).await;
    }
    post_message(&app, &w.client_a, w.order_a, "and again").await;
    let (_, frames) = catch_up(&app, &w.client_a, seen).await;
    assert_eq!(frames, rest_after(seen).await);
    assert_eq!(
        frames.len(),
        2,
        "both of A's, the older one from below what is kept"
    );
}

/// Reads one HTTP answer's head off `stream`, byte by byte (so that nothing after it is taken), and returns it.
async fn read_head(stream: &mut TcpStream) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(Duration::from_secs(10), stream.read_u8())
            .await
            .expect("an answer within 10 s")
            .expect("the answer is readable");
        head.push(byte);
    }
    String::from_utf8(head).expect("a text head")
}

/// The feed's sockets are served on a runtime of their own, chosen by a connection's first request line
/// (`server/src/lanes.rs`). Either lane serves every route: a REST request on a connection that starts like the
/// feed's, a socket opened on a connection that asked something else first, and one whose first line came in pieces.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn either_lane_serves_every_route_whatever_a_connection_asks_first(pool: PgPool) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let host = app.base.trim_start_matches("http://").to_owned();

    // Starts like the feed, is not: answered as anywhere else.
    let lost = crate::helpers::raw_request(
        &app.base,
        format!("GET /ws/elsewhere HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        vec![],
    )
    .await;
    let elsewhere = app
        .http
        .get(format!("{}/elsewhere", app.base))
        .send()
        .await
        .expect("an answer");
    assert_eq!(lost.status, 404);
    assert_eq!(elsewhere.status().as_u16(), 404);

    // A health check first, then the socket, on one connection.
    let mut asked_first = TcpStream::connect(&host).await.expect("connected");
    asked_first
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .expect("sent");
    let head = read_head(&mut asked_first).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .expect("a content length")
        .parse()
        .expect("a number");
    let mut body = vec![0; length];
    asked_first.read_exact(&mut body).await.expect("the body");
    let request = feed_request(&app.ws_base(), Some(&w.admin.access), "").expect("a request");
    let (mut second, _) =
        tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(asked_first))
            .await
            .expect("upgraded after a health check");

    // The upgrade's first line in two pieces, a while apart.
    let mut slow = TcpStream::connect(&host).await.expect("connected");
    slow.write_all(b"GE").await.expect("sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    slow.write_all(
        format!(
            "T /ws/notifications HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {}\r\n\r\n",
            w.admin.access
        )
        .as_bytes(),
    )
    .await
    .expect("sent");
    let head = read_head(&mut slow).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut slow = WebSocketStream::from_raw_socket(
        MaybeTlsStream::Plain(slow),
        tungstenite::protocol::Role::Client,
        None,
    )
    .await;

    // And one opened as a browser does: all three see the same events.
    let mut plain = connect(&app, &w.admin, None).await;
    for ws in [&mut second, &mut slow, &mut plain] {
        hello(ws, &w.admin).await;
    }
    let order = app.order(&w.client_a, w.service, Some(&w.worker_a)).await["id"].clone();
    for ws in [&mut second, &mut slow, &mut plain] {
        let f = frame(ws).await;
        assert_eq!(f["notification"]["kind"], "order_created", "{f}");
        assert_eq!(f["notification"]["order_id"], order, "{f}");
    }
}

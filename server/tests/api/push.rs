//! Web Push (API.md, "Notifications that reach people away from the page") against a local fake push service that
//! does what a browser vendor's service and the browser do: it checks the VAPID signature (an ES256 JWT for its
//! own origin, verified with the key in the header, which must be the server's published key) and decrypts the
//! `aes128gcm` payload with the subscribing device's private key. It answers as told: 201, 410 (the subscription is
//! gone), 429 with `Retry-After`, 500.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, TestUser, World, spawn_app_with};

/// A browser's push subscription: the keys it made, known to the fake only as a browser knows its own.
struct Device {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Device {
    fn new() -> Self {
        loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                return Self {
                    secret,
                    auth: rand::random(),
                };
            }
        }
    }

    /// The subscription's JSON, as `PushSubscription.toJSON()` gives it.
    fn subscription(&self, endpoint: &str) -> Value {
        let public = self.secret.public_key().to_encoded_point(false);
        json!({ "endpoint": endpoint, "keys": {
            "p256dh": URL_SAFE_NO_PAD.encode(public.as_bytes()),
            "auth": URL_SAFE_NO_PAD.encode(self.auth),
        }})
    }
}

/// One push the fake received.
#[derive(Debug, Clone)]
struct Received {
    device: String,
    /// The decrypted payload.
    payload: Value,
    status: u16,
}

#[derive(Default)]
struct Service {
    /// The devices by their path's name.
    devices: HashMap<String, Device>,
    /// What to answer next, by device (201 when nothing is queued): a status and a `Retry-After`.
    answers: HashMap<String, VecDeque<(u16, Option<u64>)>>,
    received: Vec<Received>,
    /// Requests refused for a bad signature, encoding or payload, with why.
    rejected: Vec<String>,
    /// The key every signature must be made with (the server's published VAPID key).
    vapid_key: String,
    origin: String,
}

type Fake = Arc<Mutex<Service>>;

/// Checks the request as a push service does, then decrypts it as the device does.
fn open(
    service: &Service,
    device: &Device,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    if header("content-encoding") != "aes128gcm" {
        return Err(format!("Content-Encoding {:?}", header("content-encoding")));
    }
    if header("ttl").parse::<u64>().is_err() {
        return Err("no TTL".to_owned());
    }
    let authorization = header("authorization");
    let rest = authorization
        .strip_prefix("vapid ")
        .ok_or("not a vapid authorization")?;
    let (mut token, mut key) = (None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => token = Some(t.to_owned()),
            Some(("k", k)) => key = Some(k.to_owned()),
            _ => {}
        }
    }
    let (token, key) = (token.ok_or("no t=")?, key.ok_or("no k=")?);
    if key != service.vapid_key {
        return Err("signed with another key than the published one".to_owned());
    }
    let point = URL_SAFE_NO_PAD.decode(&key).map_err(|e| e.to_string())?;
    if point.len() != 65 || point[0] != 4 {
        return Err("k is not an uncompressed P-256 point".to_owned());
    }
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
    .map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[&service.origin]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
        .map_err(|e| format!("the VAPID JWT: {e}"))?
        .claims;
    let exp = claims["exp"].as_u64().unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if exp > now + 24 * 3600 {
        return Err("the signature is valid for more than a day".to_owned());
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    if !(sub.starts_with("mailto:") || sub.starts_with("https://")) {
        return Err(format!("sub {sub:?}"));
    }
    let mut auth = web_push_native::Auth::default();
    auth.copy_from_slice(&device.auth);
    let plain = web_push_native::decrypt(body.to_vec(), &device.secret, &auth)
        .map_err(|e| format!("decryption failed: {e}"))?;
    serde_json::from_slice(&plain).map_err(|e| format!("the payload: {e}"))
}

async fn push(
    State(fake): State<Fake>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut service = fake.lock().expect("not poisoned");
    let Some(device) = service.devices.get(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let payload = match open(&service, device, &headers, &body) {
        Ok(payload) => payload,
        Err(why) => {
            service.rejected.push(why);
            return StatusCode::UNAUTHORIZED.into_response();
        }
    };
    let (status, retry_after) = service
        .answers
        .get_mut(&name)
        .and_then(VecDeque::pop_front)
        .unwrap_or((201, None));
    service.received.push(Received {
        device: name,
        payload,
        status,
    });
    let mut response = StatusCode::from_u16(status)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        .into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(
            "retry-after",
            seconds.to_string().parse().expect("a header value"),
        );
    }
    response
}

/// Starts the fake push service; returns it and its origin.
async fn spawn_push_service(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let origin = format!("http://{}", listener.local_addr().expect("an address"));
    fake.lock().expect("not poisoned").origin = origin.clone();
    let router = Router::new()
        .route("/push/{device}", post(push))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, router).await });
    origin
}

/// A server with Web Push on (a fresh VAPID key), aimed at nothing else.
async fn spawn_with_push(pool: PgPool) -> (TestApp, Fake, String) {
    let keys = server::push::generate_keys().expect("a VAPID key pair");
    let fake: Fake = Arc::default();
    fake.lock().expect("not poisoned").vapid_key = keys.public_key.clone();
    let origin = spawn_push_service(fake.clone()).await;
    let app = spawn_app_with(pool, move |c| {
        c.notify.vapid_private_key = Some(keys.private_key.into());
        c.notify.vapid_subject = "mailto:ops@task.example".to_owned();
        c.notify.web_push_allow_local = true;
        c.notify.delivery_interval_ms = 50;
        c.notify.delivery_backoff_secs = 0;
        c.notify.delivery_timeout_secs = 5;
    })
    .await;
    (app, fake, origin)
}

/// Subscribes a new device of `user` named `name`.
async fn subscribe(app: &TestApp, fake: &Fake, origin: &str, user: &TestUser, name: &str) {
    let device = Device::new();
    let body = device.subscription(&format!("{origin}/push/{name}"));
    fake.lock()
        .expect("not poisoned")
        .devices
        .insert(name.to_owned(), device);
    app.post("/api/v1/me/push-subscriptions", &user.access, body)
        .await
        .expect(201);
}

/// Waits until `done` holds for the fake's state, at most 15 s.
async fn wait_for(fake: &Fake, what: &str, done: impl Fn(&Service) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done(&fake.lock().expect("not poisoned")) {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `user`'s push delivery is recorded (the push service answers before the server records it).
async fn recorded(app: &TestApp, user: &TestUser) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let pending: i64 = sqlx::query_scalar(
            "select count(*) from deliveries where user_id = $1 and channel = 'web_push' and status = 'pending'",
        )
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("counted");
        if pending == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the delivery was never recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn subscriptions(app: &TestApp, user: &TestUser) -> Vec<String> {
    sqlx::query_scalar("select endpoint from push_subscriptions where user_id = $1 order by id")
        .bind(user.id)
        .fetch_all(&app.db)
        .await
        .expect("the subscriptions")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_new_order_reaches_each_of_the_workers_devices_encrypted_and_signed(pool: PgPool) {
    // Arrange: the worker's phone and laptop subscribed; the laptop's subscription has expired (410).
    let (app, fake, origin) = spawn_with_push(pool).await;
    let w = World::new(&app).await;
    let key = app
        .http
        .get(format!("{}/api/v1/push/vapid-public-key", app.base))
        .send()
        .await
        .expect("the server answers")
        .json::<Value>()
        .await
        .expect("JSON");
    assert_eq!(key["key"], fake.lock().expect("not poisoned").vapid_key);
    crate::channels::settled(&app.db).await;
    subscribe(&app, &fake, &origin, &w.worker_a, "phone").await;
    subscribe(&app, &fake, &origin, &w.worker_a, "laptop").await;
    fake.lock()
        .expect("not poisoned")
        .answers
        .insert("laptop".to_owned(), VecDeque::from([(410, None)]));

    // Act
    let order = app.order(&w.client_a, w.service, Some(&w.worker_a)).await["id"]
        .as_i64()
        .expect("an order id");

    // Assert: the phone decrypted the message about the new order, which links to its page.
    wait_for(&fake, "both devices were tried", |s| s.received.len() >= 2).await;
    recorded(&app, &w.worker_a).await;
    let (rejected, received) = {
        let service = fake.lock().expect("not poisoned");
        (service.rejected.clone(), service.received.clone())
    };
    assert!(rejected.is_empty(), "{rejected:?}");
    let phone = received
        .iter()
        .find(|r| r.device == "phone")
        .expect("the phone got it");
    assert_eq!(phone.status, 201);
    let url = format!("/orders/{order}");
    assert!(
        phone.payload["url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&url)),
        "{}",
        phone.payload
    );
    assert!(
        phone.payload["title"]
            .as_str()
            .is_some_and(|t| t.contains(&order.to_string())),
        "{}",
        phone.payload
    );
    assert!(
        phone.payload["body"]
            .as_str()
            .is_some_and(|b| b.contains(&url))
    );
    // The laptop's gone subscription is removed; the delivery is sent (the phone took it), once.
    let left = subscriptions(&app, &w.worker_a).await;
    assert_eq!(left, [format!("{origin}/push/phone")]);
    let rows: Vec<(String, i32)> = sqlx::query_as(
        "select status, attempts from deliveries where user_id = $1 and channel = 'web_push'",
    )
    .bind(w.worker_a.id)
    .fetch_all(&app.db)
    .await
    .expect("the deliveries");
    assert_eq!(rows, [("sent".to_owned(), 1)]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fake.lock().expect("not poisoned").received.len(),
        2,
        "nothing was sent twice"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_busy_push_service_is_tried_again_after_its_retry_after(pool: PgPool) {
    // Arrange: the push service answers 429 (try again in a second), then 500, then takes it.
    let (app, fake, origin) = spawn_with_push(pool).await;
    let w = World::new(&app).await;
    crate::channels::settled(&app.db).await;
    subscribe(&app, &fake, &origin, &w.worker_a, "phone").await;
    fake.lock().expect("not poisoned").answers.insert(
        "phone".to_owned(),
        VecDeque::from([(429, Some(1)), (500, None)]),
    );

    // Act
    let started = Instant::now();
    app.order(&w.client_a, w.service, Some(&w.worker_a)).await;

    // Assert
    wait_for(&fake, "the push service took it", |s| {
        s.received.iter().any(|r| r.status == 201)
    })
    .await;
    recorded(&app, &w.worker_a).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the Retry-After was waited for"
    );
    let statuses: Vec<u16> = fake
        .lock()
        .expect("not poisoned")
        .received
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 500, 201]);
    let (status, attempts): (String, i32) = sqlx::query_as(
        "select status, attempts from deliveries where user_id = $1 and channel = 'web_push'",
    )
    .bind(w.worker_a.id)
    .fetch_one(&app.db)
    .await
    .expect("the delivery");
    assert_eq!((status.as_str(), attempts), ("sent", 3));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn without_a_vapid_key_web_push_is_off_and_plain_http_endpoints_are_refused(pool: PgPool) {
    // Arrange
    let app = crate::helpers::spawn_app(pool).await;
    let w = World::new(&app).await;

    // Act
    let key = app
        .http
        .get(format!("{}/api/v1/push/vapid-public-key", app.base))
        .send()
        .await
        .expect("the server answers");
    let local = Device::new().subscription("http://127.0.0.1:9/push/x");
    let refused = app
        .post("/api/v1/me/push-subscriptions", &w.worker_a.access, local)
        .await;

    // Assert
    assert_eq!(key.status().as_u16(), 409);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body["errors"].get("endpoint").is_some());
}

//! `spawn_app()`: the real router on a free port, over the test's own database, plus one call per need.

use std::sync::Arc;

use app::{
    domain::{Context, auth, payments::Clock, users},
    models::{CreateUserInput, Role},
};
use leptos::prelude::LeptosOptions;
use reqwest::{Method, header::HeaderMap};
use secrecy::SecretString;
use serde_json::{Value, json};
use server::{
    Application, build_state,
    config::{FiscalReceipts, NotifyConfig, PasswordConfig, PaymentConfig, ServeConfig},
};
use sqlx::PgPool;
use tokio::sync::oneshot;

/// A running server and what tests need to talk to it.
pub struct TestApp {
    pub base: String,
    pub db: PgPool,
    pub http: reqwest::Client,
    pub jwt_secret: String,
    /// The Redis prefix, shared by the instances of one test.
    pub redis_prefix: String,
    pub redis_url: String,
    /// The application context the server runs with (the same database, Redis and live feed).
    pub ctx: Context,
    /// The payments' clock (tests move it forward to cross timeouts).
    pub clock: Clock,
    _shutdown: oneshot::Sender<()>,
}

/// An answer, with its body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The envelope's `code`.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        &self.body
    }

    /// The ids of a page's results.
    pub fn ids(&self) -> Vec<i64> {
        self.body["results"].as_array().map_or_else(Vec::new, |r| {
            r.iter().filter_map(|o| o["id"].as_i64()).collect()
        })
    }
}

/// A user with a live session.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

/// The test configuration: cheap password hashing, generous rate limits, a Redis prefix of its own.
pub fn test_config() -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().expect("a valid socket address"),
        public_url: "http://testserver".to_owned(),
        redis_url: std::env::var("REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
        redis_prefix: format!("test-{}", uuid::Uuid::new_v4()),
        jwt_secret: SecretString::from(format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4())),
        access_token_ttl_secs: 900,
        refresh_token_ttl_secs: 3600,
        cookie_secure: false,
        trust_proxy: false,
        login_rate_limit: 10_000,
        login_account_rate_limit: 10_000,
        // No grace for a just-rotated refresh token: a test that wants one sets it.
        refresh_reuse_grace_secs: 0,
        register_rate_limit: 10_000,
        order_rate_limit: 10_000,
        socket_message_limit: 10_000,
        password: PasswordConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            argon2_budget_mib: 256,
            // A turn at hashing is waited for generously: the whole suite shares two cores with the build. The
            // test of the refusal sets its own wait.
            argon2_wait_ms: 30_000,
        },
        feed_capacity: 4096,
        feed_recent_events: 16_384,
        feed_ping_secs: 20,
        request_timeout_secs: 30,
        metrics_token: None,
        payments: PaymentConfig {
            payme_merchant_id: Some(PAYME_MERCHANT.to_owned()),
            payme_key: Some(SecretString::from(PAYME_KEY)),
            payme_test_key: None,
            payme_test_mode: false,
            payme_allowed_ips: None,
            payme_checkout_url: "https://checkout.paycom.uz".to_owned(),
            click_service_id: Some(CLICK_SERVICE),
            click_merchant_id: Some(CLICK_MERCHANT),
            click_merchant_user_id: Some(CLICK_MERCHANT_USER),
            click_secret_key: Some(SecretString::from(CLICK_SECRET)),
            click_allowed_ips: None,
            click_checkout_url: "https://my.click.uz/services/pay".to_owned(),
            // Nothing listens there: a test that needs Click's merchant API points this at its own mock.
            click_api_url: "http://127.0.0.1:9".to_owned(),
            click_api_timeout_secs: 2,
            click_prepare_ttl_secs: 1800,
            fiscal_receipts: FiscalReceipts::Optional,
            fiscal_merchant_tin: Some(MERCHANT_TIN.to_owned()),
            fiscal_unit: app::domain::payments::DEFAULT_FISCAL_UNIT.to_owned(),
            payment_sandbox: true,
        },
        notify: NotifyConfig::default(),
    }
}

/// The test cashbox of Payme.
pub const PAYME_MERCHANT: &str = "5e730e8e0b852a417aa49ceb";
pub const PAYME_KEY: &str = "test-payme-key-0123456789abcdefghijkl";
/// The test service of Click.
pub const CLICK_SERVICE: i64 = 12345;
pub const CLICK_MERCHANT: i64 = 777;
pub const CLICK_MERCHANT_USER: i64 = 4321;
pub const CLICK_SECRET: &str = "SECRETKEY";
/// The merchant's TIN on fiscal receipts.
pub const MERCHANT_TIN: &str = "123456789";

/// Starts the app on a free port over `db`.
pub async fn spawn_app(db: PgPool) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Starts the app with a changed configuration.
pub async fn spawn_app_with(db: PgPool, tweak: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let mut config = test_config();
    tweak(&mut config);
    let jwt_secret = secrecy::ExposeSecret::expose_secret(&config.jwt_secret).to_owned();
    let (redis_prefix, redis_url) = (config.redis_prefix.clone(), config.redis_url.clone());
    let options = LeptosOptions::builder().output_name("task").build();
    let state = build_state(config, db.clone(), options)
        .await
        .expect("the app state builds");
    let clock = state.ctx.payments.clock.clone();
    let ctx = state.ctx.clone();
    let app = Application::bind(state)
        .await
        .expect("the app binds a free port");
    let base = format!("http://{}", app.local_addr().expect("a bound address"));
    let (tx, rx) = oneshot::channel();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        base,
        db,
        http: reqwest::Client::new(),
        jwt_secret,
        redis_prefix,
        redis_url,
        ctx,
        clock,
        _shutdown: tx,
    }
}

impl TestApp {
    /// The `/metrics` page (Prometheus text).
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("the metrics")
            .text()
            .await
            .expect("text")
    }

    /// Another instance over the same database and Redis, with the same secret.
    pub async fn second_instance(&self) -> TestApp {
        let (secret, prefix, url) = (
            self.jwt_secret.clone(),
            self.redis_prefix.clone(),
            self.redis_url.clone(),
        );
        spawn_app_with(self.db.clone(), move |c| {
            c.jwt_secret = SecretString::from(secret);
            c.redis_prefix = prefix;
            c.redis_url = url;
        })
        .await
    }

    /// The `ws://` address of this instance.
    pub fn ws_base(&self) -> String {
        self.base.replacen("http://", "ws://", 1)
    }

    /// Sends a request and checks the suite-wide invariants: no 5xx, and every error in the envelope.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let answer = self
            .call_allowing_5xx(method.clone(), path, token, body)
            .await;
        assert!(
            answer.status < 500,
            "{method} {path} answered {}: {}",
            answer.status,
            answer.body
        );
        answer
    }

    /// Like [`Self::call`] but a 5xx is allowed (tests that force a failure).
    pub async fn call_allowing_5xx(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let bytes = body.map(|b| serde_json::to_vec(&b).expect("JSON serializes"));
        self.raw(
            method,
            path,
            token,
            bytes.as_ref().map(|_| "application/json"),
            bytes.unwrap_or_default(),
        )
        .await
    }

    /// Sends raw bytes with an optional content type; checks the envelope on errors but allows 5xx.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.body(body).send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a readable body");
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if status >= 400 {
            assert!(
                body["detail"].is_string() && body["code"].is_string(),
                "{method} {path} answered {status} without the error envelope: {body}"
            );
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `POST /api/v1/auth/login`.
    pub async fn login(
        &self,
        username: impl serde::Serialize,
        password: impl serde::Serialize,
    ) -> Answer {
        let body = json!({ "username": username, "password": password });
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// `POST /api/v1/auth/token/refresh`.
    pub async fn refresh(&self, refresh: impl serde::Serialize) -> Answer {
        self.call(
            Method::POST,
            "/api/v1/auth/token/refresh",
            None,
            Some(json!({ "refresh": refresh })),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a user of `role` directly and signs them in through the API.
    pub async fn user(&self, role: Role) -> TestUser {
        let (id, username, password) = self.new_user(role).await;
        let body = self.login(&username, &password).await;
        let body = body.expect(200);
        TestUser {
            id,
            access: body["access"].as_str().expect("an access token").to_owned(),
            refresh: body["refresh"]
                .as_str()
                .expect("a refresh token")
                .to_owned(),
            username,
            password,
        }
    }

    /// Creates a user of `role` directly and opens a session for them without the login endpoint (so tests of
    /// the login rate limit start from a count of zero).
    pub async fn user_without_login(&self, role: Role) -> TestUser {
        let (id, username, password) = self.new_user(role).await;
        let pair = auth::start_session(&self.ctx, id)
            .await
            .expect("a session starts");
        TestUser {
            id,
            username,
            password,
            access: pair.access,
            refresh: pair.refresh,
        }
    }

    /// Creates a user of `role` with a random username and password, directly: its id, username and password.
    async fn new_user(&self, role: Role) -> (i64, String, String) {
        let username = format!(
            "{}_{}",
            role.as_str(),
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        let password = format!("pw-{}", uuid::Uuid::new_v4());
        let input = CreateUserInput {
            username: username.clone(),
            password: password.clone(),
            role,
            email: None,
            full_name: Some(format!("Test {}", role.as_str())),
            phone: None,
        };
        let user = users::create_unchecked(&self.ctx, input)
            .await
            .expect("the user is created");
        (user.id, username, password)
    }

    /// An active service served by `workers`, created through the API by `admin`.
    pub async fn service(&self, admin: &TestUser, workers: &[&TestUser]) -> i64 {
        let name = format!("Service {}", uuid::Uuid::new_v4());
        let id = self
            .post(
                "/api/v1/services",
                &admin.access,
                json!({ "name": name, "price": 100_000 }),
            )
            .await
            .expect(201)["id"]
            .as_i64()
            .expect("a service id");
        let ids: Vec<i64> = workers.iter().map(|w| w.id).collect();
        self.put(
            &format!("/api/v1/services/{id}/workers"),
            &admin.access,
            json!({ "worker_ids": ids }),
        )
        .await
        .expect(200);
        id
    }

    /// An order of `service` by `client` with `worker` chosen.
    pub async fn order(&self, client: &TestUser, service: i64, worker: Option<&TestUser>) -> Value {
        let body = json!({ "service_id": service, "worker_id": worker.map(|w| w.id) });
        self.post("/api/v1/orders", &client.access, body)
            .await
            .expect(201)
            .clone()
    }

    /// Sets an order's status directly in the database (to arrange a test).
    pub async fn force_status(&self, order: i64, status: &str) {
        sqlx::query("update orders set status = $2 where id = $1")
            .bind(order)
            .bind(status)
            .execute(&self.db)
            .await
            .expect("the status is set");
    }

    /// Row counts of every table, to prove a refused request wrote nothing.
    pub async fn row_counts(&self) -> Vec<(String, i64)> {
        let mut counts = Vec::new();
        for table in [
            "users",
            "refresh_tokens",
            "services",
            "service_workers",
            "orders",
            "notifications",
            "notification_reads",
            "order_messages",
            "transactions",
            "notification_settings",
            "deliveries",
        ] {
            let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
                .fetch_one(&self.db)
                .await
                .expect("the table is counted");
            counts.push((table.to_owned(), n));
        }
        counts
    }

    /// A snapshot of every mutable row, to prove a refused request changed nothing.
    pub async fn fingerprint(&self) -> String {
        let sql = "select md5(string_agg(t::text, '|' order by t::text)) from (
            select row(u.*)::text as t from users u union all select row(s.*)::text from services s
            union all select row(w.*)::text from service_workers w union all select row(o.*)::text from orders o
            union all select row(n.*)::text from notifications n
            union all select row(r.*)::text from notification_reads r
            union all select row(m.*)::text from order_messages m union all select row(x.*)::text from transactions x
            union all select row(k.*)::text from refresh_tokens k) all_rows";
        let hash: Option<String> = sqlx::query_scalar(sql)
            .fetch_one(&self.db)
            .await
            .expect("the fingerprint");
        hash.unwrap_or_default()
    }
}

/// A cast of users and objects: two clients, two workers, an admin, a service both workers serve, and one order
/// of each client (client A's with worker A, client B's with worker B).
pub struct World {
    pub admin: TestUser,
    pub client_a: TestUser,
    pub client_b: TestUser,
    pub worker_a: TestUser,
    pub worker_b: TestUser,
    pub service: i64,
    pub order_a: i64,
    pub order_b: i64,
}

impl World {
    pub async fn new(app: &TestApp) -> Arc<Self> {
        let admin = app.user(Role::Admin).await;
        let client_a = app.user(Role::Client).await;
        let client_b = app.user(Role::Client).await;
        let worker_a = app.user(Role::Worker).await;
        let worker_b = app.user(Role::Worker).await;
        let service = app.service(&admin, &[&worker_a, &worker_b]).await;
        let order_a = app.order(&client_a, service, Some(&worker_a)).await["id"]
            .as_i64()
            .expect("an order id");
        let order_b = app.order(&client_b, service, Some(&worker_b)).await["id"]
            .as_i64()
            .expect("an order id");
        Arc::new(Self {
            admin,
            client_a,
            client_b,
            worker_a,
            worker_b,
            service,
            order_a,
            order_b,
        })
    }
}

/// An answer read off a raw connection (see [`raw_request`]).
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    /// Header names in lowercase, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `head` (the request line and headers, byte for byte as given: no client in between normalizes the path or
/// the headers), then `body` chunk by chunk in the background, and reads the answer's head and (when its length is
/// declared) body. The server may answer before the body is sent, and then stop reading it.
pub async fn raw_request(base: &str, head: String, body: Vec<Vec<u8>>) -> RawAnswer {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let address = base.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("the server accepts a connection");
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(head.as_bytes())
        .await
        .expect("the request head is sent");
    let sending = tokio::spawn(async move {
        for chunk in body {
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // Half-closed only when the answer is read; the writer is dropped with the task.
        let _ = writer.flush().await;
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    });
    let mut received = Vec::new();
    let mut buffer = [0_u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = tokio::time::timeout_at(deadline, reader.read(&mut buffer))
            .await
            .expect("an answer in time")
            .expect("the answer is readable");
        assert!(
            n > 0,
            "the connection closed before an answer: {received:?}"
        );
        received.extend_from_slice(&buffer[..n]);
    };
    let text = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = received[head_end + 4..].to_vec();
    if let Some(length) = length {
        while body.len() < length {
            let n = tokio::time::timeout_at(deadline, reader.read(&mut buffer))
                .await
                .expect("the body in time")
                .expect("the body is readable");
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buffer[..n]);
        }
    }
    sending.abort();
    RawAnswer {
        status,
        headers,
        body,
    }
}

/// Every REST route of the OpenAPI document with an unsafe method (POST, PUT, PATCH, DELETE), its `{id}` filled
/// with an object of `w` that exists, and whether the document says it takes a body.
pub async fn unsafe_routes(app: &TestApp, w: &World) -> Vec<(Method, String, bool)> {
    let doc: Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .expect("served")
        .json()
        .await
        .expect("JSON");
    let notification = app
        .get("/api/v1/notifications", &w.admin.access)
        .await
        .ids()[0];
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let id = if path.starts_with("/api/v1/users/") {
            w.client_b.id
        } else if path.starts_with("/api/v1/services/") {
            w.service
        } else if path.starts_with("/api/v1/notifications/") {
            notification
        } else {
            w.order_b
        };
        let path = path.replace("{id}", &id.to_string());
        for (method, operation) in item.as_object().expect("operations") {
            let method = match method.as_str() {
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                _ => continue,
            };
            routes.push((method, path.clone(), operation["requestBody"].is_object()));
        }
    }
    assert!(
        routes.len() > 20,
        "the document lists the routes: {routes:?}"
    );
    routes
}

/// The server functions' addresses (`/_fn/...`), as the running server registered them.
pub fn server_functions() -> Vec<String> {
    let paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    assert!(
        paths.len() > 10,
        "the server functions are registered: {paths:?}"
    );
    paths
}

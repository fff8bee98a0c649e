//! One domain, two ways in: every action reachable both through the REST API (`/api/v1/…`, JSON, a bearer token)
//! and through a server function as a page posts it (`/_fn/<name>`, a urlencoded form, the session cookie) must
//! come to the same thing both ways, for each role and for another user's object: the same outcome (done, or
//! refused with the same status and `code`), the same rows written, the same frames on every socket (the actor's
//! own and the other parties'), the same rate limits counted together, and the same sessions ended (refresh tokens
//! revoked, sockets closed with the revocation code) whatever changed the user's access.

use std::{collections::HashMap, fmt, time::Duration};

use app::models::{NotificationKind, Role};
use futures_util::{StreamExt as _, future::join_all};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest as _},
};

use crate::helpers::{TestApp, TestUser, World, spawn_app, spawn_app_with};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a socket must stay silent before what it received is taken as complete.
const QUIET: Duration = Duration::from_millis(150);

/// The close code of a socket whose user's access was revoked (`server/src/live/socket.rs`).
const CLOSE_REVOKED: u16 = 4001;

/// A way into the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// `/api/v1/…` with JSON and `Authorization: Bearer`.
    Rest,
    /// `POST /_fn/<name>` with a urlencoded form and the session cookies, as a page of this site posts it.
    Form,
}

use Way::{Form, Rest};

/// What a call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done,
    /// Refused: the status and the envelope's `code`.
    Refused(u16, String),
}

/// An answer of either way.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
    set_cookies: Vec<String>,
    /// The seconds of `Retry-After`, if given.
    retry_after: Option<u64>,
}

impl Reply {
    fn outcome(&self) -> Outcome {
        if self.status < 400 {
            Outcome::Done
        } else {
            let code = self.body["code"].as_str().unwrap_or_default().to_owned();
            Outcome::Refused(self.status, code)
        }
    }

    /// The value a `Set-Cookie` of the answer gives cookie `name` (empty when it clears it).
    fn cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find_map(|c| c.split(';').next()?.strip_prefix(name)?.strip_prefix('='))
    }
}

/// One action as each way spells it.
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    json: Option<Value>,
    function: &'static str,
    form: Vec<(&'static str, String)>,
}

impl Call {
    fn new(
        method: Method,
        path: impl Into<String>,
        json: Option<Value>,
        function: &'static str,
    ) -> Self {
        Self {
            method,
            path: path.into(),
            json,
            function,
            form: Vec::new(),
        }
    }

    fn field(mut self, name: &'static str, value: impl ToString) -> Self {
        self.form.push((name, value.to_string()));
        self
    }
}

/// The two ways into one app.
struct Ways<'a> {
    app: &'a TestApp,
    /// A client that shows redirects rather than following them, as a page's form post sees them.
    forms: reqwest::Client,
}

impl<'a> Ways<'a> {
    fn new(app: &'a TestApp) -> Self {
        let forms = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        Self { app, forms }
    }

    /// Does `call` through the REST API, signed in as `user` with the bearer token.
    async fn rest(&self, user: Option<&TestUser>, call: &Call) -> Reply {
        let token = user.map(|u| u.access.as_str());
        let answer = self
            .app
            .call(call.method.clone(), &call.path, token, call.json.clone())
            .await;
        Reply {
            status: answer.status,
            set_cookies: set_cookies(&answer.headers),
            retry_after: retry_after(&answer.headers),
            body: answer.body,
        }
    }

    /// Does `call` through its server function as a page of this site posts a form, signed in as `user` with the
    /// session cookies. It asks for JSON, so an error comes back as its status and envelope (a page that accepts
    /// HTML gets a redirect back carrying the error instead).
    async fn form(&self, user: Option<&TestUser>, call: &Call) -> Reply {
        let base = &self.app.base;
        let mut request = self
            .forms
            .post(format!("{base}/_fn/{}", call.function))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .header("sec-fetch-site", "same-origin")
            .header("origin", base)
            .header("referer", format!("{base}/"))
            .body(serde_urlencoded::to_string(&call.form).expect("a form encodes"));
        if let Some(user) = user {
            let cookie = format!("task_access={}; task_refresh={}", user.access, user.refresh);
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let set_cookies = set_cookies(response.headers());
        let retry_after = retry_after(response.headers());
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let name = call.function;
        assert!(status < 500, "/_fn/{name} answered {status}: {body}");
        if status >= 400 {
            assert!(
                body["code"].is_string() && body["detail"].is_string(),
                "/_fn/{name} answered {status} without the error envelope: {body}"
            );
        }
        Reply {
            status,
            body,
            set_cookies,
            retry_after,
        }
    }

    async fn through(&self, way: Way, user: Option<&TestUser>, call: &Call) -> Reply {
        match way {
            Rest => self.rest(user, call).await,
            Form => self.form(user, call).await,
        }
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers.get("retry-after")?.to_str().ok()?.parse().ok()
}

fn set_cookies(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// Opens a socket of `user` that starts after event `after_id` (so nothing arranged before shows up), past its
/// `hello`.
async fn open_socket(app: &TestApp, user: &TestUser, after_id: i64) -> Ws {
    let mut request = format!("{}/ws/notifications?after_id={after_id}", app.ws_base())
        .into_client_request()
        .expect("a socket request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", user.access)
            .parse()
            .expect("a header value"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens");
    let hello = tokio::time::timeout(Duration::from_secs(5), listen_for_one(&mut ws))
        .await
        .expect("a hello within 5 s");
    assert_eq!(hello["type"], "hello", "{hello}");
    ws
}

async fn listen_for_one(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).expect("JSON frames");
            }
            Some(Ok(_)) => {}
            other => panic!("the socket ended before its hello: {other:?}"),
        }
    }
}

/// Collects a socket's frames until it stays quiet for [`QUIET`]. A close ends the list as `{"closed": code}`.
async fn listen(ws: &mut Ws) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        match tokio::time::timeout(QUIET, ws.next()).await {
            Err(_) => return frames,
            Ok(Some(Ok(Message::Text(text)))) => {
                frames.push(serde_json::from_str(&text).expect("JSON frames"));
            }
            Ok(Some(Ok(Message::Close(close)))) => {
                frames.push(json!({ "closed": close.map(|c| u16::from(c.code)) }));
                return frames;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => {
                frames.push(json!({ "closed": null }));
                return frames;
            }
        }
    }
}

/// The text of the messages that mark the end of a case on the sockets.
const END_OF_CASE: &str = "(end of case)";

/// Collects a socket's frames up to the `markers`-th end-of-case message (left out); with none to wait for, until
/// it stays quiet. A close ends the list as `{"closed": code}`.
async fn listen_until(ws: &mut Ws, markers: usize) -> Vec<Value> {
    if markers == 0 {
        return listen(ws).await;
    }
    let (mut frames, mut seen) = (Vec::new(), 0);
    while seen < markers {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the end of the case within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).expect("JSON frames");
                if frame["notification"]["data"]["text"] == END_OF_CASE {
                    seen += 1;
                } else {
                    frames.push(frame);
                }
            }
            Some(Ok(Message::Close(close))) => {
                frames.push(json!({ "closed": close.map(|c| u16::from(c.code)) }));
                return frames;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                frames.push(json!({ "closed": null }));
                return frames;
            }
        }
    }
    frames
}

/// Collects the frames of every socket at once.
async fn listen_all<K: Copy>(sockets: &mut [(K, Ws)]) -> Vec<(K, Vec<Value>)> {
    let keys: Vec<K> = sockets.iter().map(|(k, _)| *k).collect();
    let frames = join_all(sockets.iter_mut().map(|(_, ws)| listen(ws))).await;
    keys.into_iter().zip(frames).collect()
}

/// The id of the newest event.
async fn last_event(app: &TestApp) -> i64 {
    sqlx::query_scalar("select coalesce(max(id), 0) from notifications")
        .fetch_one(&app.db)
        .await
        .expect("the newest event")
}

/// Names for the ids that differ between two runs of the same case: orders and events (two id sequences).
#[derive(Debug, Default)]
struct Names {
    orders: HashMap<i64, String>,
    events: HashMap<i64, String>,
}

fn name(names: &HashMap<i64, String>, v: &Value) -> Value {
    match v.as_i64() {
        Some(id) => json!(
            names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("unnamed {id}"))
        ),
        None => v.clone(),
    }
}

/// A frame with what differs between two runs of the same case taken out: ids and times of new rows become `*`,
/// and the ids of the arranged orders and their events become their names (`$mine`, `$theirs:order_created` …).
fn normalize(value: &Value, names: &Names) -> Value {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "id" | "created_at" | "updated_at" | "message" | "message_id"
                    | "transaction_id" => {
                        json!("*")
                    }
                    "order_id" => name(&names.orders, v),
                    // The events a `read` frame names.
                    "ids" => v.as_array().map_or_else(
                        || v.clone(),
                        |ids| ids.iter().map(|id| name(&names.events, id)).collect(),
                    ),
                    _ => normalize(v, names),
                };
                (k.clone(), v)
            })
            .collect(),
        Value::Array(items) => items.iter().map(|v| normalize(v, names)).collect(),
        other => other.clone(),
    }
}

/// Rows added to each table between two [`TestApp::row_counts`].
fn delta(before: &[(String, i64)], after: &[(String, i64)]) -> Vec<(String, i64)> {
    before
        .iter()
        .zip(after)
        .map(|((table, b), (_, a))| (table.clone(), a - b))
        .filter(|(_, n)| *n != 0)
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// The actions on orders, notifications, users and services, for each role.

/// Whose socket it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Party {
    Admin,
    ClientA,
    WorkerA,
    ClientB,
    WorkerB,
    /// The user an admin acts on (a fresh worker).
    Target,
}

/// Whose object the action is on: the actor's own (client A's order with worker A, the actor's notification, the
/// actor themself), or another user's (client B's order with worker B, their notification, a fresh worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Own,
    Other,
}

use Target::{Other, Own};

/// An action with both a REST handler and a server function, named alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    CreateOrder,
    UpdateOrderStatus(&'static str),
    AssignOrder,
    CreateOrderMessage,
    CreatePayment,
    MarkNotificationRead,
    MarkAllNotificationsRead,
    CreateUser,
    DeactivateUser,
    CreateService,
    SetServiceWorkers,
    SetServiceFiscal,
    SetTaxId,
    UpdateNotificationSettings,
    SendTestNotification,
    DeleteTelegramLink,
}

use Action::*;

/// What a case must come to, both ways.
#[derive(Debug, Clone, Copy)]
enum Expected {
    /// Done, and exactly these parties' sockets hear of it.
    Done(&'static [Party]),
    /// Refused with this `code`; no socket hears anything.
    Refused(&'static str),
}

use Expected::{Done, Refused};

/// One row of a table: `action` by a user of `role` on `target`.
struct Case(Action, Role, Target, Expected);

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Case(action, role, target, _) = self;
        let article = if *role == Role::Admin { "an" } else { "a" };
        write!(f, "{action:?} by {article} {} on {target:?}", role.as_str())
    }
}

/// What a case is arranged on, fresh for each way so that both start from the same state.
struct Scene {
    /// A pending order of client A with worker A.
    mine: i64,
    /// A pending order of client B with worker B.
    theirs: i64,
    /// A fresh worker with a session (for actions on a user).
    fresh: Option<TestUser>,
    /// A fresh service without workers.
    service: Option<i64>,
    /// Names of the ids that differ between the ways.
    names: Names,
}

impl Case {
    fn actor<'w>(&self, w: &'w World) -> &'w TestUser {
        match self.1 {
            Role::Client => &w.client_a,
            Role::Worker => &w.worker_a,
            Role::Admin => &w.admin,
        }
    }

    async fn arrange(&self, app: &TestApp, w: &World) -> Scene {
        if self.0 == UpdateNotificationSettings {
            // Both ways start from the role's defaults (no row), so both write the user's first row.
            sqlx::query("delete from notification_settings")
                .execute(&app.db)
                .await
                .expect("the settings are reset");
        }
        if self.0 == MarkAllNotificationsRead {
            // Everything read before: both ways then have the same new events to mark.
            let actor = self.actor(w);
            app.post("/api/v1/notifications/read-all", &actor.access, json!({}))
                .await
                .expect(200);
        }
        let order = |client, worker| async move {
            app.order(client, w.service, Some(worker)).await["id"]
                .as_i64()
                .expect("an order id")
        };
        let mine = order(&w.client_a, &w.worker_a).await;
        let theirs = order(&w.client_b, &w.worker_b).await;
        let mut names = Names::default();
        names.orders.insert(mine, "$mine".to_owned());
        names.orders.insert(theirs, "$theirs".to_owned());
        let events: Vec<(i64, i64, String)> = sqlx::query_as(
            "select id, order_id, kind from notifications where order_id in ($1, $2)",
        )
        .bind(mine)
        .bind(theirs)
        .fetch_all(&app.db)
        .await
        .expect("the arranged events");
        for (id, order, kind) in events {
            let event = format!("{}:{kind}", names.orders[&order]);
            names.events.insert(id, event);
        }
        let fresh = match self.0 {
            DeactivateUser | SetTaxId => Some(app.user(Role::Worker).await),
            _ => None,
        };
        let service = match self.0 {
            SetServiceWorkers | SetServiceFiscal => Some(app.service(&w.admin, &[]).await),
            _ => None,
        };
        Scene {
            mine,
            theirs,
            fresh,
            service,
            names,
        }
    }

    /// The event of the order the case targets, by its name.
    fn event(&self, scene: &Scene, kind: &str) -> i64 {
        let order = if self.2 == Own { "$mine" } else { "$theirs" };
        let name = format!("{order}:{kind}");
        *scene
            .names
            .events
            .iter()
            .find(|(_, n)| **n == name)
            .unwrap_or_else(|| panic!("{self}: no event {name}"))
            .0
    }

    /// The action as both ways spell it.
    fn call(&self, w: &World, scene: &Scene) -> Call {
        let (order, other_worker) = match self.2 {
            Own => (scene.mine, w.worker_b.id),
            Other => (scene.theirs, w.worker_a.id),
        };
        let name = format!(
            "parity_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        match self.0 {
            CreateOrder => {
                // Another user's worker: client B as the chosen worker, who is no worker of the service.
                let worker = if self.2 == Own {
                    w.worker_a.id
                } else {
                    w.client_b.id
                };
                let body = json!({ "service_id": w.service, "worker_id": worker, "description": "Evenings" });
                Call::new(Method::POST, "/api/v1/orders", Some(body), "create_order")
                    .field("service_id", w.service)
                    .field("worker_id", worker)
                    .field("description", "Evenings")
            }
            UpdateOrderStatus(status) => Call::new(
                Method::PATCH,
                format!("/api/v1/orders/{order}/status"),
                Some(json!({ "status": status })),
                "update_order_status",
            )
            .field("id", order)
            .field("status", status),
            AssignOrder => Call::new(
                Method::POST,
                format!("/api/v1/orders/{order}/assign"),
                Some(json!({ "worker_id": other_worker })),
                "assign_order",
            )
            .field("id", order)
            .field("worker_id", other_worker),
            CreateOrderMessage => Call::new(
                Method::POST,
                format!("/api/v1/orders/{order}/messages"),
                Some(json!({ "text": "Tomorrow at nine?" })),
                "create_order_message",
            )
            .field("id", order)
            .field("text", "Tomorrow at nine?"),
            CreatePayment => Call::new(
                Method::POST,
                "/api/v1/payments",
                Some(json!({ "order_id": order, "provider": "payme" })),
                "create_payment",
            )
            .field("order_id", order)
            .field("provider", "payme"),
            MarkNotificationRead => {
                let id = self.event(scene, "order_created");
                Call::new(
                    Method::POST,
                    format!("/api/v1/notifications/{id}/read"),
                    None,
                    "mark_notification_read",
                )
                .field("id", id)
            }
            MarkAllNotificationsRead => Call::new(
                Method::POST,
                "/api/v1/notifications/read-all",
                None,
                "mark_all_notifications_read",
            ),
            CreateUser => {
                let body = json!({ "username": name, "password": "Sunny-river-42", "role": "worker",
                    "full_name": "New Worker" });
                Call::new(Method::POST, "/api/v1/users", Some(body), "create_user")
                    .field("username", &name)
                    .field("password", "Sunny-river-42")
                    .field("role", "worker")
                    .field("full_name", "New Worker")
            }
            DeactivateUser => {
                let id = match self.2 {
                    Own => self.actor(w).id,
                    Other => scene.fresh.as_ref().expect("a fresh user").id,
                };
                Call::new(
                    Method::DELETE,
                    format!("/api/v1/users/{id}"),
                    None,
                    "deactivate_user",
                )
                .field("id", id)
            }
            CreateService => {
                let body = json!({ "name": name, "description": "Weekly", "price": 150_000 });
                Call::new(
                    Method::POST,
                    "/api/v1/services",
                    Some(body),
                    "create_service",
                )
                .field("name", &name)
                .field("description", "Weekly")
                .field("price", "1500")
            }
            SetServiceWorkers => {
                let id = scene.service.expect("a fresh service");
                let body = json!({ "worker_ids": [w.worker_a.id] });
                Call::new(
                    Method::PUT,
                    format!("/api/v1/services/{id}/workers"),
                    Some(body),
                    "set_service_workers",
                )
                .field("id", id)
                .field("worker_ids[]", w.worker_a.id)
            }
            SetServiceFiscal => {
                let id = scene.service.expect("a fresh service");
                let body = json!({
                    "ikpu_code": "10305008001000000",
                    "package_code": "1545633",
                    "vat_percent": 12
                });
                Call::new(
                    Method::PATCH,
                    format!("/api/v1/services/{id}"),
                    Some(body),
                    "set_service_fiscal",
                )
                .field("id", id)
                .field("ikpu_code", "10305008001000000")
                .field("package_code", "1545633")
                .field("vat_percent", "12")
            }
            UpdateNotificationSettings => {
                let kinds: serde_json::Map<String, Value> = NotificationKind::ALL
                    .iter()
                    .map(|k| {
                        let channels = if *k == NotificationKind::OrderMessage {
                            json!(["email"])
                        } else {
                            json!([])
                        };
                        (k.as_str().to_owned(), channels)
                    })
                    .collect();
                let body = json!({
                    "channels": {
                        "telegram": { "enabled": false },
                        "web_push": { "enabled": true },
                        "email": { "enabled": true },
                    },
                    "kinds": kinds,
                    "quiet_hours": { "from": "22:00", "to": "07:30" },
                    "digest_minutes": 15,
                });
                Call::new(
                    Method::PUT,
                    "/api/v1/me/notification-settings",
                    Some(body),
                    "update_notification_settings",
                )
                .field("channels[]", "web_push")
                .field("channels[]", "email")
                .field("routes[]", "order_message:email")
                .field("quiet", "on")
                .field("quiet_from", "22:00")
                .field("quiet_to", "07:30")
                .field("digest_minutes", 15)
            }
            SendTestNotification => Call::new(
                Method::POST,
                "/api/v1/me/notification-settings/test",
                Some(json!({})),
                "send_test_notification",
            ),
            DeleteTelegramLink => Call::new(
                Method::DELETE,
                "/api/v1/me/telegram",
                None,
                "delete_telegram_link",
            ),
            SetTaxId => {
                let id = scene.fresh.as_ref().expect("a fresh worker").id;
                let body = json!({ "tax_id": "31234567890123" });
                Call::new(
                    Method::PATCH,
                    format!("/api/v1/users/{id}"),
                    Some(body),
                    "set_tax_id",
                )
                .field("id", id)
                .field("tax_id", "31234567890123")
            }
        }
    }
}

/// Collects what every party's socket received for a case. The admin posts an end-of-case message to order A and
/// to order B of the world: the feed sends events in id order, after what was announced before them, so every
/// frame of the case reaches a socket before its end marker (the admin sees both; a client or worker, the one of
/// their order). A socket outside both orders (the target user's) is read until it stays quiet.
async fn listen_to_the_end(
    app: &TestApp,
    w: &World,
    sockets: &mut [(Party, Ws)],
) -> Vec<(Party, Vec<Value>)> {
    for order in [w.order_a, w.order_b] {
        let body = json!({ "text": END_OF_CASE });
        app.post(
            &format!("/api/v1/orders/{order}/messages"),
            &w.admin.access,
            body,
        )
        .await
        .expect(201);
    }
    let parties: Vec<Party> = sockets.iter().map(|(p, _)| *p).collect();
    let frames = join_all(sockets.iter_mut().map(|(party, ws)| {
        let markers = match party {
            Party::Admin => 2,
            Party::ClientA | Party::WorkerA | Party::ClientB | Party::WorkerB => 1,
            Party::Target => 0,
        };
        listen_until(ws, markers)
    }))
    .await;
    parties.into_iter().zip(frames).collect()
}

/// What one way of a case came to, with the differences between runs taken out.
#[derive(Debug, PartialEq)]
struct Observed {
    outcome: Outcome,
    /// The frames each socket received.
    frames: Vec<(Party, Vec<Value>)>,
    /// Rows added, by table.
    rows: Vec<(String, i64)>,
}

/// Runs `case` through `way` on a fresh scene, with a socket open for every party, and checks it against the
/// table.
async fn observe(ways: &Ways<'_>, w: &World, case: &Case, way: Way) -> Observed {
    let app = ways.app;
    let scene = case.arrange(app, w).await;
    let call = case.call(w, &scene);
    let after = last_event(app).await;
    let mut parties = vec![
        (Party::Admin, &w.admin),
        (Party::ClientA, &w.client_a),
        (Party::WorkerA, &w.worker_a),
        (Party::ClientB, &w.client_b),
        (Party::WorkerB, &w.worker_b),
    ];
    if let Some(fresh) = &scene.fresh {
        parties.push((Party::Target, fresh));
    }
    let mut sockets = Vec::new();
    for (party, user) in parties {
        sockets.push((party, open_socket(app, user, after).await));
    }
    let before = app.row_counts().await;

    let reply = ways.through(way, Some(case.actor(w)), &call).await;
    let rows = delta(&before, &app.row_counts().await);
    let frames = listen_to_the_end(app, w, &mut sockets).await;

    let mut names = scene.names;
    if let (CreateOrder, Some(id)) = (case.0, reply.body["id"].as_i64()) {
        names.orders.insert(id, "$new".to_owned());
    }
    let frames: Vec<(Party, Vec<Value>)> = frames
        .into_iter()
        .map(|(party, frames)| (party, frames.iter().map(|f| normalize(f, &names)).collect()))
        .collect();
    let outcome = reply.outcome();
    let mut heard: Vec<Party> = frames
        .iter()
        .filter(|(_, f)| !f.is_empty())
        .map(|(p, _)| *p)
        .collect();
    heard.sort_unstable();
    match case.3 {
        Done(parties) => {
            assert_eq!(
                outcome,
                Outcome::Done,
                "{case} through {way:?}: {}",
                reply.body
            );
            let mut parties = parties.to_vec();
            parties.sort_unstable();
            if let Some((_, frames)) = frames.iter().find(|(p, _)| *p == Party::Target) {
                let closed = json!({ "closed": CLOSE_REVOKED });
                assert!(
                    frames.is_empty() || *frames == [closed],
                    "{case} through {way:?}: the target user's socket got {frames:?}"
                );
            }
            assert_eq!(
                heard, parties,
                "{case} through {way:?}: who heard of it: {frames:?}"
            );
        }
        Refused(code) => {
            assert_eq!(
                (reply.body["code"].as_str(), reply.status >= 400),
                (Some(code), true),
                "{case} through {way:?}: {}",
                reply.body
            );
            assert!(
                heard.is_empty(),
                "{case} through {way:?}: refused, yet heard: {frames:?}"
            );
            assert!(
                rows.is_empty(),
                "{case} through {way:?}: refused, yet wrote {rows:?}"
            );
        }
    }
    Observed {
        outcome,
        frames,
        rows,
    }
}

/// Runs every case both ways: each must meet its row, and the two ways must agree on everything observed.
async fn run_table(ways: &Ways<'_>, w: &World, cases: &[Case]) {
    for case in cases {
        let rest = observe(ways, w, case, Rest).await;
        let form = observe(ways, w, case, Form).await;
        assert_eq!(
            rest, form,
            "{case}: REST (left) and the form (right) differ"
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn order_actions_come_to_the_same_outcome_and_frames_both_ways(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    const PARTIES_A: &[Party] = &[Party::Admin, Party::ClientA, Party::WorkerA];
    const PARTIES_B: &[Party] = &[Party::Admin, Party::ClientB, Party::WorkerB];
    let cases = [
        Case(CreateOrder, Role::Client, Own, Done(PARTIES_A)),
        Case(CreateOrder, Role::Client, Other, Refused("invalid")),
        Case(CreateOrder, Role::Worker, Own, Refused("permission_denied")),
        Case(CreateOrder, Role::Admin, Own, Refused("permission_denied")),
        Case(
            UpdateOrderStatus("canceled"),
            Role::Client,
            Own,
            Done(PARTIES_A),
        ),
        Case(
            UpdateOrderStatus("canceled"),
            Role::Client,
            Other,
            Refused("not_found"),
        ),
        Case(
            UpdateOrderStatus("paid"),
            Role::Client,
            Own,
            Refused("permission_denied"),
        ),
        Case(
            UpdateOrderStatus("paid"),
            Role::Worker,
            Own,
            Done(PARTIES_A),
        ),
        Case(
            UpdateOrderStatus("paid"),
            Role::Worker,
            Other,
            Refused("not_found"),
        ),
        Case(
            UpdateOrderStatus("completed"),
            Role::Worker,
            Own,
            Refused("invalid_transition"),
        ),
        Case(
            UpdateOrderStatus("canceled"),
            Role::Admin,
            Other,
            Done(PARTIES_B),
        ),
        Case(
            AssignOrder,
            Role::Admin,
            Other,
            Done(&[Party::Admin, Party::ClientB, Party::WorkerA]),
        ),
        Case(AssignOrder, Role::Client, Own, Refused("permission_denied")),
        Case(AssignOrder, Role::Worker, Own, Refused("permission_denied")),
        Case(CreateOrderMessage, Role::Client, Own, Done(PARTIES_A)),
        Case(
            CreateOrderMessage,
            Role::Client,
            Other,
            Refused("not_found"),
        ),
        Case(CreateOrderMessage, Role::Worker, Own, Done(PARTIES_A)),
        Case(
            CreateOrderMessage,
            Role::Worker,
            Other,
            Refused("not_found"),
        ),
        Case(CreateOrderMessage, Role::Admin, Other, Done(PARTIES_B)),
        Case(CreatePayment, Role::Client, Own, Done(&[])),
        Case(CreatePayment, Role::Client, Other, Refused("not_found")),
        Case(
            CreatePayment,
            Role::Worker,
            Own,
            Refused("permission_denied"),
        ),
        Case(
            CreatePayment,
            Role::Admin,
            Other,
            Refused("permission_denied"),
        ),
    ];

    // Act and assert
    run_table(&Ways::new(&app), &w, &cases).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn notification_and_admin_actions_come_to_the_same_outcome_and_frames_both_ways(
    pool: PgPool,
) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let cases = [
        Case(
            MarkNotificationRead,
            Role::Client,
            Own,
            Done(&[Party::ClientA]),
        ),
        Case(
            MarkNotificationRead,
            Role::Client,
            Other,
            Refused("not_found"),
        ),
        Case(
            MarkNotificationRead,
            Role::Worker,
            Own,
            Done(&[Party::WorkerA]),
        ),
        Case(
            MarkNotificationRead,
            Role::Worker,
            Other,
            Refused("not_found"),
        ),
        Case(
            MarkNotificationRead,
            Role::Admin,
            Other,
            Done(&[Party::Admin]),
        ),
        Case(
            MarkAllNotificationsRead,
            Role::Client,
            Own,
            Done(&[Party::ClientA]),
        ),
        Case(
            MarkAllNotificationsRead,
            Role::Worker,
            Own,
            Done(&[Party::WorkerA]),
        ),
        Case(
            MarkAllNotificationsRead,
            Role::Admin,
            Own,
            Done(&[Party::Admin]),
        ),
        Case(UpdateNotificationSettings, Role::Client, Own, Done(&[])),
        Case(UpdateNotificationSettings, Role::Worker, Own, Done(&[])),
        Case(UpdateNotificationSettings, Role::Admin, Own, Done(&[])),
        Case(SendTestNotification, Role::Client, Own, Done(&[])),
        Case(DeleteTelegramLink, Role::Worker, Own, Done(&[])),
        Case(CreateUser, Role::Admin, Other, Done(&[])),
        Case(
            CreateUser,
            Role::Client,
            Other,
            Refused("permission_denied"),
        ),
        Case(
            CreateUser,
            Role::Worker,
            Other,
            Refused("permission_denied"),
        ),
        // The deactivated user's socket is closed (with the revocation code, compared both ways).
        Case(DeactivateUser, Role::Admin, Other, Done(&[Party::Target])),
        Case(DeactivateUser, Role::Admin, Own, Refused("conflict")),
        Case(
            DeactivateUser,
            Role::Client,
            Other,
            Refused("permission_denied"),
        ),
        Case(
            DeactivateUser,
            Role::Worker,
            Other,
            Refused("permission_denied"),
        ),
        Case(CreateService, Role::Admin, Other, Done(&[])),
        Case(
            CreateService,
            Role::Client,
            Other,
            Refused("permission_denied"),
        ),
        Case(
            CreateService,
            Role::Worker,
            Other,
            Refused("permission_denied"),
        ),
        Case(SetServiceWorkers, Role::Admin, Other, Done(&[])),
        Case(
            SetServiceWorkers,
            Role::Client,
            Other,
            Refused("permission_denied"),
        ),
        Case(
            SetServiceWorkers,
            Role::Worker,
            Other,
            Refused("permission_denied"),
        ),
        Case(SetServiceFiscal, Role::Admin, Other, Done(&[])),
        Case(
            SetServiceFiscal,
            Role::Client,
            Other,
            Refused("permission_denied"),
        ),
        Case(
            SetServiceFiscal,
            Role::Worker,
            Other,
            Refused("permission_denied"),
        ),
        Case(SetTaxId, Role::Admin, Other, Done(&[])),
        Case(SetTaxId, Role::Client, Other, Refused("permission_denied")),
        Case(SetTaxId, Role::Worker, Other, Refused("permission_denied")),
    ];

    // Act and assert
    run_table(&Ways::new(&app), &w, &cases).await;
}

// ---------------------------------------------------------------------------------------------------------------
// Changes of a user's access: whatever the change and whichever way it came, the same sessions end.

/// A change that ends a user's session, and the way it is made. A new role and a new password have no server
/// function (the UI has no form for them); they must end sessions exactly as a deactivation does.
#[derive(Debug, Clone, Copy)]
enum AccessChange {
    /// An admin deactivates the user.
    Deactivate(Way),
    /// An admin gives the user another role (`PATCH /users/{id}`).
    NewRole,
    /// The user sets a new password (`PATCH /me`).
    NewPassword,
    /// The user signs out.
    Logout(Way),
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_change_of_access_ends_the_same_sessions_whichever_way_it_came(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let ways = Ways::new(&app);
    let admin = app.user(Role::Admin).await;
    let bystander = app.user(Role::Worker).await;
    // (change, whether the user's open sockets are closed); the refresh token stops working in every row.
    let cases = [
        (AccessChange::Deactivate(Rest), true),
        (AccessChange::Deactivate(Form), true),
        (AccessChange::NewRole, true),
        (AccessChange::NewPassword, true),
        // Signing out ends one session (its refresh token); the access token already handed out stays valid
        // until it expires, so the sockets it opened stay open, both ways.
        (AccessChange::Logout(Rest), false),
        (AccessChange::Logout(Form), false),
    ];

    for (change, closes_sockets) in cases {
        let user = app.user(Role::Worker).await;
        let after = last_event(&app).await;
        let mut sockets = vec![
            (
                "the user's first socket",
                open_socket(&app, &user, after).await,
            ),
            (
                "the user's second socket",
                open_socket(&app, &user, after).await,
            ),
            (
                "another user's socket",
                open_socket(&app, &bystander, after).await,
            ),
        ];

        // Act
        let reply = match change {
            AccessChange::Deactivate(way) => {
                let call = Call::new(
                    Method::DELETE,
                    format!("/api/v1/users/{}", user.id),
                    None,
                    "deactivate_user",
                )
                .field("id", user.id);
                ways.through(way, Some(&admin), &call).await
            }
            AccessChange::NewRole => {
                let body = json!({ "role": "client" });
                let call = Call::new(
                    Method::PATCH,
                    format!("/api/v1/users/{}", user.id),
                    Some(body),
                    "",
                );
                ways.rest(Some(&admin), &call).await
            }
            AccessChange::NewPassword => {
                let body = json!({ "password": "Another-long-secret-7", "current_password": user.password });
                let call = Call::new(Method::PATCH, "/api/v1/me", Some(body), "");
                ways.rest(Some(&user), &call).await
            }
            AccessChange::Logout(way) => {
                let body = json!({ "refresh": user.refresh });
                let call = Call::new(Method::POST, "/api/v1/auth/logout", Some(body), "logout");
                ways.through(way, Some(&user), &call).await
            }
        };
        let frames = listen_all(&mut sockets).await;

        // Assert
        assert_eq!(reply.outcome(), Outcome::Done, "{change:?}: {}", reply.body);
        for (socket, frames) in frames {
            let expected = if closes_sockets && socket != "another user's socket" {
                vec![json!({ "closed": CLOSE_REVOKED })]
            } else {
                Vec::new()
            };
            assert_eq!(frames, expected, "{change:?}: {socket}");
        }
        let refresh = app.refresh(&user.refresh).await;
        assert_eq!(
            (refresh.status, refresh.code()),
            (401, "token_invalid"),
            "{change:?}: the refresh token still works: {}",
            refresh.body
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Signing in and up.

/// Who signs in or up, and with what.
#[derive(Debug, Clone, Copy)]
enum Credentials {
    /// A user of this role, with their password.
    Right(Role),
    /// A client with a wrong password.
    WrongPassword,
    /// A deactivated worker with their password.
    Deactivated,
    /// A new username with a good password.
    NewAccount,
    /// A username already taken.
    TakenUsername,
    /// A password too short.
    WeakPassword,
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn signing_in_and_up_come_to_the_same_outcome_both_ways(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let ways = Ways::new(&app);
    let admin = app.user(Role::Admin).await;
    let deactivated = app.user(Role::Worker).await;
    app.delete(&format!("/api/v1/users/{}", deactivated.id), &admin.access)
        .await
        .expect(204);
    // (action, credentials, the code it is refused with, if it is)
    let cases = [
        ("login", Credentials::Right(Role::Client), None),
        ("login", Credentials::Right(Role::Worker), None),
        ("login", Credentials::Right(Role::Admin), None),
        ("login", Credentials::WrongPassword, Some("bad_credentials")),
        ("login", Credentials::Deactivated, Some("bad_credentials")),
        ("register", Credentials::NewAccount, None),
        ("register", Credentials::TakenUsername, Some("conflict")),
        ("register", Credentials::WeakPassword, Some("invalid")),
    ];

    for (action, credentials, refused) in cases {
        let mut seen = Vec::new();
        for way in [Rest, Form] {
            let case = format!("{action} with {credentials:?} through {way:?}");
            let user = match credentials {
                Credentials::Right(role) => Some(app.user(role).await),
                Credentials::WrongPassword | Credentials::TakenUsername => {
                    Some(app.user(Role::Client).await)
                }
                Credentials::Deactivated => Some(deactivated.clone()),
                Credentials::NewAccount | Credentials::WeakPassword => None,
            };
            let username = user.as_ref().map_or_else(
                || {
                    format!(
                        "parity_{}",
                        &uuid::Uuid::new_v4().simple().to_string()[..12]
                    )
                },
                |u| u.username.clone(),
            );
            let password = match (credentials, &user) {
                (Credentials::WrongPassword, _) => "not-the-password-1".to_owned(),
                (Credentials::WeakPassword, _) => "x".to_owned(),
                (_, Some(user)) => user.password.clone(),
                (_, None) => "Sunny-river-42".to_owned(),
            };
            let call = if action == "login" {
                let body = json!({ "username": username, "password": password });
                Call::new(Method::POST, "/api/v1/auth/login", Some(body), "login")
                    .field("username", &username)
                    .field("password", &password)
            } else {
                let body = json!({ "username": username, "password": password, "full_name": "New Client",
                    "email": "new@example.com" });
                Call::new(
                    Method::POST,
                    "/api/v1/auth/register",
                    Some(body),
                    "register",
                )
                .field("username", &username)
                .field("password", &password)
                .field("full_name", "New Client")
                .field("email", "new@example.com")
                .field("language", "")
            };

            // Act
            let reply = ways.through(way, None, &call).await;

            // Assert
            let outcome = reply.outcome();
            let account = if action == "login" && way == Rest {
                &reply.body["user"]
            } else {
                &reply.body
            };
            match refused {
                Some(code) => {
                    assert_eq!(
                        reply.body["code"].as_str(),
                        Some(code),
                        "{case}: {}",
                        reply.body
                    );
                    assert!(
                        reply.cookie("task_access").is_none_or(str::is_empty),
                        "{case}: refused, yet a session cookie was set"
                    );
                }
                None => {
                    assert_eq!(outcome, Outcome::Done, "{case}: {}", reply.body);
                    assert_eq!(
                        account["username"].as_str(),
                        Some(username.as_str()),
                        "{case}"
                    );
                    if let Some(user) = &user {
                        assert_eq!(account["id"].as_i64(), Some(user.id), "{case}");
                    }
                }
            }
            if action == "login" && refused.is_none() {
                // Both ways open a session in the cookies, and its refresh token works.
                let refresh = reply.cookie("task_refresh").unwrap_or_default().to_owned();
                assert!(
                    reply.cookie("task_access").is_some_and(|a| !a.is_empty()),
                    "{case}: no access cookie"
                );
                app.refresh(&refresh).await.expect(200);
            }
            let fields: Vec<String> = reply.body["errors"]
                .as_object()
                .map(|e| e.keys().cloned().collect())
                .unwrap_or_default();
            seen.push((outcome, account["role"].clone(), fields));
        }
        assert_eq!(
            seen[0], seen[1],
            "{action} with {credentials:?}: REST (left) and the form (right) differ"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Rate limits.

/// A rate-limited action.
#[derive(Debug, Clone, Copy)]
enum Limited {
    /// A client orders (`order:{user}`, per minute).
    Order,
    /// A user signs in with a wrong password (failures are what is counted, per address and per account, per
    /// minute).
    Login,
    /// A visitor signs up (`register:ip:…`, per hour).
    Register,
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn rate_limits_are_the_same_and_counted_together_both_ways(pool: PgPool) {
    // Arrange: a limit of 3 for each; users get their sessions without the login endpoint, which counts.
    let app = spawn_app_with(pool, |c| {
        c.order_rate_limit = 3;
        c.login_rate_limit = 3;
        c.register_rate_limit = 3;
    })
    .await;
    let ways = Ways::new(&app);
    let admin = app.user_without_login(Role::Admin).await;
    let worker = app.user_without_login(Role::Worker).await;
    let service = app.service(&admin, &[&worker]).await;
    let throttled = Some("throttled");
    let after_limit = [None, None, None, throttled, throttled];
    // Wrong passwords are refused as such until the failures reach the limit.
    let wrong = Some("bad_credentials");
    let failures_then_limit = [wrong, wrong, wrong, throttled, throttled];
    // (action, the ways of five attempts in a row, how each must end); each row is a user of its own.
    let cases = [
        (Limited::Order, [Rest, Form, Rest, Form, Rest], after_limit),
        (Limited::Order, [Form, Form, Rest, Rest, Form], after_limit),
        (
            Limited::Login,
            [Rest, Form, Rest, Form, Rest],
            failures_then_limit,
        ),
        (
            Limited::Register,
            [Form, Rest, Form, Rest, Form],
            after_limit,
        ),
    ];

    for (action, order_of_ways, expected) in cases {
        let user = app.user_without_login(Role::Client).await;
        for (attempt, (way, expected)) in order_of_ways.into_iter().zip(expected).enumerate() {
            let case = format!("{action:?}, attempt {} through {way:?}", attempt + 1);
            let username = format!(
                "parity_{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            );
            let (session, call) = match action {
                Limited::Order => {
                    let body =
                        json!({ "service_id": service, "worker_id": null, "description": "" });
                    let call =
                        Call::new(Method::POST, "/api/v1/orders", Some(body), "create_order")
                            .field("service_id", service)
                            .field("worker_id", "")
                            .field("description", "");
                    (Some(&user), call)
                }
                Limited::Login => {
                    let body = json!({ "username": user.username, "password": "not-the-password" });
                    let call = Call::new(Method::POST, "/api/v1/auth/login", Some(body), "login")
                        .field("username", &user.username)
                        .field("password", "not-the-password");
                    (None, call)
                }
                Limited::Register => {
                    let body = json!({ "username": username, "password": "Sunny-river-42" });
                    let call = Call::new(
                        Method::POST,
                        "/api/v1/auth/register",
                        Some(body),
                        "register",
                    )
                    .field("username", &username)
                    .field("password", "Sunny-river-42")
                    .field("full_name", "")
                    .field("email", "")
                    .field("language", "");
                    (None, call)
                }
            };

            // Act
            let reply = ways.through(way, session, &call).await;

            // Assert
            match expected {
                None => assert_eq!(reply.outcome(), Outcome::Done, "{case}: {}", reply.body),
                Some(code) if code == "bad_credentials" => assert_eq!(
                    reply.outcome(),
                    Outcome::Refused(401, code.to_owned()),
                    "{case}: {}",
                    reply.body
                ),
                Some(code) => {
                    assert_eq!(
                        reply.outcome(),
                        Outcome::Refused(429, code.to_owned()),
                        "{case}: {}",
                        reply.body
                    );
                    // When to try again: within the limit's window, told the same way.
                    let window = if matches!(action, Limited::Register) {
                        3600
                    } else {
                        60
                    };
                    assert!(
                        reply.retry_after.is_some_and(|s| (1..=window).contains(&s)),
                        "{case}: Retry-After {:?}",
                        reply.retry_after
                    );
                }
            }
        }
    }

    // The order limit is the client's own: another client still orders, both ways.
    let other = app.user_without_login(Role::Client).await;
    for way in [Rest, Form] {
        let body = json!({ "service_id": service, "worker_id": null, "description": "" });
        let call = Call::new(Method::POST, "/api/v1/orders", Some(body), "create_order")
            .field("service_id", service)
            .field("worker_id", "")
            .field("description", "");
        let reply = ways.through(way, Some(&other), &call).await;
        assert_eq!(
            reply.outcome(),
            Outcome::Done,
            "another client through {way:?}: {}",
            reply.body
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reads: the same rows for the same caller.

/// A read, as both ways ask it.
#[derive(Debug, Clone, Copy)]
enum Read {
    Orders,
    PendingOrders,
    /// One order, the reader's (client A's with worker A) or another user's (client B's with worker B).
    Order(Target),
    Notifications,
    UnreadNotifications,
    Transactions,
    Users,
    /// The active services.
    Services,
    /// Every service (only admins see the inactive ones).
    AllServices,
    /// The caller's notification settings.
    NotificationSettings,
    /// The delivery log (admins).
    Deliveries,
}

impl Read {
    /// The call, and where the rows are in the REST and the form answers.
    fn call(self, w: &World) -> (Call, &'static str, &'static str) {
        let list =
            |path: &str, function| Call::new(Method::GET, path, None, function).field("page", 1);
        match self {
            Self::Orders => (list("/api/v1/orders", "list_orders"), "/results", "/items"),
            Self::PendingOrders => (
                list("/api/v1/orders?status=pending", "list_orders").field("status", "pending"),
                "/results",
                "/items",
            ),
            Self::Order(target) => {
                let id = if target == Own { w.order_a } else { w.order_b };
                let call = Call::new(
                    Method::GET,
                    format!("/api/v1/orders/{id}"),
                    None,
                    "get_order",
                )
                .field("id", id);
                (call, "", "/order")
            }
            Self::Notifications => (
                list("/api/v1/notifications", "list_notifications").field("unread", false),
                "/results",
                "/items",
            ),
            Self::UnreadNotifications => (
                list("/api/v1/notifications?unread=true", "list_notifications")
                    .field("unread", true),
                "/results",
                "/items",
            ),
            Self::Transactions => (
                list("/api/v1/transactions", "list_transactions"),
                "/results",
                "/items",
            ),
            Self::Users => (list("/api/v1/users", "list_users"), "/results", "/items"),
            Self::Services => (
                list("/api/v1/services?is_active=true", "list_services").field("all", false),
                "/results",
                "/items",
            ),
            Self::AllServices => (
                list("/api/v1/services", "list_services").field("all", true),
                "/results",
                "/items",
            ),
            Self::NotificationSettings => (
                Call::new(
                    Method::GET,
                    "/api/v1/me/notification-settings",
                    None,
                    "get_notification_settings",
                ),
                "",
                "",
            ),
            Self::Deliveries => (
                list("/api/v1/deliveries", "list_deliveries"),
                "/results",
                "/items",
            ),
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn reads_show_the_same_rows_to_the_same_caller_both_ways(pool: PgPool) {
    // Arrange: payments started on both orders, a message, one notification read, an inactive service.
    let app = spawn_app(pool).await;
    let ways = Ways::new(&app);
    let w = World::new(&app).await;
    for (client, order) in [(&w.client_a, w.order_a), (&w.client_b, w.order_b)] {
        let body = json!({ "order_id": order, "provider": "payme" });
        app.post("/api/v1/payments", &client.access, body)
            .await
            .expect(201);
    }
    let body = json!({ "text": "On my way" });
    app.post(
        &format!("/api/v1/orders/{}/messages", w.order_a),
        &w.worker_a.access,
        body,
    )
    .await
    .expect(201);
    let first = app
        .get("/api/v1/notifications", &w.client_a.access)
        .await
        .ids()[0];
    app.post(
        &format!("/api/v1/notifications/{first}/read"),
        &w.client_a.access,
        json!({}),
    )
    .await
    .expect(204);
    let retired = app.service(&w.admin, &[]).await;
    app.delete(&format!("/api/v1/services/{retired}"), &w.admin.access)
        .await
        .expect(204);
    sqlx::query("insert into deliveries (user_id, channel) values ($1, 'email'), ($2, 'telegram')")
        .bind(w.client_a.id)
        .bind(w.worker_b.id)
        .execute(&app.db)
        .await
        .expect("two deliveries in the log");
    let denied = Some("permission_denied");
    let not_found = Some("not_found");
    // (read, and for a client, a worker and an admin: the code it is refused with, if it is)
    let cases = [
        (Read::Orders, [None, None, None]),
        (Read::PendingOrders, [None, None, None]),
        (Read::Order(Own), [None, None, None]),
        (Read::Order(Other), [not_found, not_found, None]),
        (Read::Notifications, [None, None, None]),
        (Read::UnreadNotifications, [None, None, None]),
        (Read::Transactions, [None, denied, None]),
        (Read::Users, [denied, denied, None]),
        (Read::Services, [None, None, None]),
        (Read::AllServices, [None, None, None]),
        (Read::NotificationSettings, [None, None, None]),
        (Read::Deliveries, [denied, denied, None]),
    ];

    for (read, refusals) in cases {
        for (user, refused) in [&w.client_a, &w.worker_a, &w.admin]
            .into_iter()
            .zip(refusals)
        {
            let case = format!("{read:?} by user {}", user.username);
            let (call, rest_rows, form_rows) = read.call(&w);

            // Act
            let rest = ways.through(Rest, Some(user), &call).await;
            let form = ways.through(Form, Some(user), &call).await;

            // Assert
            match refused {
                Some(code) => {
                    assert_eq!(
                        rest.body["code"].as_str(),
                        Some(code),
                        "{case} through REST: {}",
                        rest.body
                    );
                }
                None => {
                    assert_eq!(
                        rest.outcome(),
                        Outcome::Done,
                        "{case} through REST: {}",
                        rest.body
                    );
                    let (rest_rows, form_rows) =
                        (&rest.body.pointer(rest_rows), &form.body.pointer(form_rows));
                    assert_eq!(
                        rest_rows, form_rows,
                        "{case}: REST (left) and the form (right) show other rows"
                    );
                    assert!(
                        rest_rows.is_some_and(|r| r.as_array().is_none_or(|r| !r.is_empty())),
                        "{case}: nothing to compare"
                    );
                    if rest.body["count"].is_i64() {
                        assert_eq!(rest.body["count"], form.body["count"], "{case}: counts");
                    }
                }
            }
            assert_eq!(
                rest.outcome(),
                form.outcome(),
                "{case}: REST (left) and the form (right) differ"
            );
        }
    }
}

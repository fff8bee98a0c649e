//! What the payments tests share: each provider's webhook called the way the provider calls it, scenario tables
//! of such calls with the answer each must get, and the orders, transactions and notifications read back.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use app::domain::payments::click::sign;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Answer, CLICK_SECRET, CLICK_SERVICE, PAYME_KEY, TestApp, TestUser, World};

/// The price of the test service's orders, in tiyin (1 000 so'm).
pub const PRICE: i64 = 100_000;

/// What the client, the worker and the admins of an order paid in one go see of it, oldest first.
pub const PAID_KINDS: &[&str] = &["order_created", "payment_confirmed", "order_status_changed"];

/// An order's status after a [`Step`]: awaiting payment.
pub const PENDING: Option<&str> = Some("pending");
/// An order's status after a [`Step`]: paid.
pub const PAID: Option<&str> = Some("paid");
/// An order's status after a [`Step`]: canceled.
pub const CANCELED: Option<&str> = Some("canceled");

/// The `Authorization` value of HTTP Basic auth with `login` and `key`.
pub fn basic(login: &str, key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{login}:{key}"))
    )
}

/// Sends a raw body to Payme's URL with `authorization`; asserts HTTP 200 and JSON.
pub async fn payme_raw(
    app: &TestApp,
    authorization: Option<&str>,
    body: impl Into<Vec<u8>>,
) -> Value {
    let mut request = app
        .http
        .post(format!("{}/api/v1/payment/payme", app.base))
        .header("Content-Type", "text/json; charset=UTF-8")
        .body(body.into());
    if let Some(auth) = authorization {
        request = request.header("Authorization", auth);
    }
    let response = request.send().await.expect("the webhook answers");
    assert_eq!(
        response.status(),
        200,
        "Payme's webhook must always answer 200"
    );
    response.json().await.expect("a JSON answer")
}

/// A correctly authenticated Payme call.
pub async fn payme(app: &TestApp, method: &str, params: Value) -> Value {
    let body = json!({ "id": 7, "method": method, "params": params });
    payme_raw(app, Some(&basic("Paycom", PAYME_KEY)), body.to_string()).await
}

/// The code of Payme's error in `answer` (panics when it is a result).
pub fn error_code(answer: &Value) -> i64 {
    answer["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected an error, got {answer}"))
}

/// Payme's result in `answer`, asserting it is not an error.
#[track_caller]
pub fn result(answer: &Value) -> &Value {
    assert!(
        answer.get("error").is_none(),
        "expected a result, got {answer}"
    );
    &answer["result"]
}

/// Payme's `account` naming `order`.
pub fn account(order: i64) -> Value {
    json!({ "order_id": order.to_string() })
}

/// The params of Payme's `CreateTransaction` of `id` for `order` at Payme's `time`, for the price.
fn create_params(id: &str, order: i64, time: i64) -> Value {
    json!({ "id": id, "time": time, "amount": PRICE, "account": account(order) })
}

/// Payme's `CreateTransaction` of `id` for `order` at Payme's `time`, for the price.
pub async fn create(app: &TestApp, id: &str, order: i64, time: i64) -> Value {
    payme(app, "CreateTransaction", create_params(id, order, time)).await
}

/// The result of Payme's `CheckTransaction` of `id`.
pub async fn check_transaction(app: &TestApp, id: &str) -> Value {
    result(&payme(app, "CheckTransaction", json!({ "id": id })).await).clone()
}

/// The payments' clock in Unix milliseconds, the unit of Payme's `time`.
pub fn now_ms(app: &TestApp) -> i64 {
    app.clock.now_ms()
}

/// A signed Click request; `fields` are sent as given (so tests can send raw amounts) and signed over them.
pub async fn click(app: &TestApp, fields: &[(&str, String)]) -> Value {
    click_raw(app, signed_body(fields)).await
}

/// The form body of `fields`, signed over them unless a `sign_string` is among them.
pub fn signed_body(fields: &[(&str, String)]) -> String {
    let mut map: BTreeMap<String, String> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let prepare_id = map.get("merchant_prepare_id").cloned();
    let complete = map.get("action").is_some_and(|a| a == "1");
    if !map.contains_key("sign_string") {
        let signature = sign(
            CLICK_SECRET,
            &map,
            prepare_id.as_deref().filter(|_| complete),
        );
        map.insert("sign_string".to_owned(), signature);
    }
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&map)
        .finish()
}

/// Sends a raw form body to Click's URL; asserts HTTP 200 and JSON.
pub async fn click_raw(app: &TestApp, body: impl Into<Vec<u8>>) -> Value {
    let response = app
        .http
        .post(format!("{}/api/v1/payment/click", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.into())
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(
        response.status(),
        200,
        "Click's webhook must always answer 200"
    );
    response.json().await.expect("a JSON answer")
}

/// The fields of Click's request `attempt` for `order` (`action` 0: Prepare, 1: Complete), for the price in
/// so'm as Click formats it, with no error.
pub fn click_fields(
    attempt: i64,
    order: i64,
    action: u8,
    prepare_id: Option<i64>,
) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("click_trans_id", attempt.to_string()),
        ("service_id", CLICK_SERVICE.to_string()),
        ("click_paydoc_id", (attempt + 1_000_000).to_string()),
        ("merchant_trans_id", order.to_string()),
        ("amount", "1000.00".to_owned()),
        ("action", action.to_string()),
        ("error", "0".to_owned()),
        ("error_note", "Success".to_owned()),
        ("sign_time", "2026-11-24 10:00:00".to_owned()),
    ];
    if let Some(id) = prepare_id {
        fields.push(("merchant_prepare_id", id.to_string()));
    }
    fields
}

/// `fields` with the field `name` set to `value` (added when it is not there).
pub fn with(
    mut fields: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    match fields.iter_mut().find(|(field, _)| *field == name) {
        Some(field) => value.clone_into(&mut field.1),
        None => fields.push((name, value.to_owned())),
    }
    fields
}

/// Click's `error` in `answer`.
pub fn click_error(answer: &Value) -> i64 {
    answer["error"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error code in {answer}"))
}

/// Sends `method` without a body to a provider's webhook at `path`; asserts HTTP 200 and returns the JSON.
pub async fn webhook_with_method(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<&str>,
) -> Value {
    let mut request = app
        .http
        .request(method.clone(), format!("{}{path}", app.base));
    if let Some(auth) = authorization {
        request = request.header("Authorization", auth);
    }
    let response = request.send().await.expect("an answer");
    assert_eq!(response.status(), 200, "{method} {path}");
    response.json().await.expect("JSON")
}

/// `POST /api/v1/payments`: `user` starts a checkout of `order` through `provider`.
pub async fn checkout(app: &TestApp, user: &TestUser, order: i64, provider: &str) -> Answer {
    let body = json!({ "order_id": order, "provider": provider });
    app.post("/api/v1/payments", &user.access, body).await
}

/// Another order of the world's service by client A, with worker A.
pub async fn new_order(app: &TestApp, w: &World) -> i64 {
    app.order(&w.client_a, w.service, Some(&w.worker_a)).await["id"]
        .as_i64()
        .expect("an order id")
}

/// The status of `order`.
pub async fn order_status(app: &TestApp, order: i64) -> String {
    sqlx::query_scalar("select status from orders where id = $1")
        .bind(order)
        .fetch_one(&app.db)
        .await
        .expect("the order exists")
}

/// How many transactions `order` has, of any provider and status.
pub async fn transactions_of(app: &TestApp, order: i64) -> i64 {
    sqlx::query_scalar("select count(*) from transactions where order_id = $1")
        .bind(order)
        .fetch_one(&app.db)
        .await
        .expect("counted")
}

/// The kinds of the notifications of `order` that `token`'s user sees, oldest first.
pub async fn kinds_seen(app: &TestApp, token: &str, order: i64) -> Vec<String> {
    let page = app
        .get(
            &format!("/api/v1/notifications?order_id={order}&limit=100"),
            token,
        )
        .await;
    let mut kinds: Vec<(i64, String)> = page.expect(200)["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|n| {
            (
                n["id"].as_i64().unwrap_or_default(),
                n["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    kinds.sort();
    kinds.into_iter().map(|(_, k)| k).collect()
}

/// Asserts that each of `users` sees exactly `kinds` among the notifications of `order`, oldest first.
pub async fn assert_seen(app: &TestApp, users: &[&TestUser], order: i64, kinds: &[&str]) {
    for user in users {
        assert_eq!(
            kinds_seen(app, &user.access, order).await,
            kinds,
            "what {} sees of order {order}",
            user.username
        );
    }
}

/// How many notifications of `kind` `order` has.
pub async fn count_kind(app: &TestApp, order: i64, kind: &str) -> i64 {
    sqlx::query_scalar("select count(*) from notifications where order_id = $1 and kind = $2")
        .bind(order)
        .bind(kind)
        .fetch_one(&app.db)
        .await
        .expect("counted")
}

/// Sends `copies` identical `call`s at once (a Complete with `prepare_id`) and returns the answers.
pub async fn at_once(
    app: &TestApp,
    copies: usize,
    call: &Call,
    prepare_id: Option<i64>,
) -> Vec<Value> {
    futures_util::future::join_all((0..copies).map(|_| call.send(app, prepare_id))).await
}

/// Asserts that every answer is the first one, and returns it.
#[track_caller]
pub fn all_alike<'a>(answers: &'a [Value], what: &str) -> &'a Value {
    for answer in answers {
        assert_eq!(answer, &answers[0], "{what}");
    }
    &answers[0]
}

/// A provider's request in a scenario table.
#[derive(Debug, Clone)]
pub enum Call {
    /// Click's Prepare, or Complete when `complete`, of `attempt` (its `click_trans_id`) for `order`, with
    /// `changes` made to the fields before they are signed.
    Click {
        attempt: i64,
        order: i64,
        complete: bool,
        changes: Vec<(&'static str, String)>,
    },
    /// Payme's `method` with `params`.
    Payme { method: &'static str, params: Value },
}

impl Call {
    /// Click's Prepare of `attempt` for `order`, for the price.
    pub fn prepare(attempt: i64, order: i64) -> Self {
        Self::Click {
            attempt,
            order,
            complete: false,
            changes: Vec::new(),
        }
    }

    /// Click's successful Complete of `attempt` for `order`, for the price (a [`Scenario`] sends our prepare id).
    pub fn complete(attempt: i64, order: i64) -> Self {
        Self::Click {
            attempt,
            order,
            complete: true,
            changes: Vec::new(),
        }
    }

    /// This Click request with the field `name` set to `value`, then signed unless `name` is `sign_string`.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        match &mut self {
            Self::Click { changes, .. } => changes.push((name, value.into())),
            Self::Payme { method, .. } => {
                panic!("{method}: only Click's fields are changed one by one")
            }
        }
        self
    }

    /// Payme's `CheckPerformTransaction` of `order` for the price.
    pub fn check_perform(order: i64) -> Self {
        let params = json!({ "amount": PRICE, "account": account(order) });
        Self::payme("CheckPerformTransaction", params)
    }

    /// Payme's `CreateTransaction` of `id` for `order` at Payme's `time`, for the price.
    pub fn create(id: &str, order: i64, time: i64) -> Self {
        Self::payme("CreateTransaction", create_params(id, order, time))
    }

    /// Payme's `PerformTransaction` of `id`.
    pub fn perform(id: &str) -> Self {
        Self::payme("PerformTransaction", json!({ "id": id }))
    }

    /// Payme's `CancelTransaction` of `id` for `reason`.
    pub fn cancel(id: &str, reason: i64) -> Self {
        Self::payme("CancelTransaction", json!({ "id": id, "reason": reason }))
    }

    /// Payme's `CheckTransaction` of `id`.
    pub fn check(id: &str) -> Self {
        Self::payme("CheckTransaction", json!({ "id": id }))
    }

    fn payme(method: &'static str, params: Value) -> Self {
        Self::Payme { method, params }
    }

    /// Checks `answer` against its provider's rules (see [`Scenario`]); a Complete sent `prepare_id`.
    fn check_rules(&self, answer: &Value, prepare_id: Option<i64>, what: &str) {
        match self {
            Self::Click {
                attempt,
                order,
                complete,
                ..
            } => {
                assert!(answer["error_note"].is_string(), "{what}: {answer}");
                if click_error(answer) == -1 {
                    assert_eq!(answer["error_note"], "SIGN CHECK FAILED!", "{what}");
                }
                if click_error(answer) == 0 {
                    assert_eq!(answer["error_note"], "Success", "{what}: {answer}");
                    assert_eq!(answer["click_trans_id"], *attempt, "{what}: {answer}");
                    assert_eq!(
                        answer["merchant_trans_id"],
                        order.to_string(),
                        "{what}: {answer}"
                    );
                }
                if click_error(answer) == 0 && *complete {
                    let confirmed = answer["merchant_confirm_id"].as_i64();
                    assert_eq!(
                        confirmed, prepare_id,
                        "{what}: confirmed under our prepare id"
                    );
                }
            }
            Self::Payme { .. } if answer.get("error").is_some() => {
                for lang in ["ru", "uz", "en"] {
                    let message = &answer["error"]["message"][lang];
                    assert!(message.is_string(), "{what}: {answer}");
                }
            }
            Self::Payme { method, .. } => {
                let result = result(answer);
                match *method {
                    "CheckPerformTransaction" => {
                        assert_eq!(result, &json!({ "allow": true }), "{what}")
                    }
                    "CreateTransaction" => assert_eq!(result["state"], 1, "{what}: {answer}"),
                    "PerformTransaction" => assert_eq!(result["state"], 2, "{what}: {answer}"),
                    _ => {}
                }
            }
        }
    }

    /// Sends the call; a Click Complete sends `prepare_id` as `merchant_prepare_id` (none at all when `None`).
    pub async fn send(&self, app: &TestApp, prepare_id: Option<i64>) -> Value {
        match self {
            Self::Click {
                attempt,
                order,
                complete,
                changes,
            } => {
                let prepare_id = prepare_id.filter(|_| *complete);
                let mut fields = click_fields(*attempt, *order, u8::from(*complete), prepare_id);
                for (name, value) in changes {
                    fields = with(fields, name, value);
                }
                click(app, &fields).await
            }
            Self::Payme { method, params } => payme(app, method, params.clone()).await,
        }
    }

    /// The provider's code in `answer`: Click's `error`, or Payme's error code and 0 for a result.
    fn code(&self, answer: &Value) -> i64 {
        match self {
            Self::Click { .. } => click_error(answer),
            Self::Payme { .. } if answer.get("error").is_some() => error_code(answer),
            Self::Payme { .. } => {
                result(answer);
                0
            }
        }
    }

    /// What a [`Scenario`] files a successful answer under: a Click Prepare by attempt, and Payme's Create,
    /// Perform and Cancel by transaction id (the calls whose repeats must answer as the first did).
    fn key(&self) -> Option<(&'static str, String)> {
        match self {
            Self::Click {
                attempt,
                complete: false,
                ..
            } => Some(("Prepare", attempt.to_string())),
            Self::Click { .. } => None,
            Self::Payme { method, params } => {
                let id = params["id"].as_str()?;
                [
                    "CreateTransaction",
                    "PerformTransaction",
                    "CancelTransaction",
                ]
                .contains(method)
                .then(|| (*method, id.to_owned()))
            }
        }
    }
}

/// A row of a scenario table: the call, the code it must get (Click's `error`; Payme's error code, or 0 for a
/// result), the status its order must be in afterwards (`None`: not checked), and what the row shows.
pub type Step = (Call, i64, Option<&'static str>, &'static str);

/// Runs scenario tables against one app, remembering the first successful answer to each Click Prepare and each
/// Payme Create, Perform and Cancel: a Complete then sends the prepare id we gave its attempt, a Payme call by
/// transaction id knows its order, and a repeat is checked against the first answer.
///
/// Besides each row's code and status, every answer is checked against the providers' rules (`shared/PAYMENTS.md`):
/// - Click: an `error_note` always, "Success" with `click_trans_id` and `merchant_trans_id` echoed on success
///   and "SIGN CHECK FAILED!" on -1; a Complete confirms under our prepare id;
/// - Payme: an error has a message in Russian, Uzbek and English; `CheckPerformTransaction` allows, a created
///   transaction is in state 1 and a performed one in state 2;
/// - a repeated Prepare, Create, Perform or Cancel that succeeds answers as the first did (Click and Payme retry).
pub struct Scenario<'a> {
    app: &'a TestApp,
    /// The first successful answer, by [`Call::key`].
    firsts: HashMap<(&'static str, String), Value>,
    /// The order of each Payme transaction created in the scenario, by transaction id.
    orders: HashMap<String, i64>,
}

impl<'a> Scenario<'a> {
    /// A scenario against `app` that has sent nothing yet.
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            firsts: HashMap::new(),
            orders: HashMap::new(),
        }
    }

    /// Runs the rows in order.
    pub async fn run(&mut self, steps: Vec<Step>) {
        for step in steps {
            self.step(step).await;
        }
    }

    /// Runs one row and returns the answer.
    pub async fn step(&mut self, (call, code, status, what): Step) -> Value {
        let key = call.key();
        let first = key.as_ref().and_then(|k| self.firsts.get(k)).cloned();
        if first.is_some() {
            // A repeat: a time taken anew would now differ from the one in the first answer.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let prepare_id = match &call {
            Call::Click { attempt, .. } => self.firsts.get(&("Prepare", attempt.to_string())),
            Call::Payme { .. } => None,
        }
        .and_then(|prepared| prepared["merchant_prepare_id"].as_i64());
        let answer = call.send(self.app, prepare_id).await;
        assert_eq!(call.code(&answer), code, "{what}: {answer}");
        call.check_rules(&answer, prepare_id, what);
        match (code, key, first) {
            (0, Some(_), Some(first)) => {
                assert_eq!(answer, first, "{what}: a repeat answers as the first did");
            }
            (0, Some(key), None) => self.remember(&call, key, &answer),
            _ => {}
        }
        if let Some(status) = status {
            let order = self
                .order_of(&call)
                .unwrap_or_else(|| panic!("{what}: the call names no order of the scenario"));
            assert_eq!(
                order_status(self.app, order).await,
                status,
                "{what}: the status of order {order} after it"
            );
        }
        answer
    }

    /// Files the first successful answer to `call`, and the order of a transaction Payme created.
    fn remember(&mut self, call: &Call, key: (&'static str, String), answer: &Value) {
        if key.0 == "CreateTransaction" {
            let order = self.order_of(call).expect("a created transaction's order");
            self.orders.insert(key.1.clone(), order);
        }
        self.firsts.insert(key, answer.clone());
    }

    /// The prepare id we gave Click's `attempt`.
    pub fn prepare_id(&self, attempt: i64) -> i64 {
        self.firsts[&("Prepare", attempt.to_string())]["merchant_prepare_id"]
            .as_i64()
            .expect("a prepare id")
    }

    /// The result of the first successful Payme `method` (Create, Perform or Cancel) of transaction `id`.
    pub fn result_of(&self, method: &'static str, id: &str) -> Value {
        result(&self.firsts[&(method, id.to_owned())]).clone()
    }

    /// The order `call` concerns: the one it names, or the one its Payme transaction was created for.
    fn order_of(&self, call: &Call) -> Option<i64> {
        match call {
            Call::Click { order, .. } => Some(*order),
            Call::Payme { params, .. } => params["account"]["order_id"]
                .as_str()
                .and_then(|order| order.parse().ok())
                .or_else(|| self.orders.get(params["id"].as_str()?).copied()),
        }
    }
}

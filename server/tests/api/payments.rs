//! Payments against the real server and database: Payme's sandbox scenarios, Click's official test matrix, the
//! 12-hour timeout, refunds, cross-provider reservation, malformed bodies, concurrency, checkout links,
//! reconciliation, fiscal receipts (against a local mock of Click's merchant API) and the gateway sandbox.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use app::domain::payments::click::sign;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{
    CLICK_MERCHANT_USER, CLICK_SECRET, CLICK_SERVICE, PAYME_KEY, PAYME_MERCHANT, TestApp, World,
    spawn_app, spawn_app_with,
};

/// The price of the test service's orders, in tiyin (1 000 so'm).
const PRICE: i64 = 100_000;

fn basic(login: &str, key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{login}:{key}"))
    )
}

/// Sends a raw body to Payme's URL with `authorization`; asserts HTTP 200 and JSON.
async fn payme_raw(app: &TestApp, authorization: Option<&str>, body: impl Into<Vec<u8>>) -> Value {
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
async fn payme(app: &TestApp, method: &str, params: Value) -> Value {
    let body = json!({ "id": 7, "method": method, "params": params });
    payme_raw(app, Some(&basic("Paycom", PAYME_KEY)), body.to_string()).await
}

fn error_code(answer: &Value) -> i64 {
    answer["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected an error, got {answer}"))
}

#[track_caller]
fn result(answer: &Value) -> &Value {
    assert!(
        answer.get("error").is_none(),
        "expected a result, got {answer}"
    );
    &answer["result"]
}

fn account(order: i64) -> Value {
    json!({ "order_id": order.to_string() })
}

async fn create(app: &TestApp, id: &str, order: i64, time: i64) -> Value {
    payme(
        app,
        "CreateTransaction",
        json!({ "id": id, "time": time, "amount": PRICE, "account": account(order) }),
    )
    .await
}

fn now_ms(app: &TestApp) -> i64 {
    app.clock.now_ms()
}

/// A signed Click request; `fields` are sent as given (so tests can send raw amounts) and signed over them.
async fn click(app: &TestApp, fields: &[(&str, String)]) -> Value {
    click_raw(app, signed_body(fields)).await
}

/// The form body of `fields`, signed over them unless a `sign_string` is among them.
fn signed_body(fields: &[(&str, String)]) -> String {
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

async fn click_raw(app: &TestApp, body: impl Into<Vec<u8>>) -> Value {
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

/// The fields of a Click request for `order` (amount in so'm as Click formats it).
fn click_fields(
    attempt: i64,
    order: i64,
    action: u8,
    error: i64,
    prepare_id: Option<i64>,
) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("click_trans_id", attempt.to_string()),
        ("service_id", CLICK_SERVICE.to_string()),
        ("click_paydoc_id", (attempt + 1_000_000).to_string()),
        ("merchant_trans_id", order.to_string()),
        ("amount", "1000.00".to_owned()),
        ("action", action.to_string()),
        ("error", error.to_string()),
        ("error_note", "Success".to_owned()),
        ("sign_time", "2026-11-24 10:00:00".to_owned()),
    ];
    if let Some(id) = prepare_id {
        fields.push(("merchant_prepare_id", id.to_string()));
    }
    fields
}

fn with(
    mut fields: Vec<(&'static str, String)>,
    name: &str,
    value: &str,
) -> Vec<(&'static str, String)> {
    for field in &mut fields {
        if field.0 == name {
            field.1 = value.to_owned();
        }
    }
    fields
}

fn click_error(answer: &Value) -> i64 {
    answer["error"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error code in {answer}"))
}

async fn order_status(app: &TestApp, order: i64) -> String {
    sqlx::query_scalar("select status from orders where id = $1")
        .bind(order)
        .fetch_one(&app.db)
        .await
        .expect("the order exists")
}

/// The kinds of the notifications of `order` that `token`'s user sees, oldest first.
async fn kinds_seen(app: &TestApp, token: &str, order: i64) -> Vec<String> {
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

async fn count_kind(app: &TestApp, order: i64, kind: &str) -> i64 {
    sqlx::query_scalar("select count(*) from notifications where order_id = $1 and kind = $2")
        .bind(order)
        .bind(kind)
        .fetch_one(&app.db)
        .await
        .expect("counted")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn payme_scenario_1_create_and_cancel_an_unconfirmed_transaction(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let order = w.order_a;

    // Wrong credentials: every method answers -32504, whatever is wrong.
    let before = app.fingerprint().await;
    let methods = [
        "CheckPerformTransaction",
        "CreateTransaction",
        "PerformTransaction",
        "CancelTransaction",
        "CheckTransaction",
        "GetStatement",
        "ChangePassword",
    ];
    for method in methods {
        let params = json!({ "id": "a", "amount": PRICE, "account": account(order) });
        let body = json!({ "id": 1, "method": method, "params": params });
        for auth in [
            None,
            Some(basic("Paycom", "wrong-key")),
            Some(basic("Payme", PAYME_KEY)),
            Some(format!("Bearer {PAYME_KEY}")),
            Some("Basic !!!not-base64".to_owned()),
            Some(basic("Paycom", &format!("{PAYME_KEY}x"))),
        ] {
            let answer = payme_raw(&app, auth.as_deref(), body.to_string()).await;
            assert_eq!(
                error_code(&answer),
                -32504,
                "{method} with {auth:?}: {answer}"
            );
            assert_eq!(answer["id"], 1);
            assert!(answer["error"]["message"]["ru"].is_string());
        }
    }
    // Scheme and padding are read leniently, as Payme's template does.
    let lenient = payme_raw(
        &app,
        Some(&format!(
            "  basic {}  ",
            base64::engine::general_purpose::STANDARD.encode(format!("Paycom:{PAYME_KEY}"))
        )),
        json!({
            "id": 1, "method": "CheckPerformTransaction", "params": { "amount": PRICE, "account": account(order) }
        })
        .to_string(),
    )
    .await;
    assert_eq!(result(&lenient)["allow"], true);

    // Wrong amount, then a wrong order.
    for method in ["CheckPerformTransaction", "CreateTransaction"] {
        let id = "5305e3bab097f420a62ced01";
        let params = json!({ "id": id, "time": now_ms(&app), "amount": PRICE + 1, "account": account(order) });
        let wrong_amount = payme(&app, method, params).await;
        assert_eq!(error_code(&wrong_amount), -31001, "{method}");
        let params =
            json!({ "id": id, "time": now_ms(&app), "amount": PRICE, "account": account(999_999) });
        let wrong_order = payme(&app, method, params).await;
        assert_eq!(error_code(&wrong_order), -31050, "{method}");
        assert_eq!(wrong_order["error"]["data"], "order_id");
        assert!(wrong_order["error"]["message"]["uz"].is_string());
    }
    assert_eq!(
        app.fingerprint().await,
        before,
        "refused calls wrote nothing"
    );

    // Check, create, repeat, check, a second transaction for the awaiting order.
    let check = payme(
        &app,
        "CheckPerformTransaction",
        json!({ "amount": PRICE, "account": account(order) }),
    )
    .await;
    assert_eq!(result(&check), &json!({ "allow": true }));
    let time = now_ms(&app);
    let first = create(&app, "5305e3bab097f420a62ced0b", order, time).await;
    let created = result(&first).clone();
    assert_eq!(created["state"], 1);
    assert!(created["transaction"].is_string());
    assert!(created["create_time"].as_i64().unwrap_or_default() > 0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = create(&app, "5305e3bab097f420a62ced0b", order, time).await;
    assert_eq!(
        result(&again),
        &created,
        "a repeated create answers as the first did"
    );
    let checked = payme(
        &app,
        "CheckTransaction",
        json!({ "id": "5305e3bab097f420a62ced0b" }),
    )
    .await;
    assert_eq!(
        result(&checked),
        &json!({ "create_time": created["create_time"], "perform_time": 0, "cancel_time": 0,
                  "transaction": created["transaction"], "state": 1, "reason": null })
    );
    let other = create(&app, "5305e3bab097f420a62ced0c", order, now_ms(&app)).await;
    assert_eq!(error_code(&other), -31008);
    let check_busy = payme(
        &app,
        "CheckPerformTransaction",
        json!({ "amount": PRICE, "account": account(order) }),
    )
    .await;
    assert_eq!(
        error_code(&check_busy),
        -31008,
        "a reserved order is not payable again"
    );

    // The reservation: the client may not cancel the order meanwhile, nor may the worker take cash for it.
    let cancel_order = app
        .patch(
            &format!("/api/v1/orders/{order}/status"),
            &w.client_a.access,
            json!({ "status": "canceled" }),
        )
        .await;
    assert_eq!(cancel_order.status, 409, "{}", cancel_order.body);
    let cash = app
        .patch(
            &format!("/api/v1/orders/{order}/status"),
            &w.worker_a.access,
            json!({ "status": "paid" }),
        )
        .await;
    assert_eq!(cash.status, 409, "{}", cash.body);

    // Cancel (sent twice, as Payme does), then check.
    let canceled = payme(
        &app,
        "CancelTransaction",
        json!({ "id": "5305e3bab097f420a62ced0b", "reason": 3 }),
    )
    .await;
    let canceled = result(&canceled).clone();
    assert_eq!(canceled["state"], -1);
    assert_eq!(canceled["transaction"], created["transaction"]);
    let twice = payme(
        &app,
        "CancelTransaction",
        json!({ "id": "5305e3bab097f420a62ced0b", "reason": 1 }),
    )
    .await;
    assert_eq!(
        result(&twice),
        &canceled,
        "a repeated cancel answers as the first did"
    );
    let checked = payme(
        &app,
        "CheckTransaction",
        json!({ "id": "5305e3bab097f420a62ced0b" }),
    )
    .await;
    assert_eq!(result(&checked)["state"], -1);
    assert_eq!(result(&checked)["reason"], 3, "the first reason is kept");
    assert_eq!(result(&checked)["cancel_time"], canceled["cancel_time"]);

    // The order is payable again, and everyone saw the canceled payment.
    assert_eq!(order_status(&app, order).await, "pending");
    for user in [&w.client_a, &w.worker_a, &w.admin] {
        assert_eq!(
            kinds_seen(&app, &user.access, order).await,
            ["order_created", "payment_canceled"],
            "{}",
            user.username
        );
    }
    assert!(kinds_seen(&app, &w.client_b.access, order).await.is_empty());
    let retry = create(&app, "5305e3bab097f420a62ced0d", order, now_ms(&app)).await;
    assert_eq!(
        result(&retry)["state"],
        1,
        "a canceled attempt releases the order"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn payme_scenario_2_create_perform_and_refund(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let order = w.order_a;
    let id = "63b1a2c3d4e5f60718293a4b";

    assert_eq!(
        result(
            &payme(
                &app,
                "CheckPerformTransaction",
                json!({ "amount": PRICE, "account": account(order) })
            )
            .await
        )["allow"],
        true
    );
    let time = now_ms(&app);
    let created = result(&create(&app, id, order, time).await).clone();
    assert_eq!(result(&create(&app, id, order, time).await), &created);
    result(&payme(&app, "CheckTransaction", json!({ "id": id })).await);
    assert_eq!(
        error_code(&create(&app, "63b1a2c3d4e5f60718293a4c", order, time).await),
        -31008
    );

    let performed = result(&payme(&app, "PerformTransaction", json!({ "id": id })).await).clone();
    assert_eq!(performed["state"], 2);
    assert_eq!(performed["transaction"], created["transaction"]);
    assert!(
        performed["perform_time"].as_i64().unwrap_or_default()
            >= created["create_time"].as_i64().unwrap_or_default()
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = payme(&app, "PerformTransaction", json!({ "id": id })).await;
    assert_eq!(
        result(&again),
        &performed,
        "a repeated perform answers as the first did"
    );
    let checked = result(&payme(&app, "CheckTransaction", json!({ "id": id })).await).clone();
    assert_eq!(checked["state"], 2);
    assert_eq!(checked["perform_time"], performed["perform_time"]);
    assert_eq!(order_status(&app, order).await, "paid");
    assert_eq!(
        error_code(&create(&app, "63b1a2c3d4e5f60718293a4d", order, now_ms(&app)).await),
        -31008,
        "a paid order is not payable"
    );

    // The client, its worker and the admins saw the payment and the status change; nobody else did.
    for user in [&w.client_a, &w.worker_a, &w.admin] {
        assert_eq!(
            kinds_seen(&app, &user.access, order).await,
            ["order_created", "payment_confirmed", "order_status_changed"],
            "{}",
            user.username
        );
    }
    assert!(kinds_seen(&app, &w.worker_b.access, order).await.is_empty());
    let transaction = app
        .get(
            &format!(
                "/api/v1/transactions/{}",
                created["transaction"].as_str().unwrap_or_default()
            ),
            &w.client_a.access,
        )
        .await;
    let transaction = transaction.expect(200);
    assert_eq!(transaction["status"], "confirmed");
    assert_eq!(transaction["provider_transaction_id"], id);
    assert_eq!(transaction["amount"], PRICE);
    assert_eq!(transaction["state"], 2);

    // Refund: the performed transaction is canceled after perform and the paid order with it.
    let refunded =
        result(&payme(&app, "CancelTransaction", json!({ "id": id, "reason": 5 })).await).clone();
    assert_eq!(refunded["state"], -2);
    assert_eq!(
        result(&payme(&app, "CancelTransaction", json!({ "id": id, "reason": 5 })).await),
        &refunded
    );
    let checked = result(&payme(&app, "CheckTransaction", json!({ "id": id })).await).clone();
    assert_eq!(checked["state"], -2);
    assert_eq!(checked["reason"], 5);
    assert_eq!(checked["perform_time"], performed["perform_time"]);
    assert_eq!(order_status(&app, order).await, "canceled");
    assert_eq!(
        error_code(&payme(&app, "PerformTransaction", json!({ "id": id })).await),
        -31008
    );
    assert_eq!(
        kinds_seen(&app, &w.client_a.access, order).await,
        [
            "order_created",
            "payment_confirmed",
            "order_status_changed",
            "payment_canceled",
            "order_status_changed"
        ]
    );
    assert_eq!(
        error_code(
            &payme(
                &app,
                "CheckTransaction",
                json!({ "id": "000000000000000000000000" })
            )
            .await
        ),
        -31003
    );
    assert_eq!(
        error_code(
            &payme(
                &app,
                "PerformTransaction",
                json!({ "id": "000000000000000000000000" })
            )
            .await
        ),
        -31003
    );
    assert_eq!(
        error_code(
            &payme(
                &app,
                "CancelTransaction",
                json!({ "id": "000000000000000000000000", "reason": 1 })
            )
            .await
        ),
        -31003
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn payme_transactions_time_out_after_12_hours(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let id = "7a7a7a7a7a7a7a7a7a7a7a7a";
    let time = now_ms(&app);
    let created = result(&create(&app, id, w.order_a, time).await).clone();

    // Just before the limit the transaction is alive and still answers the same.
    app.clock
        .advance(Duration::from_millis(43_200_000 - 60_000));
    assert_eq!(
        result(
            &create(
                &app,
                id,
                w.order_a,
                created["create_time"].as_i64().unwrap_or_default()
            )
            .await
        )["state"],
        1
    );

    app.clock.advance(Duration::from_secs(61));
    assert_eq!(
        error_code(&payme(&app, "PerformTransaction", json!({ "id": id })).await),
        -31008
    );
    let checked = result(&payme(&app, "CheckTransaction", json!({ "id": id })).await).clone();
    assert_eq!(checked["state"], -1);
    assert_eq!(checked["reason"], 4, "a timeout is reason 4");
    assert!(checked["cancel_time"].as_i64().unwrap_or_default() > 0);
    assert_eq!(
        error_code(&create(&app, id, w.order_a, time).await),
        -31008,
        "an expired transaction cannot be re-created"
    );
    assert_eq!(
        order_status(&app, w.order_a).await,
        "pending",
        "the order is payable again"
    );
    assert_eq!(count_kind(&app, w.order_a, "payment_canceled").await, 1);

    // A new transaction whose Payme time is already 12 hours old is refused; a fresh one is taken.
    assert_eq!(
        error_code(
            &create(
                &app,
                "8b8b8b8b8b8b8b8b8b8b8b8b",
                w.order_a,
                now_ms(&app) - 43_200_001
            )
            .await
        ),
        -31008
    );
    assert_eq!(
        result(&create(&app, "9c9c9c9c9c9c9c9c9c9c9c9c", w.order_a, now_ms(&app)).await)["state"],
        1
    );

    // The sweeper releases abandoned reservations by itself (here: order B's, run directly).
    result(&create(&app, "adadadadadadadadadadadad", w.order_b, now_ms(&app)).await);
    app.clock.advance(Duration::from_secs(13 * 3600));
    let settings = app::domain::payments::Settings {
        payme: None,
        click: None,
        public_url: String::new(),
        sandbox: false,
        clock: app.clock.clone(),
    };
    let ctx = app::domain::Context {
        payments: std::sync::Arc::new(settings),
        ..app.ctx.clone()
    };
    app::domain::payments::sweep(&ctx)
        .await
        .expect("the sweep runs");
    for id in ["9c9c9c9c9c9c9c9c9c9c9c9c", "adadadadadadadadadadadad"] {
        let checked = result(&payme(&app, "CheckTransaction", json!({ "id": id })).await).clone();
        assert_eq!(
            (checked["state"].as_i64(), checked["reason"].as_i64()),
            (Some(-1), Some(4)),
            "{id}"
        );
    }
    assert_eq!(order_status(&app, w.order_b).await, "pending");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_refund_is_refused_once_work_started(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let id = "1f1f1f1f1f1f1f1f1f1f1f1f";
    result(&create(&app, id, w.order_a, now_ms(&app)).await);
    result(&payme(&app, "PerformTransaction", json!({ "id": id })).await);
    app.patch(
        &format!("/api/v1/orders/{}/status", w.order_a),
        &w.worker_a.access,
        json!({ "status": "in_process" }),
    )
    .await
    .expect(200);
    let before = app.fingerprint().await;
    let refused = payme(&app, "CancelTransaction", json!({ "id": id, "reason": 5 })).await;
    assert_eq!(error_code(&refused), -31007);
    assert!(
        refused["error"]["message"]["en"]
            .as_str()
            .unwrap_or_default()
            .contains("cancel")
    );
    assert_eq!(app.fingerprint().await, before);
    assert_eq!(
        result(&payme(&app, "CheckTransaction", json!({ "id": id })).await)["state"],
        2
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_order_reserved_or_paid_through_one_provider_refuses_the_other(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let third = app.order(&w.client_a, w.service, Some(&w.worker_a)).await["id"]
        .as_i64()
        .unwrap_or_default();
    let fourth = app.order(&w.client_a, w.service, Some(&w.worker_a)).await["id"]
        .as_i64()
        .unwrap_or_default();

    // Order A reserved by Payme: Click may not prepare it.
    result(&create(&app, "2e2e2e2e2e2e2e2e2e2e2e2e", w.order_a, now_ms(&app)).await);
    let prepare = click(&app, &click_fields(3_000_000_001, w.order_a, 0, 0, None)).await;
    assert_eq!(click_error(&prepare), -9, "{prepare}");
    // Order A paid by Payme: Click answers already paid.
    result(
        &payme(
            &app,
            "PerformTransaction",
            json!({ "id": "2e2e2e2e2e2e2e2e2e2e2e2e" }),
        )
        .await,
    );
    let prepare = click(&app, &click_fields(3_000_000_002, w.order_a, 0, 0, None)).await;
    assert_eq!(click_error(&prepare), -4, "{prepare}");

    // Order B prepared by Click: Payme may neither check nor create it.
    let prepared = click(&app, &click_fields(3_000_000_003, w.order_b, 0, 0, None)).await;
    assert_eq!(click_error(&prepared), 0, "{prepared}");
    assert_eq!(
        error_code(
            &payme(
                &app,
                "CheckPerformTransaction",
                json!({ "amount": PRICE, "account": account(w.order_b) })
            )
            .await
        ),
        -31008
    );
    assert_eq!(
        error_code(&create(&app, "3f3f3f3f3f3f3f3f3f3f3f3f", w.order_b, now_ms(&app)).await),
        -31008
    );
    // ... nor may the REST checkout start another payment.
    let checkout = app
        .post(
            "/api/v1/payments",
            &w.client_b.access,
            json!({ "order_id": w.order_b, "provider": "payme" }),
        )
        .await;
    assert_eq!(checkout.status, 409, "{}", checkout.body);
    // But a second Click attempt may be prepared for it (Click sends a new click_trans_id per attempt).
    let second = click(&app, &click_fields(3_000_000_004, w.order_b, 0, 0, None)).await;
    assert_eq!(click_error(&second), 0, "{second}");

    // Order C paid by Click: Payme refuses it.
    let prepared = click(&app, &click_fields(3_000_000_005, third, 0, 0, None)).await;
    let prepare_id = prepared["merchant_prepare_id"].as_i64();
    let completed = click(&app, &click_fields(3_000_000_005, third, 1, 0, prepare_id)).await;
    assert_eq!(click_error(&completed), 0, "{completed}");
    assert_eq!(
        error_code(&create(&app, "4a4a4a4a4a4a4a4a4a4a4a4a", third, now_ms(&app)).await),
        -31008
    );
    assert_eq!(
        error_code(
            &payme(
                &app,
                "CheckPerformTransaction",
                json!({ "amount": PRICE, "account": account(third) })
            )
            .await
        ),
        -31008
    );

    // A canceled order is refused by both.
    app.force_status(fourth, "canceled").await;
    assert_eq!(
        click_error(&click(&app, &click_fields(3_000_000_006, fourth, 0, 0, None)).await),
        -9
    );
    assert_eq!(
        error_code(&create(&app, "5b5b5b5b5b5b5b5b5b5b5b5b", fourth, now_ms(&app)).await),
        -31008
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn malformed_payme_requests_get_payme_errors_and_write_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let auth = basic("Paycom", PAYME_KEY);
    let before = app.fingerprint().await;
    let order = w.order_a;
    // A request's bytes, and those of a `CreateTransaction` with the given params.
    let rpc = |request: Value| request.to_string().into_bytes();
    let create =
        |params: Value| rpc(json!({ "id": 1, "method": "CreateTransaction", "params": params }));
    #[rustfmt::skip]
    let cases: Vec<(Vec<u8>, i64)> = vec![
        (b"".to_vec(), -32700),
        (b"{not json".to_vec(), -32700),
        (b"\xff\xfe".to_vec(), -32700),
        (vec![b' '; 70 * 1024], -32700),
        (b"[]".to_vec(), -32600),
        (b"42".to_vec(), -32600),
        (rpc(json!({ "method": "CheckTransaction", "params": {} })), -32600),
        (rpc(json!({ "id": 1, "params": {} })), -32600),
        (rpc(json!({ "id": 1, "method": 5, "params": {} })), -32600),
        (rpc(json!({ "id": 1, "method": "CheckTransaction" })), -32600),
        (rpc(json!({ "id": 1, "method": "CheckTransaction", "params": [] })), -32600),
        (rpc(json!({ "id": 1, "method": "NoSuchMethod", "params": {} })), -32601),
        (rpc(json!({ "id": 1, "method": "ChangePassword", "params": { "password": "new" } })), -32601),
        (create(json!({ "id": 5, "time": 1, "amount": PRICE, "account": account(order) })), -32600),
        (create(json!({ "id": "abc", "amount": PRICE, "account": account(order) })), -32600),
        (create(json!({ "id": "abc", "time": "now", "amount": PRICE, "account": account(order) })), -32600),
        (create(json!({ "id": "abc", "time": 1, "amount": "100000", "account": account(order) })), -31001),
        (create(json!({ "id": "abc", "time": 1, "amount": 1000.5, "account": account(order) })), -31001),
        (create(json!({ "id": "abc", "time": 1, "amount": -PRICE, "account": account(order) })), -31001),
        (create(json!({ "id": "abc", "time": 1, "amount": PRICE })), -31050),
        (create(json!({ "id": "abc", "time": 1, "amount": PRICE,
                        "account": { "order_id": "1; drop table orders" } })), -31050),
        (create(json!({ "id": "abc", "time": 1, "amount": PRICE,
                        "account": { "order_id": "99999999999999999999999" } })), -31050),
        (rpc(json!({ "id": 1, "method": "CheckPerformTransaction",
                     "params": { "amount": PRICE, "account": { "order_id": null } } })), -31050),
        (rpc(json!({ "id": 1, "method": "PerformTransaction", "params": { "id": "x".repeat(100) } })), -32600),
        (rpc(json!({ "id": 1, "method": "CancelTransaction", "params": { "id": "abc" } })), -32600),
        (rpc(json!({ "id": 1, "method": "CancelTransaction", "params": { "id": "abc", "reason": "five" } })), -32600),
        (rpc(json!({ "id": 1, "method": "GetStatement", "params": { "from": "yesterday", "to": 1 } })), -32600),
    ];
    for (body, code) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        let answer = payme_raw(&app, Some(&auth), body).await;
        assert_eq!(error_code(&answer), code, "{shown}: {answer}");
        assert_eq!(answer["jsonrpc"], "2.0");
        for lang in ["ru", "uz", "en"] {
            assert!(
                answer["error"]["message"][lang].is_string(),
                "{shown}: {answer}"
            );
        }
    }
    assert_eq!(
        app.fingerprint().await,
        before,
        "malformed requests wrote nothing"
    );

    // The id is echoed as sent (number or string); the method name comes back in `data`.
    let answer = payme_raw(
        &app,
        Some(&auth),
        json!({ "id": "req-9", "method": "Nope", "params": {} }).to_string(),
    )
    .await;
    assert_eq!(answer["id"], "req-9");
    assert_eq!(answer["error"]["data"], "Nope");
    let request = json!({ "id": 1_234_567_890_123_i64, "method": "GetStatement", "params": { "from": 0, "to": 1 } });
    let answer = payme_raw(&app, Some(&auth), request.to_string()).await;
    assert_eq!(answer["id"], 1_234_567_890_123_i64);
    assert_eq!(result(&answer), &json!({ "transactions": [] }));

    // Any HTTP method but POST: -32300, still with HTTP 200.
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let response = app
            .http
            .request(method.clone(), format!("{}/api/v1/payment/payme", app.base))
            .header("Authorization", &auth)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200, "{method}");
        let answer: Value = response.json().await.expect("JSON");
        assert_eq!(error_code(&answer), -32300, "{method}");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn click_passes_the_official_test_matrix(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let third = app.order(&w.client_a, w.service, Some(&w.worker_a)).await["id"]
        .as_i64()
        .unwrap_or_default();
    let (a, b, c) = (w.order_a, w.order_b, third);

    // 1. Prepare with a wrong signature: -1.
    let mut bad_sign = click_fields(1_000_000_001, a, 0, 0, None);
    bad_sign.push(("sign_string", "0".repeat(32)));
    let answer = click(&app, &bad_sign).await;
    assert_eq!(click_error(&answer), -1);
    assert_eq!(answer["error_note"], "SIGN CHECK FAILED!");
    // 2. Prepare for an order that does not exist: -5.
    assert_eq!(
        click_error(&click(&app, &click_fields(1_000_000_001, 999_999, 0, 0, None)).await),
        -5
    );
    // 3. Prepare for the unpaid order: 0, with our prepare id.
    let prepared = click(&app, &click_fields(1_000_000_001, a, 0, 0, None)).await;
    assert_eq!(click_error(&prepared), 0, "{prepared}");
    assert_eq!(prepared["error_note"], "Success");
    assert_eq!(prepared["click_trans_id"], 1_000_000_001_i64);
    assert_eq!(prepared["merchant_trans_id"], a.to_string());
    let prepare_id = prepared["merchant_prepare_id"]
        .as_i64()
        .expect("a prepare id");
    let repeated = click(&app, &click_fields(1_000_000_001, a, 0, 0, None)).await;
    assert_eq!(
        repeated, prepared,
        "a repeated prepare answers as the first did"
    );
    // 4. Complete with a wrong signature: -1.
    let mut bad_sign = click_fields(1_000_000_001, a, 1, 0, Some(prepare_id));
    bad_sign.push(("sign_string", "f".repeat(32)));
    assert_eq!(click_error(&click(&app, &bad_sign).await), -1);
    // 5. Complete with amount 300 (re-signed): -2.
    let answer = click(
        &app,
        &with(
            click_fields(1_000_000_001, a, 1, 0, Some(prepare_id)),
            "amount",
            "300",
        ),
    )
    .await;
    assert_eq!(click_error(&answer), -2);
    assert_eq!(order_status(&app, a).await, "pending");
    // 6. Complete: 0, the order is paid.
    let completed = click(
        &app,
        &click_fields(1_000_000_001, a, 1, 0, Some(prepare_id)),
    )
    .await;
    assert_eq!(click_error(&completed), 0, "{completed}");
    assert_eq!(completed["merchant_confirm_id"], prepare_id);
    assert_eq!(order_status(&app, a).await, "paid");
    // 7. The same complete again: -4.
    assert_eq!(
        click_error(
            &click(
                &app,
                &click_fields(1_000_000_001, a, 1, 0, Some(prepare_id))
            )
            .await
        ),
        -4
    );
    // 8. error=-5017 on the confirmed payment: -9, and the payment stays confirmed.
    assert_eq!(
        click_error(
            &click(
                &app,
                &click_fields(1_000_000_001, a, 1, -5017, Some(prepare_id))
            )
            .await
        ),
        -9
    );
    assert_eq!(order_status(&app, a).await, "paid");
    // 9. A new payment (order B): 0.
    let prepared = click(&app, &click_fields(1_000_000_002, b, 0, 0, None)).await;
    assert_eq!(click_error(&prepared), 0);
    let prepare_b = prepared["merchant_prepare_id"]
        .as_i64()
        .expect("a prepare id");
    // 10. Complete with an unknown prepare id: -6.
    assert_eq!(
        click_error(
            &click(
                &app,
                &click_fields(1_000_000_002, b, 1, 0, Some(999_999_999))
            )
            .await
        ),
        -6
    );
    // 11. Complete with the right prepare id: 0.
    assert_eq!(
        click_error(&click(&app, &click_fields(1_000_000_002, b, 1, 0, Some(prepare_b))).await),
        0
    );
    // 12. A payment to cancel (order C): 0.
    let prepared = click(&app, &click_fields(1_000_000_003, c, 0, 0, None)).await;
    let prepare_c = prepared["merchant_prepare_id"]
        .as_i64()
        .expect("a prepare id");
    // 13. error=-5017: -9, the attempt is canceled and the order released.
    assert_eq!(
        click_error(
            &click(
                &app,
                &click_fields(1_000_000_003, c, 1, -5017, Some(prepare_c))
            )
            .await
        ),
        -9
    );
    // 14. The same again: -9.
    assert_eq!(
        click_error(
            &click(
                &app,
                &click_fields(1_000_000_003, c, 1, -5017, Some(prepare_c))
            )
            .await
        ),
        -9
    );
    // 15. error=0 on the canceled payment: -9.
    assert_eq!(
        click_error(&click(&app, &click_fields(1_000_000_003, c, 1, 0, Some(prepare_c))).await),
        -9
    );
    assert_eq!(order_status(&app, c).await, "pending");

    // The effects: one confirmed transaction per paid order, the canceled attempt with Click's error kept, and
    // the notifications to the order's client, worker and the admins.
    let rows: Vec<(i64, String, i32, Option<i32>, i64)> = sqlx::query_as(
        "select order_id, status, state, reason, amount from transactions where provider = 'click' order by id",
    )
    .fetch_all(&app.db)
    .await
    .expect("rows");
    assert_eq!(
        rows,
        [
            (a, "confirmed".to_owned(), 2, None, PRICE),
            (b, "confirmed".to_owned(), 2, None, PRICE),
            (c, "canceled".to_owned(), -1, Some(-5017), PRICE),
        ]
    );
    for user in [&w.client_a, &w.worker_a, &w.admin] {
        assert_eq!(
            kinds_seen(&app, &user.access, a).await,
            ["order_created", "payment_confirmed", "order_status_changed"]
        );
        assert_eq!(
            kinds_seen(&app, &user.access, c).await,
            ["order_created", "payment_canceled"]
        );
    }
    assert!(kinds_seen(&app, &w.client_a.access, b).await.is_empty());
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn malformed_click_requests_get_click_errors_and_write_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let before = app.fingerprint().await;
    let base = click_fields(2_000_000_001, w.order_a, 0, 0, None);
    for (body, code) in [
        (String::new(), -8),
        ("garbage".to_owned(), -8),
        (json!({ "click_trans_id": 1 }).to_string(), -8),
        ("click_trans_id=1&service_id=12345".to_owned(), -8),
    ] {
        assert_eq!(
            click_error(&click_raw(&app, body.clone()).await),
            code,
            "{body}"
        );
    }
    // Every required field missing in turn: -8.
    for missing in [
        "click_trans_id",
        "service_id",
        "click_paydoc_id",
        "merchant_trans_id",
        "amount",
        "action",
        "error",
        "sign_time",
    ] {
        let fields: Vec<_> = base
            .iter()
            .filter(|(k, _)| *k != missing)
            .cloned()
            .collect();
        assert_eq!(
            click_error(&click(&app, &fields).await),
            -8,
            "without {missing}"
        );
    }
    // A complete without merchant_prepare_id: -8.
    assert_eq!(
        click_error(&click(&app, &click_fields(2_000_000_001, w.order_a, 1, 0, None)).await),
        -8
    );
    // Signed, but: an unknown action (-3), another service (-8), amounts that are not exact so'm (-8 / -2),
    // an order id that is not one (-5), a non-numeric transaction id (-8).
    let cases = [
        (with(base.clone(), "action", "2"), -3),
        (with(base.clone(), "service_id", "54321"), -8),
        (with(base.clone(), "amount", "abc"), -8),
        (with(base.clone(), "amount", "1e3"), -8),
        (with(base.clone(), "amount", "-1000.00"), -8),
        (with(base.clone(), "amount", "1000.001"), -8),
        (with(base.clone(), "amount", "999.99"), -2),
        (with(base.clone(), "merchant_trans_id", "abc"), -5),
        (with(base.clone(), "click_trans_id", "12x"), -8),
        (with(base.clone(), "error", "bad"), -8),
    ];
    for (fields, code) in cases {
        let answer = click(&app, &fields).await;
        assert_eq!(click_error(&answer), code, "{fields:?}: {answer}");
        assert!(answer["error_note"].is_string());
    }
    // A field sent twice is refused, whatever the signature says.
    let twice = format!("{}&amount=1.00", signed_body(&base));
    assert_eq!(click_error(&click_raw(&app, twice).await), -8);
    assert_eq!(
        app.fingerprint().await,
        before,
        "malformed requests wrote nothing"
    );

    // Click's amount strings are exact: "1000", "1000.0" and "1000.00" are all 1 000 so'm.
    for (attempt, amount) in [
        (2_000_000_101, "1000"),
        (2_000_000_102, "1000.0"),
        (2_000_000_103, "1000.00"),
    ] {
        let answer = click(
            &app,
            &with(
                click_fields(attempt, w.order_a, 0, 0, None),
                "amount",
                amount,
            ),
        )
        .await;
        assert_eq!(click_error(&answer), 0, "{amount}: {answer}");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn fifty_concurrent_identical_performs_pay_once_and_notify_once(pool: PgPool) {
    let app = Arc::new(spawn_app(pool).await);
    let w = World::new(&app).await;
    let id = "c0c0c0c0c0c0c0c0c0c0c0c0";
    let time = now_ms(&app);

    // 50 identical creates at once: one transaction, one answer.
    let order = w.order_a;
    let creates = futures_util::future::join_all((0..50).map(|_| {
        let app = app.clone();
        async move { create(&app, id, order, time).await }
    }))
    .await;
    let first = result(&creates[0]).clone();
    for answer in &creates {
        assert_eq!(result(answer), &first);
    }
    let rows: i64 = sqlx::query_scalar("select count(*) from transactions where order_id = $1")
        .bind(w.order_a)
        .fetch_one(&app.db)
        .await
        .expect("counted");
    assert_eq!(rows, 1);

    let performs = futures_util::future::join_all((0..50).map(|_| {
        let app = app.clone();
        async move { payme(&app, "PerformTransaction", json!({ "id": id })).await }
    }))
    .await;
    let first = result(&performs[0]).clone();
    for answer in &performs {
        assert_eq!(result(answer), &first, "every perform answers identically");
    }
    assert_eq!(order_status(&app, w.order_a).await, "paid");
    assert_eq!(count_kind(&app, w.order_a, "payment_confirmed").await, 1);
    assert_eq!(count_kind(&app, w.order_a, "order_status_changed").await, 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn fifty_concurrent_identical_click_completes_confirm_once(pool: PgPool) {
    let app = Arc::new(spawn_app(pool).await);
    let w = World::new(&app).await;
    let prepared = click(&app, &click_fields(4_000_000_001, w.order_a, 0, 0, None)).await;
    let prepare_id = prepared["merchant_prepare_id"].as_i64();
    let order = w.order_a;
    let answers = futures_util::future::join_all((0..50).map(|_| {
        let app = app.clone();
        async move { click(&app, &click_fields(4_000_000_001, order, 1, 0, prepare_id)).await }
    }))
    .await;
    let mut codes: Vec<i64> = answers.iter().map(click_error).collect();
    codes.sort_unstable();
    assert_eq!(codes.iter().filter(|&&c| c == 0).count(), 1, "{codes:?}");
    assert_eq!(
        codes.iter().filter(|&&c| c == -4).count(),
        49,
        "the repeats are 'already paid': {codes:?}"
    );
    assert_eq!(order_status(&app, w.order_a).await, "paid");
    assert_eq!(count_kind(&app, w.order_a, "payment_confirmed").await, 1);
    assert_eq!(count_kind(&app, w.order_a, "order_status_changed").await, 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_checkout_returns_real_provider_links_and_the_sandbox(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let payme_checkout = app
        .post(
            "/api/v1/payments",
            &w.client_a.access,
            json!({ "order_id": w.order_a, "provider": "payme" }),
        )
        .await;
    let body = payme_checkout.expect(201).clone();
    let url = body["payment_url"].as_str().expect("a payment URL");
    let encoded = url
        .strip_prefix("https://checkout.paycom.uz/")
        .expect("Payme's checkout");
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64"),
    )
    .expect("UTF-8");
    assert_eq!(
        decoded,
        format!(
            "m={PAYME_MERCHANT};ac.order_id={};a={PRICE};c=http://testserver/orders/{}",
            w.order_a, w.order_a
        )
    );
    assert_eq!(
        body["sandbox_url"],
        format!("http://testserver/sandbox/payme/{}", w.order_a)
    );
    let transaction_id = body["transaction_id"].as_i64().expect("an id");
    let again = app
        .post(
            "/api/v1/payments",
            &w.client_a.access,
            json!({ "order_id": w.order_a, "provider": "payme" }),
        )
        .await;
    assert_eq!(
        again.expect(201)["transaction_id"],
        transaction_id,
        "an open checkout is reused"
    );
    let listed = app
        .get(
            &format!("/api/v1/transactions/{transaction_id}"),
            &w.client_a.access,
        )
        .await;
    assert_eq!(listed.expect(200)["status"], "waiting");

    let click_checkout = app
        .post(
            "/api/v1/payments",
            &w.client_a.access,
            json!({ "order_id": w.order_a, "provider": "click" }),
        )
        .await;
    let click_url = click_checkout.expect(201)["payment_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        click_url,
        format!(
            "https://my.click.uz/services/pay?service_id={CLICK_SERVICE}&merchant_id=777&amount=1000.00\
             &transaction_param={}&return_url=http%3A%2F%2Ftestserver%2Forders%2F{}",
            w.order_a, w.order_a
        )
    );

    // Payme's CreateTransaction takes over the checkout's transaction.
    let created =
        result(&create(&app, "d1d1d1d1d1d1d1d1d1d1d1d1", w.order_a, now_ms(&app)).await).clone();
    assert_eq!(created["transaction"], transaction_id.to_string());

    // Refusals, each writing nothing.
    app.force_status(w.order_b, "completed").await;
    let before = app.fingerprint().await;
    let cases = [
        (
            &w.worker_a,
            json!({ "order_id": w.order_a, "provider": "payme" }),
            403,
        ),
        (
            &w.admin,
            json!({ "order_id": w.order_a, "provider": "payme" }),
            403,
        ),
        (
            &w.client_b,
            json!({ "order_id": w.order_a, "provider": "payme" }),
            404,
        ),
        (
            &w.client_a,
            json!({ "order_id": w.order_a, "provider": "paypal" }),
            400,
        ),
        (&w.client_a, json!({ "order_id": w.order_a }), 400),
        (
            &w.client_a,
            json!({ "order_id": "one", "provider": "click" }),
            400,
        ),
        (
            &w.client_a,
            json!({ "order_id": w.order_a, "provider": "click", "amount": 1 }),
            400,
        ),
        (
            &w.client_a,
            json!({ "order_id": w.order_a, "provider": "click" }),
            409,
        ),
    ];
    for (user, body, status) in cases {
        let answer = app
            .post("/api/v1/payments", &user.access, body.clone())
            .await;
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
    }
    let done = app
        .post(
            "/api/v1/payments",
            &w.client_b.access,
            json!({ "order_id": w.order_b, "provider": "payme" }),
        )
        .await;
    assert_eq!(done.status, 409);
    assert_eq!(app.fingerprint().await, before);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn get_statement_matches_the_transaction_table(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let orders: Vec<i64> = {
        let mut ids = vec![w.order_a];
        for _ in 0..3 {
            ids.push(
                app.order(&w.client_a, w.service, Some(&w.worker_a)).await["id"]
                    .as_i64()
                    .unwrap_or_default(),
            );
        }
        ids
    };
    let base = now_ms(&app);
    let times = [base - 3_000, base - 2_000, base - 1_000, base];
    for (i, (order, time)) in orders.iter().zip(times).enumerate() {
        result(&create(&app, &format!("e{i:023}"), *order, time).await);
    }
    result(
        &payme(
            &app,
            "PerformTransaction",
            json!({ "id": format!("e{:023}", 1) }),
        )
        .await,
    );
    result(
        &payme(
            &app,
            "CancelTransaction",
            json!({ "id": format!("e{:023}", 2), "reason": 3 }),
        )
        .await,
    );
    // A failed create is not part of the statement.
    assert_eq!(
        error_code(&create(&app, "f00000000000000000000000", orders[0], base - 1_500).await),
        -31008
    );

    let statement = payme(
        &app,
        "GetStatement",
        json!({ "from": base - 2_000, "to": base - 1_000 }),
    )
    .await;
    let listed = result(&statement)["transactions"]
        .as_array()
        .expect("transactions")
        .clone();
    assert_eq!(
        listed.len(),
        2,
        "inclusive bounds on Payme's time: {listed:?}"
    );
    for entry in &listed {
        let checked =
            result(&payme(&app, "CheckTransaction", json!({ "id": entry["id"] })).await).clone();
        for field in [
            "create_time",
            "perform_time",
            "cancel_time",
            "transaction",
            "state",
            "reason",
        ] {
            assert_eq!(entry[field], checked[field], "{field}");
        }
        assert_eq!(entry["amount"], PRICE);
        assert!(entry["account"]["order_id"].is_string());
    }
    assert_eq!(listed[0]["id"], format!("e{:023}", 1));
    assert_eq!(listed[0]["state"], 2);
    assert_eq!(listed[0]["time"], base - 2_000);
    assert_eq!(listed[1]["state"], -1);
    assert_eq!(listed[1]["reason"], 3);
    let all = payme(&app, "GetStatement", json!({ "from": 0, "to": base + 1 })).await;
    let in_table: i64 =
        sqlx::query_scalar("select count(*) from transactions where provider = 'payme'")
            .fetch_one(&app.db)
            .await
            .expect("counted");
    assert_eq!(
        result(&all)["transactions"].as_array().map(Vec::len),
        Some(usize::try_from(in_table).unwrap_or_default())
    );
}

/// A local stand-in for Click's merchant API: checks the `Auth` header and serves a receipt URL.
async fn mock_click_api(hits: Arc<AtomicUsize>) -> String {
    use axum::{extract::Path, http::HeaderMap, routing::get};
    let router = axum::Router::new().route(
        "/v2/merchant/payment/ofd_data/{service}/{payment}",
        get(move |Path((service, payment)): Path<(i64, i64)>, headers: HeaderMap| {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let auth = headers.get("Auth").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let parts: Vec<&str> = auth.split(':').collect();
                let valid = parts.len() == 3 && parts[0] == CLICK_MERCHANT_USER.to_string() && {
                    use sha1::Digest as _;
                    let digest = sha1::Sha1::digest(format!("{}{CLICK_SECRET}", parts[2]));
                    hex::encode(digest) == parts[1]
                };
                if !valid || service != CLICK_SERVICE {
                    return axum::Json(json!({ "error_code": -401, "error_note": "Access denied" }));
                }
                axum::Json(json!({ "qrCodeURL": format!("https://ofd.soliq.uz/check?t=TEST&r={payment}") }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/v2/merchant")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn fiscal_receipts_come_from_clicks_merchant_api(pool: PgPool) {
    let hits = Arc::new(AtomicUsize::new(0));
    let api = mock_click_api(hits.clone()).await;
    let app = spawn_app_with(pool, move |c| c.payments.click_api_url = api).await;
    let w = World::new(&app).await;
    let prepared = click(&app, &click_fields(5_000_000_001, w.order_a, 0, 0, None)).await;
    let id = prepared["merchant_prepare_id"]
        .as_i64()
        .expect("a prepare id");
    let path = format!("/api/v1/transactions/{id}/receipt");
    assert_eq!(
        app.get(&path, &w.client_a.access).await.status,
        409,
        "not confirmed yet"
    );
    click(
        &app,
        &click_fields(5_000_000_001, w.order_a, 1, 0, Some(id)),
    )
    .await;

    let receipt = app.get(&path, &w.client_a.access).await;
    assert_eq!(
        receipt.expect(200),
        &json!({ "transaction_id": id, "qr_code_url": "https://ofd.soliq.uz/check?t=TEST&r=5001000001" })
    );
    assert_eq!(
        app.get(&path, &w.admin.access).await.expect(200)["transaction_id"],
        id
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the receipt is fetched once and kept"
    );
    assert_eq!(app.get(&path, &w.client_b.access).await.status, 404);
    assert_eq!(app.get(&path, &w.worker_a.access).await.status, 403);

    // A Payme payment has no Click receipt.
    result(&create(&app, "abababababababababababab", w.order_b, now_ms(&app)).await);
    let payme_id: i64 = sqlx::query_scalar("select id from transactions where provider = 'payme'")
        .fetch_one(&app.db)
        .await
        .expect("an id");
    assert_eq!(
        app.get(
            &format!("/api/v1/transactions/{payme_id}/receipt"),
            &w.admin.access
        )
        .await
        .status,
        409
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_unreachable_click_api_is_a_clear_502(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let prepared = click(&app, &click_fields(6_000_000_001, w.order_a, 0, 0, None)).await;
    let id = prepared["merchant_prepare_id"].as_i64();
    click(&app, &click_fields(6_000_000_001, w.order_a, 1, 0, id)).await;
    let answer = app
        .call_allowing_5xx(
            Method::GET,
            &format!("/api/v1/transactions/{}/receipt", id.unwrap_or_default()),
            Some(&w.client_a.access),
            None,
        )
        .await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert_eq!(answer.code(), "bad_gateway");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("Click")
    );
}

/// The database URL of the test's own database (for the CLI).
async fn database_url(app: &TestApp) -> String {
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&app.db)
        .await
        .expect("a name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests");
    let (server, _) = base.rsplit_once('/').expect("a database URL with a path");
    format!("{server}/{name}")
}

async fn run_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .env("DATABASE_URL", database_url(app).await)
        .env("SANDBOX_TARGET_URL", &app.base)
        .env("PAYME_MERCHANT_ID", PAYME_MERCHANT)
        .env("PAYME_KEY", PAYME_KEY)
        .env("CLICK_SERVICE_ID", CLICK_SERVICE.to_string())
        .env("CLICK_MERCHANT_ID", "777")
        .env("CLICK_MERCHANT_USER_ID", CLICK_MERCHANT_USER.to_string())
        .env("CLICK_SECRET_KEY", CLICK_SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the CLI runs")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_sandbox_cli_pays_an_order_end_to_end(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let order = w.order_a.to_string();
    let out = run_cli(
        &app,
        &["sandbox", "payme", "--order", &order, "--action", "pay"],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("PerformTransaction"), "{stdout}");
    assert!(
        stdout.contains(&format!("Order #{order} is now paid.")),
        "{stdout}"
    );
    assert_eq!(order_status(&app, w.order_a).await, "paid");
    for user in [&w.client_a, &w.worker_a, &w.admin] {
        assert_eq!(
            kinds_seen(&app, &user.access, w.order_a).await,
            ["order_created", "payment_confirmed", "order_status_changed"],
            "{}",
            user.username
        );
    }
    // Paying again fails visibly; a refund through the sandbox cancels the order.
    let again = run_cli(
        &app,
        &["sandbox", "payme", "--order", &order, "--action", "pay"],
    )
    .await;
    assert!(!again.status.success());
    let refund = run_cli(
        &app,
        &["sandbox", "payme", "--order", &order, "--action", "refund"],
    )
    .await;
    assert!(
        refund.status.success(),
        "{}",
        String::from_utf8_lossy(&refund.stdout)
    );
    assert_eq!(order_status(&app, w.order_a).await, "canceled");

    // Click through the CLI: a decline leaves the order payable, then a payment goes through.
    let order_b = w.order_b.to_string();
    let declined = run_cli(
        &app,
        &[
            "sandbox", "click", "--order", &order_b, "--action", "decline",
        ],
    )
    .await;
    assert!(
        declined.status.success(),
        "{}",
        String::from_utf8_lossy(&declined.stdout)
    );
    assert_eq!(order_status(&app, w.order_b).await, "pending");
    let paid = run_cli(
        &app,
        &["sandbox", "click", "--order", &order_b, "--action", "pay"],
    )
    .await;
    assert!(
        paid.status.success(),
        "{}",
        String::from_utf8_lossy(&paid.stdout)
    );
    assert_eq!(order_status(&app, w.order_b).await, "paid");
    assert_eq!(
        kinds_seen(&app, &w.worker_b.access, w.order_b).await,
        [
            "order_created",
            "payment_canceled",
            "payment_confirmed",
            "order_status_changed"
        ]
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_sandbox_page_plays_the_provider_for_the_orders_client(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let path = format!("{}/sandbox/click/{}", app.base, w.order_a);
    let page = app
        .http
        .get(&path)
        .bearer_auth(&w.client_a.access)
        .send()
        .await
        .expect("an answer");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("HTML");
    assert!(
        html.contains(r#"<strong id="status">pending</strong>"#),
        "{html}"
    );
    let paid = app
        .http
        .post(&path)
        .bearer_auth(&w.client_a.access)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("action=pay")
        .send()
        .await
        .expect("an answer");
    let html = paid.text().await.expect("HTML");
    assert!(
        html.contains(r#"<strong id="status">paid</strong>"#),
        "{html}"
    );
    assert!(html.contains("Click Complete"), "{html}");
    assert_eq!(order_status(&app, w.order_a).await, "paid");
    // Other clients and workers are refused; without the sandbox switch there is no page at all.
    for (user, status) in [(&w.client_b, 404), (&w.worker_a, 403)] {
        let answer = app
            .http
            .get(&path)
            .bearer_auth(&user.access)
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), status);
    }
    let secret = app.jwt_secret.clone();
    let production = spawn_app_with(app.db.clone(), move |c| {
        c.payments.payment_sandbox = false;
        c.jwt_secret = secrecy::SecretString::from(secret);
    })
    .await;
    let answer = production
        .http
        .get(format!("{}/sandbox/click/{}", production.base, w.order_a))
        .bearer_auth(&w.client_a.access)
        .send()
        .await
        .expect("an answer");
    assert_ne!(answer.status(), 200);
    let checkout = production
        .post(
            "/api/v1/payments",
            &w.client_b.access,
            json!({ "order_id": w.order_b, "provider": "click" }),
        )
        .await;
    assert_eq!(checkout.expect(201)["sandbox_url"], Value::Null);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_sandbox_page_escapes_the_service_name(pool: PgPool) {
    // Arrange: the admin names the ordered service with markup.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let name = "<script>alert(1)</script> & <b>Co</b>";
    app.patch(
        &format!("/api/v1/services/{}", w.service),
        &w.admin.access,
        json!({ "name": name }),
    )
    .await
    .expect(200);

    // Act: the order's client opens the sandbox page for the order.
    let page = app
        .http
        .get(format!("{}/sandbox/payme/{}", app.base, w.order_a))
        .bearer_auth(&w.client_a.access)
        .send()
        .await
        .expect("an answer");

    // Assert: the name is on the page as text, never as markup.
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("HTML");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_repeated_click_prepare_is_checked_again(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let first = click(&app, &click_fields(8_000_000_001, w.order_a, 0, 0, None)).await;
    assert_eq!(click_error(&first), 0, "{first}");
    // The same attempt for another order is not a repeat.
    let other = click(&app, &click_fields(8_000_000_001, w.order_b, 0, 0, None)).await;
    assert_eq!(click_error(&other), -8, "{other}");
    // A repeat with another amount is refused.
    let amount = click(
        &app,
        &with(
            click_fields(8_000_000_001, w.order_a, 0, 0, None),
            "amount",
            "999.00",
        ),
    )
    .await;
    assert_eq!(click_error(&amount), -2, "{amount}");
    // Once another attempt paid the order, the first attempt's repeat answers "already paid".
    let second = click(&app, &click_fields(8_000_000_002, w.order_a, 0, 0, None)).await;
    let second_id = second["merchant_prepare_id"].as_i64();
    assert_eq!(
        click_error(
            &click(
                &app,
                &click_fields(8_000_000_002, w.order_a, 1, 0, second_id)
            )
            .await
        ),
        0
    );
    let repeat = click(&app, &click_fields(8_000_000_001, w.order_a, 0, 0, None)).await;
    assert_eq!(click_error(&repeat), -4, "{repeat}");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn refused_requests_release_nothing_even_when_reservations_expired(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    result(&create(&app, "e1e1e1e1e1e1e1e1e1e1e1e1", w.order_a, now_ms(&app)).await);
    app.clock.advance(Duration::from_secs(13 * 3600));
    let before = app.fingerprint().await;
    // Refused for their own reasons, after the reservation expired: nothing is written, not even its release.
    let wrong_amount = click(
        &app,
        &with(
            click_fields(9_000_000_001, w.order_a, 0, 0, None),
            "amount",
            "1.00",
        ),
    )
    .await;
    assert_eq!(click_error(&wrong_amount), -2);
    let stale = create(
        &app,
        "e2e2e2e2e2e2e2e2e2e2e2e2",
        w.order_a,
        now_ms(&app) - 43_300_000,
    )
    .await;
    assert_eq!(error_code(&stale), -31008);
    for time in [0, -1, i64::MIN] {
        let answer = create(&app, "e3e3e3e3e3e3e3e3e3e3e3e3", w.order_a, time).await;
        assert_eq!(error_code(&answer), -32600, "time {time}: {answer}");
    }
    assert_eq!(app.fingerprint().await, before);
    // A valid request releases the expired reservation and takes the order.
    let fresh = click(&app, &click_fields(9_000_000_002, w.order_a, 0, 0, None)).await;
    assert_eq!(click_error(&fresh), 0, "{fresh}");
    assert_eq!(
        result(
            &payme(
                &app,
                "CheckTransaction",
                json!({ "id": "e1e1e1e1e1e1e1e1e1e1e1e1" })
            )
            .await
        )["reason"],
        4
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn other_http_methods_get_the_providers_own_errors_with_200(pool: PgPool) {
    let app = spawn_app(pool).await;
    for (path, method, field, code) in [
        (
            "/api/v1/payment/payme",
            Method::OPTIONS,
            "/error/code",
            -32300,
        ),
        ("/api/v1/payment/click", Method::GET, "/error", -8),
        ("/api/v1/payment/click", Method::PUT, "/error", -8),
        ("/api/v1/payment/click", Method::OPTIONS, "/error", -8),
    ] {
        let response = app
            .http
            .request(method.clone(), format!("{}{path}", app.base))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200, "{method} {path}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(
            body.pointer(field).and_then(Value::as_i64),
            Some(code),
            "{method} {path}: {body}"
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn concurrent_identical_cancels_and_prepares_act_once(pool: PgPool) {
    let app = Arc::new(spawn_app(pool).await);
    let w = World::new(&app).await;
    let id = "cacacacacacacacacacacaca";
    result(&create(&app, id, w.order_a, now_ms(&app)).await);
    let cancels = futures_util::future::join_all((0..20).map(|_| {
        let app = app.clone();
        async move { payme(&app, "CancelTransaction", json!({ "id": id, "reason": 3 })).await }
    }))
    .await;
    let first = result(&cancels[0]).clone();
    for answer in &cancels {
        assert_eq!(result(answer), &first, "every cancel answers identically");
    }
    assert_eq!(count_kind(&app, w.order_a, "payment_canceled").await, 1);

    let order = w.order_b;
    let prepares = futures_util::future::join_all((0..20).map(|_| {
        let app = app.clone();
        async move { click(&app, &click_fields(9_100_000_001, order, 0, 0, None)).await }
    }))
    .await;
    for answer in &prepares {
        assert_eq!(answer, &prepares[0], "every prepare answers identically");
    }
    assert_eq!(click_error(&prepares[0]), 0);
    let rows: i64 = sqlx::query_scalar("select count(*) from transactions where order_id = $1")
        .bind(order)
        .fetch_one(&app.db)
        .await
        .expect("counted");
    assert_eq!(rows, 1, "one prepared attempt");
}

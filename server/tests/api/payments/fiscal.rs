//! Fiscal receipts (`shared/PAYMENTS.md` §4): services' fiscal codes, Payme's `detail` and `SetFiscalData`, the
//! Click receipts the server submits (against a local fake of Click's merchant API that records every request and
//! fails on demand), the `required` mode's refusals, and the sandbox's part.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use app::domain::payments::fiscal;
use axum::{
    Json,
    extract::{Path, State},
    http::HeaderMap,
    routing::{get, post},
};
use serde_json::{Value, json};
use sqlx::PgPool;

use super::common::{
    Call, PAID, PENDING, PRICE, Scenario, account, checkout, click, click_error, click_fields,
    create, error_code, new_order, now_ms, order_status, payme, result, transactions_of,
};
use crate::helpers::{
    CLICK_MERCHANT_USER, CLICK_SECRET, CLICK_SERVICE, MERCHANT_TIN, TestApp, TestUser, World,
    spawn_app, spawn_app_with,
};
use server::config::FiscalReceipts;

const IKPU: &str = "10399002001000001";
const PACKAGE: &str = "1501579";

/// Gives the world's service its fiscal codes at `vat` percent, through the API.
async fn give_codes(app: &TestApp, w: &World, vat: i32) {
    let body = json!({ "ikpu_code": IKPU, "package_code": PACKAGE, "vat_percent": vat });
    let service = app
        .patch(
            &format!("/api/v1/services/{}", w.service),
            &w.admin.access,
            body,
        )
        .await;
    let service = service.expect(200);
    assert_eq!(service["ikpu_code"], IKPU);
    assert_eq!(service["vat_percent"], vat);
}

/// The transaction `id` as its client sees it through the API.
async fn transaction(app: &TestApp, user: &TestUser, id: i64) -> Value {
    app.get(&format!("/api/v1/transactions/{id}"), &user.access)
        .await
        .expect(200)
        .clone()
}

/// Whether the `Auth` header is Click's `merchant_user_id:sha1(timestamp + secret):timestamp` for our merchant.
fn valid_auth(headers: &HeaderMap) -> bool {
    use sha1::Digest as _;
    let auth = headers
        .get("Auth")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parts: Vec<&str> = auth.split(':').collect();
    parts.len() == 3
        && parts[0] == CLICK_MERCHANT_USER.to_string()
        && hex::encode(sha1::Sha1::digest(format!("{}{CLICK_SECRET}", parts[2]))) == parts[1]
}

/// What the fake merchant API saw and does.
#[derive(Default)]
struct Fake {
    /// Every `submit_items` request: whether its `Auth` was valid, its body, and whether it was accepted.
    submissions: Mutex<Vec<(bool, Value, bool)>>,
    /// How many of the next submissions to refuse (`usize::MAX`: all).
    fail_next: AtomicUsize,
    /// How long each submission takes to answer after it is recorded, in milliseconds.
    delay_ms: AtomicUsize,
}

impl Fake {
    fn accepted(&self) -> Vec<Value> {
        let seen = self.submissions.lock().expect("not poisoned");
        seen.iter()
            .filter(|(_, _, ok)| *ok)
            .map(|(_, b, _)| b.clone())
            .collect()
    }

    fn count(&self) -> usize {
        self.submissions.lock().expect("not poisoned").len()
    }
}

async fn submit_items(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let auth = valid_auth(&headers);
    let failing = fake
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
            0 => None,
            usize::MAX => Some(usize::MAX),
            n => Some(n - 1),
        })
        .is_ok();
    let accept = auth && !failing;
    fake.submissions
        .lock()
        .expect("not poisoned")
        .push((auth, body, accept));
    // Click has taken it (or refused it) and is slow to say so.
    let delay = u64::try_from(fake.delay_ms.load(Ordering::SeqCst)).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    if accept {
        Json(json!({ "error_code": 0, "error_note": "Success" }))
    } else {
        Json(json!({ "error_code": -500, "error_note": "Temporary failure" }))
    }
}

async fn ofd_data(Path((_, payment)): Path<(i64, i64)>, headers: HeaderMap) -> Json<Value> {
    if !valid_auth(&headers) {
        return Json(json!({ "error_code": -401, "error_note": "Access denied" }));
    }
    Json(json!({ "qrCodeURL": format!("https://ofd.soliq.uz/check?t=TEST&r={payment}") }))
}

/// Starts the fake of Click's merchant API; returns it and its base URL (as `CLICK_API_URL`).
async fn fake_click_api() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let router = axum::Router::new()
        .route(
            "/v2/merchant/payment/ofd_data/submit_items",
            post(submit_items),
        )
        .route(
            "/v2/merchant/payment/ofd_data/{service}/{payment}",
            get(ofd_data),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (fake, format!("http://{address}/v2/merchant"))
}

/// Pays `order` through Click's Prepare and Complete as `attempt`; returns our transaction id.
async fn pay_by_click(app: &TestApp, attempt: i64, order: i64) -> i64 {
    let mut sc = Scenario::new(app);
    sc.step((Call::prepare(attempt, order), 0, PENDING, "prepared"))
        .await;
    sc.step((Call::complete(attempt, order), 0, PAID, "paid"))
        .await;
    sc.prepare_id(attempt)
}

/// Runs the submission step until `done` holds, moving the clock past each backoff; at most `rounds` times.
async fn submit_until(app: &TestApp, rounds: usize, done: impl Fn() -> bool) {
    for _ in 0..rounds {
        fiscal::submit_due(&app.ctx).await.expect("the step runs");
        if done() {
            return;
        }
        app.clock.advance(Duration::from_secs(3600));
    }
    panic!("not done after {rounds} rounds");
}

/// The fiscal status of transaction `id`, read from the table.
async fn fiscal_status(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("select fiscal_status from transactions where id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .expect("the transaction exists")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn services_carry_validated_fiscal_codes(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let path = format!("/api/v1/services/{}", w.service);

    // Act and assert: each bad value is a 400 on its field and changes nothing.
    for (body, field) in [
        (json!({ "ikpu_code": "1039900200100000" }), "ikpu_code"),
        (json!({ "ikpu_code": "1039900200100000x" }), "ikpu_code"),
        (
            json!({ "package_code": "123456789012345678901" }),
            "package_code",
        ),
        (json!({ "package_code": "15 01" }), "package_code"),
        (json!({ "vat_percent": 101 }), "vat_percent"),
        (json!({ "vat_percent": -1 }), "vat_percent"),
    ] {
        let answer = app.patch(&path, &w.admin.access, body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert!(
            answer.body.to_string().contains(field),
            "{body}: {}",
            answer.body
        );
    }
    let unchanged = app.get(&path, &w.admin.access).await;
    assert_eq!(unchanged.expect(200)["ikpu_code"], Value::Null);
    assert_eq!(unchanged.body["vat_percent"], 0);

    // Created with codes, then cleared with null; a worker cannot set them.
    let body = json!({
        "name": "Fiscal", "price": 5_000, "ikpu_code": IKPU, "package_code": PACKAGE, "vat_percent": 15,
    });
    let created = app.post("/api/v1/services", &w.admin.access, body).await;
    let created = created.expect(201);
    assert_eq!(
        (
            &created["ikpu_code"],
            &created["package_code"],
            &created["vat_percent"]
        ),
        (&json!(IKPU), &json!(PACKAGE), &json!(15))
    );
    let id = created["id"].as_i64().expect("an id");
    let cleared = app
        .patch(
            &format!("/api/v1/services/{id}"),
            &w.admin.access,
            json!({ "ikpu_code": null }),
        )
        .await;
    assert_eq!(cleared.expect(200)["ikpu_code"], Value::Null);
    assert_eq!(
        cleared.body["package_code"], PACKAGE,
        "an absent field stays"
    );
    let refused = app
        .patch(
            &format!("/api/v1/services/{id}"),
            &w.worker_a.access,
            json!({ "ikpu_code": IKPU }),
        )
        .await;
    assert_eq!(refused.status, 403);

    // A worker's PINFL/TIN is checked too, and kept (not shown on the user object, whose fields API.md fixes).
    let worker = format!("/api/v1/users/{}", w.worker_a.id);
    for (tax_id, status, kept) in [
        ("1234567890123", 400, None),
        ("12345678901234", 200, Some("12345678901234")),
        ("1234567890", 400, Some("12345678901234")),
        ("123456789", 200, Some("123456789")),
        ("", 200, None),
    ] {
        let answer = app
            .patch(&worker, &w.admin.access, json!({ "tax_id": tax_id }))
            .await;
        assert_eq!(answer.status, status, "{tax_id:?}: {}", answer.body);
        assert!(answer.body.get("tax_id").is_none(), "{}", answer.body);
        let stored: Option<String> = sqlx::query_scalar("select tax_id from users where id = $1")
            .bind(w.worker_a.id)
            .fetch_one(&app.db)
            .await
            .expect("read");
        assert_eq!(stored.as_deref(), kept, "after {tax_id:?}");
    }
    let by_worker = app
        .patch(
            &worker,
            &w.worker_a.access,
            json!({ "tax_id": "123456789" }),
        )
        .await;
    assert_eq!(by_worker.status, 403, "only an admin sets it");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn payme_check_perform_returns_the_receipt_detail_for_each_price_and_rate(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let order = w.order_a;
    let name: String = sqlx::query_scalar("select name from services where id = $1")
        .bind(w.service)
        .fetch_one(&app.db)
        .await
        .expect("a name");

    // Without codes the answer is as it always was.
    let plain = payme(
        &app,
        "CheckPerformTransaction",
        json!({ "amount": PRICE, "account": account(order) }),
    )
    .await;
    assert_eq!(result(&plain), &json!({ "allow": true }));

    for (price, vat) in [
        (100_000, 12),
        (112_000, 12),
        (5_000_050, 15),
        (100, 0),
        (99_999_999, 100),
    ] {
        // Arrange
        give_codes(&app, &w, vat).await;
        sqlx::query("update orders set price = $2 where id = $1")
            .bind(order)
            .bind(price)
            .execute(&app.db)
            .await
            .expect("the price is set");

        // Act
        let answer = payme(
            &app,
            "CheckPerformTransaction",
            json!({ "amount": price, "account": account(order) }),
        )
        .await;

        // Assert: the price per unit in tiyin, count 1, the codes and the rate.
        let expected = json!({
            "allow": true,
            "detail": {
                "receipt_type": 0,
                "items": [{
                    "title": format!("{name} (xizmat)"), "price": price, "count": 1, "code": IKPU,
                    "package_code": PACKAGE, "vat_percent": vat,
                }],
            },
        });
        assert_eq!(result(&answer), &expected, "{price} tiyin at {vat}%");
    }
    // A wrong amount is still -31001, with or without codes.
    let wrong = payme(
        &app,
        "CheckPerformTransaction",
        json!({ "amount": 1, "account": account(order) }),
    )
    .await;
    assert_eq!(error_code(&wrong), -31001);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn set_fiscal_data_stores_one_receipt_per_transaction_and_type(pool: PgPool) {
    // Arrange: a performed Payme payment of a service with codes is due its receipt.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    give_codes(&app, &w, 12).await;
    let id = "fd00fd00fd00fd00fd00fd00";
    let created = create(&app, id, w.order_a, now_ms(&app)).await;
    let txn: i64 = result(&created)["transaction"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a number");
    result(&payme(&app, "PerformTransaction", json!({ "id": id })).await);
    let before = transaction(&app, &w.client_a, txn).await;
    assert_eq!(
        (&before["fiscal_status"], &before["fiscal_receipt_url"]),
        (&json!("pending"), &Value::Null)
    );
    let receipt = format!("/api/v1/transactions/{txn}/receipt");
    let early = app.get(&receipt, &w.client_a.access).await;
    assert_eq!(
        (early.status, &early.body["code"]),
        (409, &json!("conflict")),
        "no receipt before Payme sends it: {}",
        early.body
    );
    let data = |receipt: i64, qr: &str| {
        json!({
            "receipt_id": receipt, "status_code": 0, "message": "accepted", "terminal_id": "EP000000000025",
            "fiscal_sign": "465402353297", "qr_code_url": qr, "date": "20261206101010",
        })
    };
    let qr = "https://ofd.soliq.uz/epi?t=EP000000000025&r=1&c=20261206101010&s=465402353297";

    // Malformed params: -32602, and nothing is stored.
    let good = data(1, qr);
    for (params, what) in [
        (json!({ "type": "PERFORM", "fiscal_data": good }), "no id"),
        (
            json!({ "id": 5, "type": "PERFORM", "fiscal_data": good }),
            "a numeric id",
        ),
        (json!({ "id": id, "fiscal_data": good }), "no type"),
        (
            json!({ "id": id, "type": "REFUND", "fiscal_data": good }),
            "an unknown type",
        ),
        (
            json!({ "id": id, "type": "perform", "fiscal_data": good }),
            "a lowercase type",
        ),
        (json!({ "id": id, "type": "PERFORM" }), "no fiscal data"),
        (
            json!({ "id": id, "type": "PERFORM", "fiscal_data": "x" }),
            "fiscal data not an object",
        ),
        (
            json!({ "id": id, "type": "PERFORM", "fiscal_data": with_field(&good, "receipt_id", json!("1")) }),
            "a text receipt id",
        ),
        (
            json!({ "id": id, "type": "PERFORM", "fiscal_data": without(&good, "status_code") }),
            "no status code",
        ),
        (
            json!({ "id": id, "type": "PERFORM", "fiscal_data": with_field(&good, "qr_code_url", json!(7)) }),
            "a numeric QR URL",
        ),
    ] {
        let answer = payme(&app, "SetFiscalData", params).await;
        assert_eq!(error_code(&answer), -32602, "{what}: {answer}");
    }
    assert!(
        stored_receipts(&app, txn).await.is_empty(),
        "a refused call stores nothing"
    );

    // An unknown transaction: -31003.
    let unknown = payme(
        &app,
        "SetFiscalData",
        json!({ "id": "ffffffffffffffffffffffff", "type": "PERFORM", "fiscal_data": good }),
    )
    .await;
    assert_eq!(error_code(&unknown), -31003);

    // Act: PERFORM, a repeat of it with other data, then CANCEL.
    let first = payme(
        &app,
        "SetFiscalData",
        json!({ "id": id, "type": "PERFORM", "fiscal_data": good }),
    )
    .await;
    let repeat = payme(
        &app,
        "SetFiscalData",
        json!({ "id": id, "type": "PERFORM", "fiscal_data": data(2, "https://other") }),
    )
    .await;
    let cancel = payme(
        &app,
        "SetFiscalData",
        json!({ "id": id, "type": "CANCEL", "fiscal_data": data(3, qr) }),
    )
    .await;

    // Assert
    for answer in [&first, &repeat, &cancel] {
        assert_eq!(result(answer), &json!({ "success": true }), "{answer}");
    }
    assert_eq!(
        stored_receipts(&app, txn).await,
        [data(3, qr), good],
        "CANCEL and the first PERFORM, one each"
    );
    let after = transaction(&app, &w.client_a, txn).await;
    assert_eq!(
        (&after["fiscal_status"], &after["fiscal_receipt_url"]),
        (&json!("submitted"), &json!(qr))
    );
    let shown = app.get(&receipt, &w.client_a.access).await;
    assert_eq!(
        (shown.status, &shown.body),
        (200, &json!({ "transaction_id": txn, "qr_code_url": qr })),
        "the receipt route gives the one Payme sent"
    );
    assert_eq!(app.get(&receipt, &w.client_b.access).await.status, 404);
    assert_eq!(
        order_status(&app, w.order_a).await,
        "paid",
        "the payment is untouched"
    );
}

/// Payme's receipts of transaction `txn`, by type (`CANCEL` first).
async fn stored_receipts(app: &TestApp, txn: i64) -> Vec<Value> {
    sqlx::query_scalar(
        "select fiscal_data from payme_fiscal_data where transaction_id = $1 order by type",
    )
    .bind(txn)
    .fetch_all(&app.db)
    .await
    .expect("read")
}

fn with_field(data: &Value, field: &str, value: Value) -> Value {
    let mut data = data.clone();
    data[field] = value;
    data
}

fn without(data: &Value, field: &str) -> Value {
    let mut data = data.clone();
    data.as_object_mut().expect("an object").remove(field);
    data
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn click_receipts_are_submitted_in_tiyin_and_retried_until_accepted(pool: PgPool) {
    // Arrange: Click's merchant API refuses the first two submissions.
    let (fake, api) = fake_click_api().await;
    let app = spawn_app_with(pool, move |c| c.payments.click_api_url = api).await;
    let w = World::new(&app).await;
    give_codes(&app, &w, 12).await;
    fake.fail_next.store(2, Ordering::SeqCst);
    let attempt = 7_000_000_001;

    // Act: the payment goes through at once, whatever Click's merchant API does.
    let txn = pay_by_click(&app, attempt, w.order_a).await;
    assert_eq!(order_status(&app, w.order_a).await, "paid");
    submit_until(&app, 10, || !fake.accepted().is_empty()).await;

    // Assert: three tries, each with a valid `Auth`; the accepted one names the payment, in tiyin.
    let seen = fake.submissions.lock().expect("not poisoned").clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen.iter().all(|(auth, _, _)| *auth),
        "every request carries Click's Auth header"
    );
    let expected = json!({
        "service_id": CLICK_SERVICE,
        "payment_id": attempt + 1_000_000,
        "items": [{
            "Name": seen[2].1["items"][0]["Name"], "SPIC": IKPU, "PackageCode": PACKAGE, "Price": PRICE,
            "Amount": 1, "VAT": 10_714, "VATPercent": 12, "CommissionInfo": { "TIN": MERCHANT_TIN },
        }],
        "received_ecash": PRICE, "received_cash": 0, "received_card": 0,
    });
    assert_eq!(fake.accepted(), [expected]);
    assert!(
        seen[2].1["items"][0]["Name"]
            .as_str()
            .is_some_and(|n| n.starts_with("Service ") && n.ends_with(" (xizmat)"))
    );
    let shown = transaction(&app, &w.client_a, txn).await;
    assert_eq!(shown["fiscal_status"], "submitted");
    assert_eq!(
        shown["fiscal_receipt_url"],
        format!(
            "https://ofd.soliq.uz/check?t=TEST&r={}",
            attempt + 1_000_000
        ),
        "the receipt URL is fetched after the submission"
    );
    assert_eq!(shown["status"], "confirmed");

    // Nothing more is sent for it, however long the step runs.
    app.clock.advance(Duration::from_secs(86_400));
    fiscal::submit_due(&app.ctx).await.expect("the step runs");
    assert_eq!(fake.count(), 3);

    // Sold on a worker's behalf: their PINFL is the seller.
    app.patch(
        &format!("/api/v1/users/{}", w.worker_b.id),
        &w.admin.access,
        json!({ "tax_id": "31234567890123" }),
    )
    .await
    .expect(200);
    pay_by_click(&app, 7_000_000_002, w.order_b).await;
    submit_until(&app, 3, || fake.accepted().len() == 2).await;
    assert_eq!(
        fake.accepted()[1]["items"][0]["CommissionInfo"],
        json!({ "PINFL": "31234567890123" })
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn one_receipt_is_accepted_per_payment_with_two_instances_submitting_at_once(pool: PgPool) {
    // Arrange: two instances over one database, both aimed at the fake, which answers slowly.
    let (fake, api) = fake_click_api().await;
    let api_b = api.clone();
    let app = spawn_app_with(pool, move |c| c.payments.click_api_url = api).await;
    let (secret, prefix) = (app.jwt_secret.clone(), app.redis_prefix.clone());
    let other = spawn_app_with(app.db.clone(), move |c| {
        c.payments.click_api_url = api_b;
        c.jwt_secret = secrecy::SecretString::from(secret);
        c.redis_prefix = prefix;
    })
    .await;
    let w = World::new(&app).await;
    give_codes(&app, &w, 15).await;
    fake.delay_ms.store(150, Ordering::SeqCst);
    let mut payments = Vec::new();
    for i in 0..4 {
        let order = if i == 0 {
            w.order_a
        } else {
            new_order(&app, &w).await
        };
        let attempt = 8_000_000_001 + i;
        payments.push(attempt + 1_000_000);
        pay_by_click(&app, attempt, order).await;
    }

    // Act: both instances' steps (and their own background loops) at once, several times.
    for _ in 0..3 {
        let (a, b) = tokio::join!(fiscal::submit_due(&app.ctx), fiscal::submit_due(&other.ctx));
        a.expect("instance A's step runs");
        b.expect("instance B's step runs");
    }

    // Assert: each payment submitted and accepted exactly once.
    let mut accepted: Vec<i64> = fake
        .accepted()
        .iter()
        .map(|b| b["payment_id"].as_i64().expect("a payment id"))
        .collect();
    accepted.sort_unstable();
    assert_eq!(accepted, payments);
    assert_eq!(fake.count(), 4, "no submission was sent twice");
    for (_, body, _) in fake.submissions.lock().expect("not poisoned").iter() {
        assert_eq!(
            body["items"][0]["VAT"], 13_043,
            "100 000 tiyin at 15 %: 13 043.48 rounded"
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_receipt_whose_submitter_died_mid_send_is_submitted_again_after_its_lease_and_counted(
    pool: PgPool,
) {
    // Arrange: instance B's clock is an hour ahead, so it claims the receipt first; Click accepts it and never
    // answers B, which stands for B dying after Click took the receipt and before B recorded it.
    let (fake, api) = fake_click_api().await;
    let (fake_b, api_b) = fake_click_api().await;
    fake_b.delay_ms.store(600_000, Ordering::SeqCst);
    let app = spawn_app_with(pool, move |c| c.payments.click_api_url = api).await;
    let (secret, prefix) = (app.jwt_secret.clone(), app.redis_prefix.clone());
    let b = spawn_app_with(app.db.clone(), move |c| {
        c.payments.click_api_url = api_b;
        c.payments.click_api_timeout_secs = 600;
        c.jwt_secret = secrecy::SecretString::from(secret);
        c.redis_prefix = prefix;
    })
    .await;
    let w = World::new(&app).await;
    give_codes(&app, &w, 12).await;
    let txn = pay_by_click(&app, 9_500_000_001, w.order_a).await;
    sqlx::query(
        "update fiscal_submissions set next_attempt_at = next_attempt_at + interval '30 minutes'",
    )
    .execute(&app.db)
    .await
    .expect("the receipt is due in half an hour");
    b.clock.advance(Duration::from_secs(3600));
    let stuck = tokio::spawn(async move { fiscal::submit_due(&b.ctx).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fake_b.accepted().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "B never submitted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Act and assert: while B's lease lasts nobody else sends it, even once it is due.
    app.clock.advance(Duration::from_secs(3600));
    fiscal::submit_due(&app.ctx).await.expect("the step runs");
    assert_eq!(fake.count(), 0, "the lease keeps the receipt B's");
    assert_eq!(fiscal_status(&app, txn).await, "pending");
    // After it, instance A claims it again, counts the re-claim and submits it.
    app.clock.advance(Duration::from_secs(3600));
    submit_until(&app, 3, || !fake.accepted().is_empty()).await;
    stuck.abort();

    // Assert: Click got the receipt twice, the one documented duplicate, and the count says so.
    assert_eq!((fake_b.accepted().len(), fake.accepted().len()), (1, 1));
    assert_eq!(fake_b.accepted(), fake.accepted(), "the same receipt");
    let (recoveries, submitted): (i32, bool) = sqlx::query_as(
        "select recoveries, submitted_at is not null from fiscal_submissions where transaction_id = $1",
    )
    .bind(txn)
    .fetch_one(&app.db)
    .await
    .expect("the submission");
    assert_eq!((recoveries, submitted), (1, true));
    assert_eq!(fiscal_status(&app, txn).await, "submitted");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"task_fiscal_submissions_total{provider="click",outcome="recovered"}"#),
        "counted on /metrics: {metrics}"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn nothing_is_submitted_for_a_declined_click_payment(pool: PgPool) {
    // Arrange
    let (fake, api) = fake_click_api().await;
    let app = spawn_app_with(pool, move |c| c.payments.click_api_url = api).await;
    let w = World::new(&app).await;
    give_codes(&app, &w, 12).await;
    let attempt = 9_000_000_001;
    let mut sc = Scenario::new(&app);
    sc.step((Call::prepare(attempt, w.order_a), 0, PENDING, "prepared"))
        .await;
    let txn = sc.prepare_id(attempt);

    // Act: Click declines the card.
    sc.step((
        Call::complete(attempt, w.order_a).with("error", "-5017"),
        -9,
        PENDING,
        "declined",
    ))
    .await;
    for _ in 0..3 {
        fiscal::submit_due(&app.ctx).await.expect("the step runs");
        app.clock.advance(Duration::from_secs(3600));
    }

    // Assert
    assert_eq!(fake.count(), 0);
    assert_eq!(fiscal_status(&app, txn).await, "not_required");
    let queued: i64 = sqlx::query_scalar("select count(*) from fiscal_submissions")
        .fetch_one(&app.db)
        .await
        .expect("counted");
    assert_eq!(queued, 0);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_admin_retries_a_click_submission_that_failed(pool: PgPool) {
    // Arrange: Click's merchant API refuses everything, until told otherwise.
    let (fake, api) = fake_click_api().await;
    let app = spawn_app_with(pool, move |c| c.payments.click_api_url = api).await;
    let w = World::new(&app).await;
    give_codes(&app, &w, 0).await;
    fake.fail_next.store(usize::MAX, Ordering::SeqCst);
    let txn = pay_by_click(&app, 9_100_000_001, w.order_a).await;
    for _ in 0..fiscal::MAX_ATTEMPTS {
        fiscal::submit_due(&app.ctx).await.expect("the step runs");
        app.clock.advance(Duration::from_secs(3600));
    }
    assert_eq!(fiscal_status(&app, txn).await, "failed");
    assert_eq!(
        fake.count(),
        usize::try_from(fiscal::MAX_ATTEMPTS).expect("small")
    );
    fiscal::submit_due(&app.ctx).await.expect("the step runs");
    assert_eq!(fake.count(), 12, "a failed submission waits for an admin");
    assert_eq!(
        transaction(&app, &w.admin, txn).await["fiscal_status"],
        "failed"
    );
    let path = format!("/api/v1/transactions/{txn}/fiscal/retry");

    // Act: only an admin may retry.
    assert_eq!(
        app.post(&path, &w.client_a.access, json!({})).await.status,
        403
    );
    let retried = app.post(&path, &w.admin.access, json!({})).await;

    // Assert
    assert_eq!(retried.expect(200)["fiscal_status"], "pending");
    fake.fail_next.store(0, Ordering::SeqCst);
    submit_until(&app, 3, || fake.accepted().len() == 1).await;
    assert_eq!(fiscal_status(&app, txn).await, "submitted");
    assert_eq!(fake.accepted()[0]["items"][0]["VAT"], 0);
    let again = app.post(&path, &w.admin.access, json!({})).await;
    assert_eq!((again.status, again.code()), (409, "conflict"));
    let metrics = app.metrics().await;
    for outcome in ["accepted", "refused"] {
        let line =
            format!("task_fiscal_submissions_total{{provider=\"click\",outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&line), "{line} in /metrics");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_required_mode_refuses_payment_for_a_service_without_fiscal_codes(pool: PgPool) {
    // Arrange
    let app = spawn_app_with(pool, |c| {
        c.payments.fiscal_receipts = FiscalReceipts::Required
    })
    .await;
    let w = World::new(&app).await;
    let order = w.order_a;

    // Act and assert: the checkout, Payme and Click all refuse, and write nothing.
    let refused = checkout(&app, &w.client_a, order, "payme").await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "conflict"),
        "{}",
        refused.body
    );
    let check = payme(
        &app,
        "CheckPerformTransaction",
        json!({ "amount": PRICE, "account": account(order) }),
    )
    .await;
    assert_eq!(error_code(&check), -31050);
    assert_eq!(check["error"]["data"], "order_id");
    let created = create(&app, "aaaaaaaaaaaaaaaaaaaaaaaa", order, now_ms(&app)).await;
    assert_eq!(error_code(&created), -31050);
    let prepared = click(&app, &click_fields(9_200_000_001, order, 0, None)).await;
    assert_eq!(click_error(&prepared), -5);
    assert_eq!(transactions_of(&app, order).await, 0);
    assert_eq!(order_status(&app, order).await, "pending");

    // With its codes, the same service is paid as usual, with its receipt due.
    give_codes(&app, &w, 12).await;
    assert_eq!(
        checkout(&app, &w.client_a, order, "click").await.status,
        201
    );
    let check = payme(
        &app,
        "CheckPerformTransaction",
        json!({ "amount": PRICE, "account": account(order) }),
    )
    .await;
    assert!(result(&check)["detail"].is_object());
    let txn = pay_by_click(&app, 9_200_000_002, order).await;
    assert_eq!(fiscal_status(&app, txn).await, "pending");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_optional_mode_pays_a_service_without_codes_as_before(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;

    // Act
    let txn = pay_by_click(&app, 9_300_000_001, w.order_a).await;
    let payme_id = "0b0b0b0b0b0b0b0b0b0b0b0b";
    let created = create(&app, payme_id, w.order_b, now_ms(&app)).await;
    let payme_txn: i64 = result(&created)["transaction"]
        .as_str()
        .expect("an id")
        .parse()
        .expect("a number");
    result(&payme(&app, "PerformTransaction", json!({ "id": payme_id })).await);
    fiscal::submit_due(&app.ctx).await.expect("the step runs");

    // Assert
    for (id, client) in [(txn, &w.client_a), (payme_txn, &w.client_b)] {
        let shown = transaction(&app, client, id).await;
        assert_eq!(
            (
                &shown["status"],
                &shown["fiscal_status"],
                &shown["fiscal_receipt_url"]
            ),
            (&json!("confirmed"), &json!("not_required"), &Value::Null)
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_sandbox_plays_payme_set_fiscal_data_and_clicks_merchant_api(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    give_codes(&app, &w, 12).await;

    // Act: the sandbox page pays through Payme.
    let page = app
        .http
        .post(format!("{}/sandbox/payme/{}", app.base, w.order_a))
        .bearer_auth(&w.client_a.access)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("action=pay")
        .send()
        .await
        .expect("the page answers");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("a page");

    // Assert: Payme's SetFiscalData followed the perform, and the receipt is the transaction's.
    assert!(html.contains("SetFiscalData"), "{html}");
    let url: Option<String> = sqlx::query_scalar(
        "select receipt_url from transactions where order_id = $1 and fiscal_status = 'submitted'",
    )
    .bind(w.order_a)
    .fetch_one(&app.db)
    .await
    .expect("a submitted receipt");
    let url = url.expect("a receipt URL");
    assert!(url.contains("/sandbox/receipt?provider=payme"), "{url}");

    // The sandbox's Click merchant API takes a receipt from our own client, and refuses a bad `Auth`.
    let click = app.ctx.payments.click.clone().expect("Click is on");
    let client = server::click_api::ClickApi::new(
        &format!("{}/sandbox/click-api", app.base),
        Duration::from_secs(5),
    )
    .expect("a client");
    let body = json!({
        "service_id": CLICK_SERVICE, "payment_id": 42,
        "items": [{ "Name": "x", "SPIC": IKPU, "Price": 100, "Amount": 1, "VAT": 11, "VATPercent": 12 }],
        "received_ecash": 100, "received_cash": 0, "received_card": 0,
    });
    assert_eq!(client.submit_items(&click, &body).await, Ok(()));
    let receipt = client.receipt_url(&click, 42).await.expect("a receipt URL");
    assert!(
        receipt.ends_with("/sandbox/receipt?provider=click&id=42"),
        "{receipt}"
    );
    let forged = app
        .http
        .post(format!(
            "{}/sandbox/click-api/payment/ofd_data/submit_items",
            app.base
        ))
        .header("Auth", format!("{CLICK_MERCHANT_USER}:0000:1"))
        .json(&body)
        .send()
        .await
        .expect("an answer");
    let forged: Value = forged.json().await.expect("JSON");
    assert_eq!(forged["error_code"], -401);
}

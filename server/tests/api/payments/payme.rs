//! Payme's webhook: the sandbox's scenarios (create and cancel; create, perform and refund), the 12-hour
//! timeout, a refund once work started, malformed requests and `GetStatement`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::common::{
    CANCELED, Call, PAID, PAID_KINDS, PENDING, PRICE, Scenario, Step, account, assert_seen, basic,
    check_transaction, count_kind, error_code, new_order, now_ms, order_status, payme, payme_raw,
    result, webhook_with_method,
};
use crate::helpers::{PAYME_KEY, World, spawn_app};

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn payme_scenario_1_create_and_cancel_an_unconfirmed_transaction(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let order = w.order_a;
    let id = "5305e3bab097f420a62ced0b";
    let before = app.fingerprint().await;

    // Wrong credentials: every method answers -32504, whatever is wrong.
    #[rustfmt::skip]
    let credentials = [
        (None, "no credentials"),
        (Some(basic("Paycom", "wrong-key")), "a wrong key"),
        (Some(basic("Payme", PAYME_KEY)), "a wrong login"),
        (Some(format!("Bearer {PAYME_KEY}")), "a bearer token"),
        (Some("Basic !!!not-base64".to_owned()), "credentials that are not base64"),
        (Some(basic("Paycom", &format!("{PAYME_KEY}x"))), "the key and a character more"),
    ];
    for method in [
        "CheckPerformTransaction",
        "CreateTransaction",
        "PerformTransaction",
        "CancelTransaction",
        "CheckTransaction",
        "GetStatement",
        "ChangePassword",
    ] {
        let params = json!({ "id": "a", "amount": PRICE, "account": account(order) });
        let body = json!({ "id": 1, "method": method, "params": params }).to_string();
        for (auth, what) in &credentials {
            let answer = payme_raw(&app, auth.as_deref(), body.clone()).await;
            assert_eq!(
                error_code(&answer),
                -32504,
                "{method} with {what}: {answer}"
            );
            assert_eq!(answer["id"], 1, "{method} with {what}: {answer}");
            assert!(
                answer["error"]["message"]["ru"].is_string(),
                "{method} with {what}: {answer}"
            );
        }
    }
    // Scheme and padding are read leniently, as Payme's template does.
    let lenient = format!(
        "{}  ",
        basic("Paycom", PAYME_KEY).replacen("Basic ", "  basic ", 1)
    );
    let body = json!({ "id": 1, "method": "CheckPerformTransaction",
                       "params": { "amount": PRICE, "account": account(order) } });
    let answer = payme_raw(&app, Some(&lenient), body.to_string()).await;
    assert_eq!(result(&answer)["allow"], true);

    // Wrong amount, then a wrong order.
    for method in ["CheckPerformTransaction", "CreateTransaction"] {
        let params = |amount: i64, order: i64| {
            json!({ "id": "5305e3bab097f420a62ced01", "time": now_ms(&app), "amount": amount,
                    "account": account(order) })
        };
        let wrong_amount = payme(&app, method, params(PRICE + 1, order)).await;
        assert_eq!(
            error_code(&wrong_amount),
            -31001,
            "{method} of a wrong amount"
        );
        let wrong_order = payme(&app, method, params(PRICE, 999_999)).await;
        assert_eq!(
            error_code(&wrong_order),
            -31050,
            "{method} of a missing order"
        );
        assert_eq!(wrong_order["error"]["data"], "order_id", "{method}");
        assert!(
            wrong_order["error"]["message"]["uz"].is_string(),
            "{method}"
        );
    }
    assert_eq!(
        app.fingerprint().await,
        before,
        "refused calls wrote nothing"
    );

    // Check, create (twice, as Payme retries), then a second transaction for the awaiting order.
    let (time, other) = (now_ms(&app), "5305e3bab097f420a62ced0c");
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::check_perform(order), 0, PENDING, "the awaiting order is payable"),
        (Call::create(id, order, time), 0, PENDING, "Payme creates a transaction"),
        (Call::create(id, order, time), 0, PENDING, "a repeated create answers as the first did"),
        (Call::create(other, order, time), -31008, PENDING, "a second transaction for the reserved order"),
        (Call::check_perform(order), -31008, PENDING, "a reserved order is not payable again"),
    ];
    let mut sc = Scenario::new(&app);
    sc.run(steps).await;
    let created = sc.result_of("CreateTransaction", id);
    assert!(created["transaction"].is_string());
    assert!(created["create_time"].as_i64().unwrap_or_default() > 0);
    assert_eq!(
        check_transaction(&app, id).await,
        json!({ "create_time": created["create_time"], "perform_time": 0, "cancel_time": 0,
                "transaction": created["transaction"], "state": 1, "reason": null })
    );

    // The reservation: the client may not cancel the order meanwhile, nor may the worker take cash for it.
    for (user, status, what) in [
        (&w.client_a, "canceled", "the client cancels the order"),
        (&w.worker_a, "paid", "the worker takes cash for it"),
    ] {
        let answer = app
            .patch(
                &format!("/api/v1/orders/{order}/status"),
                &user.access,
                json!({ "status": status }),
            )
            .await;
        assert_eq!(answer.status, 409, "{what}: {}", answer.body);
    }

    // Cancel, sent twice as Payme does (the second time with another reason), then check.
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::cancel(id, 3), 0, PENDING, "Payme cancels the transaction and the order is payable again"),
        (Call::cancel(id, 1), 0, PENDING, "a repeated cancel answers as the first did"),
    ];
    sc.run(steps).await;
    let canceled = sc.result_of("CancelTransaction", id);
    assert_eq!(canceled["state"], -1);
    assert_eq!(canceled["transaction"], created["transaction"]);
    let checked = check_transaction(&app, id).await;
    assert_eq!(checked["state"], -1);
    assert_eq!(checked["reason"], 3, "the first reason is kept");
    assert_eq!(checked["cancel_time"], canceled["cancel_time"]);

    // Everyone involved saw the canceled payment, nobody else did; a new transaction may take the order.
    let involved = [&w.client_a, &w.worker_a, &w.admin];
    let kinds = ["order_created", "payment_canceled"];
    assert_seen(&app, &involved, order, &kinds).await;
    assert_seen(&app, &[&w.client_b], order, &[]).await;
    let retry = Call::create("5305e3bab097f420a62ced0d", order, now_ms(&app));
    sc.step((retry, 0, PENDING, "a canceled attempt releases the order"))
        .await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn payme_scenario_2_create_perform_and_refund(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let order = w.order_a;
    let id = "63b1a2c3d4e5f60718293a4b";
    let (time, other, third) = (
        now_ms(&app),
        "63b1a2c3d4e5f60718293a4c",
        "63b1a2c3d4e5f60718293a4d",
    );

    // Check, create (twice, as Payme retries), perform (twice): the order is paid and takes no other payment.
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::check_perform(order), 0, PENDING, "the order is payable"),
        (Call::create(id, order, time), 0, PENDING, "Payme creates a transaction"),
        (Call::create(id, order, time), 0, PENDING, "a repeated create answers as the first did"),
        (Call::check(id), 0, PENDING, "the created transaction is found"),
        (Call::create(other, order, time), -31008, PENDING, "a reserved order takes no second transaction"),
        (Call::perform(id), 0, PAID, "performing the transaction pays the order"),
        (Call::perform(id), 0, PAID, "a repeated perform answers as the first did"),
        (Call::create(third, order, time), -31008, PAID, "a paid order is not payable"),
    ];
    let mut sc = Scenario::new(&app);
    sc.run(steps).await;
    let created = sc.result_of("CreateTransaction", id);
    let performed = sc.result_of("PerformTransaction", id);
    assert_eq!(performed["transaction"], created["transaction"]);
    assert!(
        performed["perform_time"].as_i64().unwrap_or_default()
            >= created["create_time"].as_i64().unwrap_or_default()
    );
    let checked = check_transaction(&app, id).await;
    assert_eq!(checked["state"], 2);
    assert_eq!(checked["perform_time"], performed["perform_time"]);

    // The client, its worker and the admins saw the payment and the status change; nobody else did.
    assert_seen(
        &app,
        &[&w.client_a, &w.worker_a, &w.admin],
        order,
        PAID_KINDS,
    )
    .await;
    assert_seen(&app, &[&w.worker_b], order, &[]).await;
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

    // Refund: the performed transaction is canceled after perform and the paid order with it. Unknown
    // transactions are not found.
    let unknown = "000000000000000000000000";
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::cancel(id, 5), 0, CANCELED, "a refund cancels the paid order"),
        (Call::cancel(id, 5), 0, CANCELED, "a repeated refund answers as the first did"),
        (Call::perform(id), -31008, CANCELED, "a refunded transaction cannot be performed"),
        (Call::check(unknown), -31003, None, "CheckTransaction of an unknown transaction"),
        (Call::perform(unknown), -31003, None, "PerformTransaction of an unknown transaction"),
        (Call::cancel(unknown, 1), -31003, None, "CancelTransaction of an unknown transaction"),
    ];
    sc.run(steps).await;
    assert_eq!(sc.result_of("CancelTransaction", id)["state"], -2);
    let checked = check_transaction(&app, id).await;
    assert_eq!(checked["state"], -2);
    assert_eq!(checked["reason"], 5);
    assert_eq!(checked["perform_time"], performed["perform_time"]);
    let refunded = [PAID_KINDS, &["payment_canceled", "order_status_changed"]].concat();
    assert_seen(&app, &[&w.client_a], order, &refunded).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn payme_transactions_time_out_after_12_hours(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let (id, a) = ("7a7a7a7a7a7a7a7a7a7a7a7a", w.order_a);
    let time = now_ms(&app);
    let mut sc = Scenario::new(&app);
    sc.step((Call::create(id, a, time), 0, PENDING, "created"))
        .await;
    let created = sc.result_of("CreateTransaction", id);

    // Just before the limit the transaction is alive and still answers the same.
    app.clock
        .advance(Duration::from_millis(43_200_000 - 60_000));
    let create_time = created["create_time"].as_i64().unwrap_or_default();
    sc.step((Call::create(id, a, create_time), 0, PENDING, "alive"))
        .await;

    // Past the limit it is canceled for reason 4 and the order is payable again, though not by an old time.
    app.clock.advance(Duration::from_secs(61));
    sc.step((Call::perform(id), -31008, PENDING, "timed out"))
        .await;
    let checked = check_transaction(&app, id).await;
    assert_eq!(checked["state"], -1);
    assert_eq!(checked["reason"], 4, "a timeout is reason 4");
    assert!(checked["cancel_time"].as_i64().unwrap_or_default() > 0);
    let (old, fresh, of_b) = (
        "8b8b8b8b8b8b8b8b8b8b8b8b",
        "9c9c9c9c9c9c9c9c9c9c9c9c",
        "adadadadadadadadadadadad",
    );
    let now = now_ms(&app);
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::create(id, a, time), -31008, PENDING, "an expired transaction cannot be re-created"),
        (Call::create(old, a, now - 43_200_001), -31008, PENDING, "a new one whose Payme time is 12 hours old"),
        (Call::create(fresh, a, now), 0, PENDING, "a fresh transaction is taken: the order is payable again"),
        (Call::create(of_b, w.order_b, now), 0, PENDING, "order B is reserved too"),
    ];
    sc.run(steps).await;
    assert_eq!(count_kind(&app, a, "payment_canceled").await, 1);

    // The sweeper releases abandoned reservations by itself (here: order B's, run directly).
    app.clock.advance(Duration::from_secs(13 * 3600));
    let settings = app::domain::payments::Settings {
        payme: None,
        click: None,
        fiscal: app::domain::payments::FiscalSettings::default(),
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
    for id in [fresh, of_b] {
        let checked = check_transaction(&app, id).await;
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
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let id = "1f1f1f1f1f1f1f1f1f1f1f1f";
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::create(id, w.order_a, now_ms(&app)), 0, PENDING, "Payme creates a transaction"),
        (Call::perform(id), 0, PAID, "performing it pays the order"),
    ];
    let mut sc = Scenario::new(&app);
    sc.run(steps).await;
    app.patch(
        &format!("/api/v1/orders/{}/status", w.order_a),
        &w.worker_a.access,
        json!({ "status": "in_process" }),
    )
    .await
    .expect(200);
    let before = app.fingerprint().await;

    // Act
    let refund = (Call::cancel(id, 5), -31007, Some("in_process"), "refund");
    let refused = sc.step(refund).await;

    // Assert
    assert!(
        refused["error"]["message"]["en"]
            .as_str()
            .unwrap_or_default()
            .contains("cancel")
    );
    assert_eq!(app.fingerprint().await, before);
    assert_eq!(check_transaction(&app, id).await["state"], 2);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn malformed_payme_requests_get_payme_errors_and_write_nothing(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let auth = basic("Paycom", PAYME_KEY);
    let before = app.fingerprint().await;
    let account = account(w.order_a);
    let create =
        |params: Value| json!({ "id": 1, "method": "CreateTransaction", "params": params });
    let mut cases: Vec<(Vec<u8>, i64, &str)> = vec![
        (b"".to_vec(), -32700, "an empty body"),
        (b"{not json".to_vec(), -32700, "broken JSON"),
        (b"\xff\xfe".to_vec(), -32700, "bytes that are not UTF-8"),
        (vec![b' '; 70 * 1024], -32700, "a body over the size limit"),
        (b"[]".to_vec(), -32600, "an array"),
        (b"42".to_vec(), -32600, "a number"),
    ];
    let calls: Vec<(Value, i64, &str)> = vec![
        (
            json!({ "method": "CheckTransaction", "params": {} }),
            -32600,
            "no request id",
        ),
        (json!({ "id": 1, "params": {} }), -32600, "no method"),
        (
            json!({ "id": 1, "method": 5, "params": {} }),
            -32600,
            "a method that is not a string",
        ),
        (
            json!({ "id": 1, "method": "CheckTransaction" }),
            -32600,
            "no params",
        ),
        (
            json!({ "id": 1, "method": "CheckTransaction", "params": [] }),
            -32600,
            "params that are not an object",
        ),
        (
            json!({ "id": 1, "method": "NoSuchMethod", "params": {} }),
            -32601,
            "an unknown method",
        ),
        (
            json!({ "id": 1, "method": "ChangePassword", "params": { "password": "new" } }),
            -32601,
            "ChangePassword, which the cashbox does not offer",
        ),
        (
            create(json!({ "id": 5, "time": 1, "amount": PRICE, "account": account })),
            -32600,
            "a transaction id that is not a string",
        ),
        (
            create(json!({ "id": "abc", "amount": PRICE, "account": account })),
            -32600,
            "a create without a time",
        ),
        (
            create(json!({ "id": "abc", "time": "now", "amount": PRICE, "account": account })),
            -32600,
            "a time that is not a number",
        ),
        (
            create(json!({ "id": "abc", "time": 1, "amount": "100000", "account": account })),
            -31001,
            "an amount as a string",
        ),
        (
            create(json!({ "id": "abc", "time": 1, "amount": 1000.5, "account": account })),
            -31001,
            "an amount with a fraction of a tiyin",
        ),
        (
            create(json!({ "id": "abc", "time": 1, "amount": -PRICE, "account": account })),
            -31001,
            "a negative amount",
        ),
        (
            create(json!({ "id": "abc", "time": 1, "amount": PRICE })),
            -31050,
            "no account",
        ),
        (
            create(json!({ "id": "abc", "time": 1, "amount": PRICE,
                           "account": { "order_id": "1; drop table orders" } })),
            -31050,
            "an order id with SQL in it",
        ),
        (
            create(json!({ "id": "abc", "time": 1, "amount": PRICE,
                           "account": { "order_id": "99999999999999999999999" } })),
            -31050,
            "an order id beyond 64 bits",
        ),
        (
            json!({ "id": 1, "method": "CheckPerformTransaction",
                    "params": { "amount": PRICE, "account": { "order_id": null } } }),
            -31050,
            "a null order id",
        ),
        (
            json!({ "id": 1, "method": "PerformTransaction", "params": { "id": "x".repeat(100) } }),
            -32600,
            "a transaction id of 100 characters",
        ),
        (
            json!({ "id": 1, "method": "CancelTransaction", "params": { "id": "abc" } }),
            -32600,
            "a cancel without a reason",
        ),
        (
            json!({ "id": 1, "method": "CancelTransaction", "params": { "id": "abc", "reason": "five" } }),
            -32600,
            "a reason that is not a number",
        ),
        (
            json!({ "id": 1, "method": "GetStatement", "params": { "from": "yesterday", "to": 1 } }),
            -32600,
            "a statement period that is not two times",
        ),
    ];
    cases.extend(
        calls
            .into_iter()
            .map(|(call, code, what)| (call.to_string().into_bytes(), code, what)),
    );

    // Act and assert: every case gets its error, in JSON-RPC 2.0 and in three languages.
    for (body, code, what) in cases {
        let answer = payme_raw(&app, Some(&auth), body).await;
        assert_eq!(error_code(&answer), code, "{what}: {answer}");
        assert_eq!(answer["jsonrpc"], "2.0", "{what}: {answer}");
        for lang in ["ru", "uz", "en"] {
            assert!(
                answer["error"]["message"][lang].is_string(),
                "{what}: {answer}"
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
    let statement = json!({ "id": 1_234_567_890_123_i64, "method": "GetStatement",
                            "params": { "from": 0, "to": 1 } });
    let answer = payme_raw(&app, Some(&auth), statement.to_string()).await;
    assert_eq!(answer["id"], 1_234_567_890_123_i64);
    assert_eq!(result(&answer), &json!({ "transactions": [] }));

    // Any HTTP method but POST: -32300, still with HTTP 200.
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let answer =
            webhook_with_method(&app, method.clone(), "/api/v1/payment/payme", Some(&auth)).await;
        assert_eq!(error_code(&answer), -32300, "{method}");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn get_statement_matches_the_transaction_table(pool: PgPool) {
    // Arrange: four transactions a second apart, the second performed and the third canceled.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut orders = vec![w.order_a];
    for _ in 0..3 {
        orders.push(new_order(&app, &w).await);
    }
    let ids: Vec<String> = (0..4).map(|i| format!("e{i:023}")).collect();
    let base = now_ms(&app);
    let times = [base - 3_000, base - 2_000, base - 1_000, base];
    let mut steps: Vec<Step> = ids
        .iter()
        .zip(&orders)
        .zip(times)
        .map(|((id, order), time)| {
            let call = Call::create(id, *order, time);
            (call, 0, PENDING, "Payme creates a transaction")
        })
        .collect();
    let failed = Call::create("f00000000000000000000000", orders[0], base - 1_500);
    #[rustfmt::skip]
    steps.extend([
        (Call::perform(&ids[1]), 0, PAID, "Payme performs the second"),
        (Call::cancel(&ids[2], 3), 0, PENDING, "Payme cancels the third"),
        (failed, -31008, PENDING, "a failed create, which is not part of the statement"),
    ]);
    Scenario::new(&app).run(steps).await;

    // Act
    let statement = payme(
        &app,
        "GetStatement",
        json!({ "from": base - 2_000, "to": base - 1_000 }),
    )
    .await;

    // Assert
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
        let checked = check_transaction(&app, entry["id"].as_str().unwrap_or_default()).await;
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
    assert_eq!(listed[0]["id"], ids[1]);
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

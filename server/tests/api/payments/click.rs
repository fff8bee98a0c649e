//! Click's webhook: Click's official test matrix, malformed requests, a repeated Prepare checked again, and numbers
//! read only in their canonical form.

use serde_json::json;
use sqlx::PgPool;

use super::common::{
    Call, PAID, PAID_KINDS, PENDING, PRICE, Scenario, Step, assert_seen, click, click_error,
    click_fields, click_raw, new_order, signed_body, with,
};
use crate::helpers::{World, spawn_app};

/// Click's `error` in a Complete when the payment failed or the user canceled it.
const FAILED: &str = "-5017";

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn click_passes_the_official_test_matrix(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let (a, b, c) = (w.order_a, w.order_b, new_order(&app, &w).await);
    let (pay_a, pay_b, pay_c) = (1_000_000_001, 1_000_000_002, 1_000_000_003);
    let (forged, unknown) = ("0".repeat(32), "999999999");

    // Act and assert: the matrix's steps in its order, with Click's code and the order's status after each.
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::prepare(pay_a, a).with("sign_string", forged.clone()), -1, PENDING, "1. Prepare, wrong signature"),
        (Call::prepare(pay_a, 999_999), -5, None, "2. Prepare for an order that does not exist"),
        (Call::prepare(pay_a, a), 0, PENDING, "3. Prepare for the unpaid order: our prepare id"),
        (Call::prepare(pay_a, a), 0, PENDING, "3. The same Prepare again, answered as the first"),
        (Call::complete(pay_a, a).with("sign_string", forged), -1, PENDING, "4. Complete, wrong signature"),
        (Call::complete(pay_a, a).with("amount", "300"), -2, PENDING, "5. Complete with amount 300 (re-signed)"),
        (Call::complete(pay_a, a), 0, PAID, "6. Complete, which pays the order"),
        (Call::complete(pay_a, a), -4, PAID, "7. The same Complete again"),
        (Call::complete(pay_a, a).with("error", FAILED), -9, PAID, "8. error=-5017 on the confirmed payment"),
        (Call::prepare(pay_b, b), 0, PENDING, "9. A new payment (order B)"),
        (Call::complete(pay_b, b).with("merchant_prepare_id", unknown), -6, PENDING, "10. Complete, unknown id"),
        (Call::complete(pay_b, b), 0, PAID, "11. Complete with the right prepare id"),
        (Call::prepare(pay_c, c), 0, PENDING, "12. A payment to cancel (order C)"),
        (Call::complete(pay_c, c).with("error", FAILED), -9, PENDING, "13. error=-5017: the attempt is canceled"),
        (Call::complete(pay_c, c).with("error", FAILED), -9, PENDING, "14. The same again"),
        (Call::complete(pay_c, c), -9, PENDING, "15. error=0 on the canceled payment"),
    ];
    Scenario::new(&app).run(steps).await;

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
    let involved = [&w.client_a, &w.worker_a, &w.admin];
    assert_seen(&app, &involved, a, PAID_KINDS).await;
    assert_seen(&app, &involved, c, &["order_created", "payment_canceled"]).await;
    assert_seen(&app, &[&w.client_a], b, &[]).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn malformed_click_requests_get_click_errors_and_write_nothing(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let before = app.fingerprint().await;
    let attempt = 2_000_000_001;
    let base = click_fields(attempt, w.order_a, 0, None);
    let complete_without_id = signed_body(&click_fields(attempt, w.order_a, 1, None));
    let twice = format!("{}&amount=1.00", signed_body(&base));

    // Act and assert: bodies that are not a whole request, or send a field twice whatever the signature says.
    #[rustfmt::skip]
    let mut bodies = vec![
        (String::new(), -8, "an empty body".to_owned()),
        ("garbage".to_owned(), -8, "a body that is not a form".to_owned()),
        (json!({ "click_trans_id": 1 }).to_string(), -8, "JSON".to_owned()),
        ("click_trans_id=1&service_id=12345".to_owned(), -8, "a form with two fields".to_owned()),
        (complete_without_id, -8, "a Complete without merchant_prepare_id".to_owned()),
        (twice, -8, "a field sent twice".to_owned()),
    ];
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
        bodies.push((
            signed_body(&fields),
            -8,
            format!("a Prepare without {missing}"),
        ));
    }
    for (body, code, what) in bodies {
        let answer = click_raw(&app, body).await;
        assert_eq!(click_error(&answer), code, "{what}: {answer}");
    }

    // Act and assert: signed, but an unknown action, another service, amounts that are not exact so'm, an order
    // id that is not one, a transaction id or error that is not a number.
    let prepare = || Call::prepare(attempt, w.order_a);
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (prepare().with("action", "2"), -3, None, "an unknown action"),
        (prepare().with("service_id", "54321"), -8, None, "another service"),
        (prepare().with("amount", "abc"), -8, None, "an amount that is not a number"),
        (prepare().with("amount", "1e3"), -8, None, "an amount with an exponent"),
        (prepare().with("amount", "-1000.00"), -8, None, "a negative amount"),
        (prepare().with("amount", "1000.001"), -8, None, "an amount finer than a tiyin"),
        (prepare().with("amount", "999.99"), -2, None, "an amount a tiyin short"),
        (prepare().with("merchant_trans_id", "abc"), -5, None, "an order id that is not a number"),
        (prepare().with("click_trans_id", "12x"), -8, None, "a transaction id that is not a number"),
        (prepare().with("error", "bad"), -8, None, "an error that is not a number"),
    ];
    let mut sc = Scenario::new(&app);
    sc.run(steps).await;
    assert_eq!(
        app.fingerprint().await,
        before,
        "malformed requests wrote nothing"
    );

    // Act and assert: Click's amount strings are exact, "1000", "1000.0" and "1000.00" are all 1 000 so'm.
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::prepare(2_000_000_101, w.order_a).with("amount", "1000"), 0, PENDING, "the amount 1000"),
        (Call::prepare(2_000_000_102, w.order_a).with("amount", "1000.0"), 0, PENDING, "the amount 1000.0"),
        (Call::prepare(2_000_000_103, w.order_a).with("amount", "1000.00"), 0, PENDING, "the amount 1000.00"),
    ];
    sc.run(steps).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_repeated_click_prepare_is_checked_again(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let (a, b) = (w.order_a, w.order_b);
    let (first, second) = (8_000_000_001, 8_000_000_002);

    // Act and assert
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::prepare(first, a), 0, PENDING, "the first attempt's Prepare"),
        (Call::prepare(first, b), -8, PENDING, "the same attempt for another order, which is not a repeat"),
        (Call::prepare(first, a).with("amount", "999.00"), -2, PENDING, "a repeat with another amount"),
        (Call::prepare(second, a), 0, PENDING, "another attempt's Prepare"),
        (Call::complete(second, a), 0, PAID, "the other attempt pays the order"),
        (Call::prepare(first, a), -4, PAID, "a repeat of the first once the other paid the order: already paid"),
    ];
    Scenario::new(&app).run(steps).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn click_numbers_count_only_in_their_canonical_form(pool: PgPool) {
    // Arrange: requests signed over what they send, with numbers written in ways that mean the same number.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let before = app.fingerprint().await;
    let prepare = click_fields(6_000_000_001, w.order_a, 0, None);
    let cases = [
        ("click_trans_id", "+6000000001"),
        ("click_trans_id", "06000000001"),
        ("click_trans_id", " 6000000001"),
        ("click_trans_id", "6000000001 "),
        ("click_trans_id", "-6000000001"),
        ("service_id", "012345"),
        ("service_id", "+12345"),
        ("click_paydoc_id", "0007000000"),
        ("error", "+0"),
        ("error", "-0"),
        ("error", "00"),
        ("amount", "01000.00"),
        ("amount", "+1000.00"),
    ];

    // Act and assert: each is malformed (-8) and changes nothing.
    for (field, value) in cases {
        let answer = click(&app, &with(prepare.clone(), field, value)).await;
        assert_eq!(click_error(&answer), -8, "{field}={value:?}: {answer}");
    }
    assert_eq!(app.fingerprint().await, before);
    let mut complete = click_fields(6_000_000_001, w.order_a, 1, Some(1));
    for value in ["01", "+1", "1.0"] {
        complete = with(complete, "merchant_prepare_id", value);
        let answer = click(&app, &complete).await;
        assert_eq!(
            click_error(&answer),
            -8,
            "merchant_prepare_id={value:?}: {answer}"
        );
    }
    // An order reference that is not a canonical id names no order.
    let answer = click(
        &app,
        &with(
            prepare.clone(),
            "merchant_trans_id",
            &format!("0{}", w.order_a),
        ),
    )
    .await;
    assert_eq!(click_error(&answer), -5, "{answer}");
    assert_eq!(app.fingerprint().await, before);

    // The canonical request goes through.
    let answer = click(&app, &prepare).await;
    assert_eq!(click_error(&answer), 0, "{answer}");
}

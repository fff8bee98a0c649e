//! Both providers on the same orders: a reservation or payment through one refuses the other, refused
//! requests release nothing, and other HTTP methods get each provider's own error.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

use super::common::{
    CANCELED, Call, PAID, PENDING, Scenario, Step, check_transaction, checkout, new_order, now_ms,
    webhook_with_method,
};
use crate::helpers::{World, spawn_app};

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_order_reserved_or_paid_through_one_provider_refuses_the_other(pool: PgPool) {
    // Arrange: orders A and B of the world, C, and D, which is canceled.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let (a, b) = (w.order_a, w.order_b);
    let (c, d) = (new_order(&app, &w).await, new_order(&app, &w).await);
    app.force_status(d, "canceled").await;
    let now = now_ms(&app);
    let (t1, t2) = ("2e2e2e2e2e2e2e2e2e2e2e2e", "3f3f3f3f3f3f3f3f3f3f3f3f");
    let (t3, t4) = ("4a4a4a4a4a4a4a4a4a4a4a4a", "5b5b5b5b5b5b5b5b5b5b5b5b");

    // Act and assert: A through Payme, then B prepared by Click.
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::create(t1, a, now), 0, PENDING, "Payme reserves order A"),
        (Call::prepare(3_000_000_001, a), -9, PENDING, "Click may not prepare an order Payme reserved"),
        (Call::perform(t1), 0, PAID, "Payme pays order A"),
        (Call::prepare(3_000_000_002, a), -4, PAID, "Click answers already paid for an order Payme paid"),
        (Call::prepare(3_000_000_003, b), 0, PENDING, "Click prepares order B"),
        (Call::check_perform(b), -31008, PENDING, "Payme may not check an order Click prepared"),
        (Call::create(t2, b, now), -31008, PENDING, "Payme may not create a transaction for it"),
    ];
    let mut sc = Scenario::new(&app);
    sc.run(steps).await;
    // ... nor may the REST checkout start another payment.
    let answer = checkout(&app, &w.client_b, b, "payme").await;
    assert_eq!(answer.status, 409, "{}", answer.body);

    // Act and assert: a second Click attempt for B, then C paid through Click, then the canceled D.
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::prepare(3_000_000_004, b), 0, PENDING, "a second Click attempt (a new click_trans_id) for B"),
        (Call::prepare(3_000_000_005, c), 0, PENDING, "Click prepares order C"),
        (Call::complete(3_000_000_005, c), 0, PAID, "Click pays order C"),
        (Call::create(t3, c, now), -31008, PAID, "Payme may not create a transaction for an order Click paid"),
        (Call::check_perform(c), -31008, PAID, "Payme may not check an order Click paid"),
        (Call::prepare(3_000_000_006, d), -9, CANCELED, "Click refuses a canceled order"),
        (Call::create(t4, d, now), -31008, CANCELED, "Payme refuses a canceled order"),
    ];
    sc.run(steps).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn refused_requests_release_nothing_even_when_reservations_expired(pool: PgPool) {
    // Arrange: a Payme reservation of order A, expired.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let a = w.order_a;
    let (e1, e2, e3) = (
        "e1e1e1e1e1e1e1e1e1e1e1e1",
        "e2e2e2e2e2e2e2e2e2e2e2e2",
        "e3e3e3e3e3e3e3e3e3e3e3e3",
    );
    let mut sc = Scenario::new(&app);
    sc.step((Call::create(e1, a, now_ms(&app)), 0, PENDING, "reserved"))
        .await;
    app.clock.advance(Duration::from_secs(13 * 3600));
    let before = app.fingerprint().await;

    // Act and assert: requests refused for their own reasons write nothing, not even the release.
    let old = now_ms(&app) - 43_300_000;
    #[rustfmt::skip]
    let steps: Vec<Step> = vec![
        (Call::prepare(9_000_000_001, a).with("amount", "1.00"), -2, None, "Click's Prepare of a wrong amount"),
        (Call::create(e2, a, old), -31008, None, "Payme's create with a time over 12 hours old"),
        (Call::create(e3, a, 0), -32600, None, "Payme's create at time 0"),
        (Call::create(e3, a, -1), -32600, None, "Payme's create at a negative time"),
        (Call::create(e3, a, i64::MIN), -32600, None, "Payme's create at the smallest time"),
    ];
    sc.run(steps).await;
    assert_eq!(app.fingerprint().await, before);

    // A valid request releases the expired reservation and takes the order.
    sc.step((Call::prepare(9_000_000_002, a), 0, PENDING, "prepared"))
        .await;
    assert_eq!(check_transaction(&app, e1).await["reason"], 4);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn other_http_methods_get_the_providers_own_errors_with_200(pool: PgPool) {
    // Arrange
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
        // Act
        let body = webhook_with_method(&app, method.clone(), path, None).await;

        // Assert
        assert_eq!(
            body.pointer(field).and_then(Value::as_i64),
            Some(code),
            "{method} {path}: {body}"
        );
    }
}

//! `POST /api/v1/payments`: the real provider links, the sandbox link, reuse of an open checkout, refusals.

use base64::Engine as _;
use serde_json::json;
use sqlx::PgPool;

use super::common::{PRICE, checkout, create, now_ms, result};
use crate::helpers::{CLICK_SERVICE, PAYME_MERCHANT, World, spawn_app};

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_checkout_returns_real_provider_links_and_the_sandbox(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let a = w.order_a;

    // Payme: its checkout link with the order in base64, the sandbox's link, and one open checkout reused.
    let body = checkout(&app, &w.client_a, a, "payme")
        .await
        .expect(201)
        .clone();
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
        format!("m={PAYME_MERCHANT};ac.order_id={a};a={PRICE};c=http://testserver/orders/{a}")
    );
    assert_eq!(
        body["sandbox_url"],
        format!("http://testserver/sandbox/payme/{a}")
    );
    let transaction_id = body["transaction_id"].as_i64().expect("an id");
    let again = checkout(&app, &w.client_a, a, "payme").await;
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

    // Click: its checkout link.
    let click_checkout = checkout(&app, &w.client_a, a, "click").await;
    let click_url = click_checkout.expect(201)["payment_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        click_url,
        format!(
            "https://my.click.uz/services/pay?service_id={CLICK_SERVICE}&merchant_id=777&amount=1000.00\
             &transaction_param={a}&return_url=http%3A%2F%2Ftestserver%2Forders%2F{a}"
        )
    );

    // Payme's CreateTransaction takes over the checkout's transaction.
    let created = result(&create(&app, "d1d1d1d1d1d1d1d1d1d1d1d1", a, now_ms(&app)).await).clone();
    assert_eq!(created["transaction"], transaction_id.to_string());

    // Refusals, each writing nothing.
    app.force_status(w.order_b, "completed").await;
    let before = app.fingerprint().await;
    let payme = json!({ "order_id": a, "provider": "payme" });
    let cases = [
        (&w.worker_a, payme.clone(), 403, "a worker"),
        (&w.admin, payme.clone(), 403, "an admin"),
        (&w.client_b, payme, 404, "another client"),
        (
            &w.client_a,
            json!({ "order_id": a, "provider": "paypal" }),
            400,
            "an unknown provider",
        ),
        (&w.client_a, json!({ "order_id": a }), 400, "no provider"),
        (
            &w.client_a,
            json!({ "order_id": "one", "provider": "click" }),
            400,
            "an order id that is not a number",
        ),
        (
            &w.client_a,
            json!({ "order_id": a, "provider": "click", "amount": 1 }),
            400,
            "an amount, which the client does not choose",
        ),
        (
            &w.client_a,
            json!({ "order_id": a, "provider": "click" }),
            409,
            "an order Payme reserved",
        ),
        (
            &w.client_b,
            json!({ "order_id": w.order_b, "provider": "payme" }),
            409,
            "a completed order",
        ),
    ];
    for (user, body, status, what) in cases {
        let answer = app.post("/api/v1/payments", &user.access, body).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
    }
    assert_eq!(app.fingerprint().await, before);
}

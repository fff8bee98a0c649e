//! Fiscal receipts of Click payments, fetched from Click's merchant API (a local mock of it), and the clear
//! 502 when that API cannot be reached.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{extract::Path, http::HeaderMap, routing::get};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use super::common::{Call, PAID, PENDING, Scenario, create, now_ms, result};
use crate::helpers::{
    CLICK_MERCHANT_USER, CLICK_SECRET, CLICK_SERVICE, World, spawn_app, spawn_app_with,
};

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

/// A local stand-in for Click's merchant API: checks the `Auth` header and serves a receipt URL.
async fn mock_click_api(hits: Arc<AtomicUsize>) -> String {
    let router = axum::Router::new().route(
        "/v2/merchant/payment/ofd_data/{service}/{payment}",
        get(
            move |Path((service, payment)): Path<(i64, i64)>, headers: HeaderMap| {
                let hits = hits.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    if !valid_auth(&headers) || service != CLICK_SERVICE {
                        return axum::Json(
                            json!({ "error_code": -401, "error_note": "Access denied" }),
                        );
                    }
                    let url = format!("https://ofd.soliq.uz/check?t=TEST&r={payment}");
                    axum::Json(json!({ "qrCodeURL": url }))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/v2/merchant")
}

/// Prepares Click's `attempt` for `order` through `sc` and returns our prepare id, the transaction's id.
async fn prepare(sc: &mut Scenario<'_>, attempt: i64, order: i64) -> i64 {
    sc.step((Call::prepare(attempt, order), 0, PENDING, "prepared"))
        .await;
    sc.prepare_id(attempt)
}

/// Completes Click's prepared `attempt` for `order` through `sc`.
async fn complete(sc: &mut Scenario<'_>, attempt: i64, order: i64) {
    sc.step((Call::complete(attempt, order), 0, PAID, "paid"))
        .await;
}

/// The path of transaction `id`'s receipt.
fn receipt(id: i64) -> String {
    format!("/api/v1/transactions/{id}/receipt")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn fiscal_receipts_come_from_clicks_merchant_api(pool: PgPool) {
    // Arrange
    let hits = Arc::new(AtomicUsize::new(0));
    let api = mock_click_api(hits.clone()).await;
    let app = spawn_app_with(pool, move |c| c.payments.click_api_url = api).await;
    let w = World::new(&app).await;
    let mut sc = Scenario::new(&app);
    let attempt = 5_000_000_001;
    let id = prepare(&mut sc, attempt, w.order_a).await;
    let path = receipt(id);
    assert_eq!(
        app.get(&path, &w.client_a.access).await.status,
        409,
        "not confirmed yet"
    );
    complete(&mut sc, attempt, w.order_a).await;

    // Act
    let answer = app.get(&path, &w.client_a.access).await;

    // Assert
    assert_eq!(
        answer.expect(200),
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
    for (user, status, what) in [
        (&w.client_b, 404, "another client"),
        (&w.worker_a, 403, "a worker"),
    ] {
        assert_eq!(app.get(&path, &user.access).await.status, status, "{what}");
    }

    // A Payme payment has no Click receipt.
    result(&create(&app, "abababababababababababab", w.order_b, now_ms(&app)).await);
    let payme_id: i64 = sqlx::query_scalar("select id from transactions where provider = 'payme'")
        .fetch_one(&app.db)
        .await
        .expect("an id");
    assert_eq!(
        app.get(&receipt(payme_id), &w.admin.access).await.status,
        409
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_unreachable_click_api_is_a_clear_502(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut sc = Scenario::new(&app);
    let attempt = 6_000_000_001;
    let id = prepare(&mut sc, attempt, w.order_a).await;
    complete(&mut sc, attempt, w.order_a).await;

    // Act
    let answer = app
        .call_allowing_5xx(Method::GET, &receipt(id), Some(&w.client_a.access), None)
        .await;

    // Assert
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert_eq!(answer.code(), "bad_gateway");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("Click")
    );
}

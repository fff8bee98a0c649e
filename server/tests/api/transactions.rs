//! Payment transactions, read side: admins all, clients their own, workers none.

use sqlx::PgPool;

use crate::helpers::{World, spawn_app};

async fn insert_transaction(pool: &PgPool, order: i64, provider: &str) -> i64 {
    sqlx::query_scalar(
        "insert into transactions
           (order_id, provider, amount, status, provider_transaction_id, state, reserved_at, provider_time)
         values ($1, $2, 100000, 'processing', md5(random()::text), 1, now(),
                 (extract(epoch from now()) * 1000)::bigint)
         returning id",
    )
    .bind(order)
    .bind(provider)
    .fetch_one(pool)
    .await
    .expect("a transaction row")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn transactions_are_visible_to_admins_and_their_own_clients_only(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let w = World::new(&app).await;
    let ta = insert_transaction(&pool, w.order_a, "payme").await;
    let tb = insert_transaction(&pool, w.order_b, "click").await;

    assert_eq!(
        app.get("/api/v1/transactions", &w.admin.access).await.ids(),
        vec![tb, ta]
    );
    assert_eq!(
        app.get("/api/v1/transactions?provider=click", &w.admin.access)
            .await
            .ids(),
        vec![tb]
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/transactions?order_id={}", w.order_a),
            &w.admin.access
        )
        .await
        .ids(),
        vec![ta]
    );
    assert_eq!(
        app.get("/api/v1/transactions", &w.client_a.access)
            .await
            .ids(),
        vec![ta]
    );
    let own = app
        .get(&format!("/api/v1/transactions/{ta}"), &w.client_a.access)
        .await;
    let body = own.expect(200);
    assert_eq!(body["provider"], "payme");
    assert_eq!(body["amount"], 100_000);
    assert_eq!(body["status"], "processing");
    assert_eq!(body["state"], 1);
    assert_eq!(body["performed_at"], serde_json::Value::Null);
    let other = app
        .get(&format!("/api/v1/transactions/{tb}"), &w.client_a.access)
        .await;
    assert_eq!((other.status, other.code()), (404, "not_found"));
    let worker = app.get("/api/v1/transactions", &w.worker_a.access).await;
    assert_eq!((worker.status, worker.code()), (403, "permission_denied"));
    let bad = app
        .get("/api/v1/transactions?status=lost", &w.admin.access)
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid"));
}

//! The service catalogue and its workers.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;
use app::models::Role;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_admin_creates_changes_and_withdraws_services(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let client = app.user(Role::Client).await;

    let created = app
        .post(
            "/api/v1/services",
            &admin.access,
            json!({"name": "Window cleaning", "description": "Both sides", "price": 5_000_000}),
        )
        .await;
    let service = created.expect(201).clone();
    let id = service["id"].as_i64().expect("an id");
    let duplicate = app
        .post(
            "/api/v1/services",
            &admin.access,
            json!({"name": "WINDOW CLEANING", "price": 1}),
        )
        .await;
    let changed = app
        .patch(
            &format!("/api/v1/services/{id}"),
            &admin.access,
            json!({"price": 6_000_000}),
        )
        .await;
    app.delete(&format!("/api/v1/services/{id}"), &admin.access)
        .await
        .expect(204);

    assert_eq!(service["price"], 5_000_000);
    assert_eq!(service["is_active"], true);
    assert_eq!(service["worker_ids"], json!([]));
    assert_eq!((duplicate.status, duplicate.code()), (409, "conflict"));
    assert_eq!(changed.expect(200)["price"], 6_000_000);
    let hidden = app
        .get(&format!("/api/v1/services/{id}"), &client.access)
        .await;
    assert_eq!((hidden.status, hidden.code()), (404, "not_found"));
    assert_eq!(
        app.get(&format!("/api/v1/services/{id}"), &admin.access)
            .await
            .expect(200)["is_active"],
        false
    );
    assert_eq!(
        app.get("/api/v1/services", &client.access)
            .await
            .expect(200)["count"],
        0
    );
    assert_eq!(
        app.get("/api/v1/services", &admin.access).await.expect(200)["count"],
        1
    );
    assert_eq!(
        app.get("/api/v1/services?is_active=false", &admin.access)
            .await
            .expect(200)["count"],
        1
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_workers_of_a_service_are_replaced_as_a_set_of_active_workers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let client = app.user(Role::Client).await;
    let w1 = app.user(Role::Worker).await;
    let w2 = app.user(Role::Worker).await;
    let id = app.service(&admin, &[&w1]).await;
    let before = app.row_counts().await;

    let refused = app
        .put(
            &format!("/api/v1/services/{id}/workers"),
            &admin.access,
            json!({"worker_ids": [w2.id, client.id]}),
        )
        .await;
    assert_eq!((refused.status, refused.code()), (400, "invalid"));
    assert!(refused.body["errors"]["worker_ids"].is_array());
    assert_eq!(app.row_counts().await, before);

    let replaced = app
        .put(
            &format!("/api/v1/services/{id}/workers"),
            &admin.access,
            json!({"worker_ids": [w2.id, w2.id]}),
        )
        .await;
    let listed = app
        .get(&format!("/api/v1/services/{id}/workers"), &client.access)
        .await;
    let service = app
        .get(&format!("/api/v1/services/{id}"), &client.access)
        .await;

    assert_eq!(
        replaced.expect(200),
        &json!([{"id": w2.id, "username": w2.username, "full_name": "Test worker"}])
    );
    assert_eq!(listed.expect(200), replaced.expect(200));
    assert_eq!(service.expect(200)["worker_ids"], json!([w2.id]));
}

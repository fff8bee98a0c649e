//! An order change and its events commit together or not at all: a failure forced in the middle of a change
//! leaves neither the change nor its events behind, and the client sees a generic 500.

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{World, spawn_app};

/// Makes every insert into `notifications` fail, as a crash between the two writes would.
async fn break_notifications(pool: &PgPool) {
    sqlx::raw_sql(
        "create function fail_notification() returns trigger language plpgsql as
             $$ begin raise exception 'forced failure for the atomicity test'; end $$;
         create trigger fail_notification before insert on notifications
             for each row execute function fail_notification();",
    )
    .execute(pool)
    .await
    .expect("the trigger is installed");
}

async fn repair_notifications(pool: &PgPool) {
    sqlx::raw_sql("drop trigger fail_notification on notifications")
        .execute(pool)
        .await
        .expect("the trigger is dropped");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_failed_event_write_rolls_back_the_whole_change(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let w = World::new(&app).await;
    break_notifications(&pool).await;
    let before = app.fingerprint().await;
    let attempts = [
        (
            Method::POST,
            "/api/v1/orders".to_owned(),
            json!({"service_id": w.service}),
            &w.client_a,
        ),
        (
            Method::PATCH,
            format!("/api/v1/orders/{}/status", w.order_a),
            json!({"status": "paid"}),
            &w.worker_a,
        ),
        (
            Method::POST,
            format!("/api/v1/orders/{}/assign", w.order_a),
            json!({"worker_id": w.worker_b.id}),
            &w.admin,
        ),
        (
            Method::POST,
            format!("/api/v1/orders/{}/messages", w.order_a),
            json!({"text": "hello"}),
            &w.client_a,
        ),
    ];

    for (method, path, body, user) in &attempts {
        let answer = app
            .call_allowing_5xx(method.clone(), path, Some(&user.access), Some(body.clone()))
            .await;
        assert_eq!(answer.status, 500, "{method} {path}: {}", answer.body);
        assert_eq!(
            answer.body,
            json!({"detail": "A server error occurred.", "code": "server_error"})
        );
        assert!(!answer.body.to_string().contains("forced failure"));
    }
    assert_eq!(
        app.fingerprint().await,
        before,
        "a half-written change remained"
    );

    // With the failure gone, the same changes commit together with their events.
    repair_notifications(&pool).await;
    for (method, path, body, user) in &attempts {
        let answer = app
            .call(method.clone(), path, Some(&user.access), Some(body.clone()))
            .await;
        assert!(answer.status < 300, "{method} {path}: {}", answer.body);
    }
    let kinds: Vec<String> =
        sqlx::query_scalar("select kind from notifications order by id desc limit 4")
            .fetch_all(&pool)
            .await
            .expect("events");
    assert_eq!(
        kinds,
        [
            "order_message",
            "order_assigned",
            "order_status_changed",
            "order_created"
        ]
    );
}

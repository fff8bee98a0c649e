//! The authorization matrix: every route of the API × each role × an object of another user. Nothing leaks:
//! objects the caller may not see are 404, role refusals are 403 regardless of the object, and a refused
//! request changes nothing.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, World, spawn_app};

/// One route with the expected status for the client A, worker A and the admin, acting on B's objects.
struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    expected: [u16; 3],
}

fn rows(w: &World, notification_b: i64, transaction_b: i64) -> Vec<Row> {
    let (b, s, u) = (w.order_b, w.service, w.client_b.id);
    let row = |method: Method, path: String, body: Option<Value>, expected: [u16; 3]| Row {
        method,
        path,
        body,
        expected,
    };
    vec![
        row(
            Method::GET,
            format!("/api/v1/orders/{b}"),
            None,
            [404, 404, 200],
        ),
        row(
            Method::PATCH,
            format!("/api/v1/orders/{b}/status"),
            Some(json!({"status": "canceled"})),
            [404, 404, 200],
        ),
        row(
            Method::POST,
            format!("/api/v1/orders/{b}/assign"),
            Some(json!({"worker_id": w.worker_a.id})),
            [403, 403, 200],
        ),
        row(
            Method::GET,
            format!("/api/v1/orders/{b}/timeline"),
            None,
            [404, 404, 200],
        ),
        row(
            Method::GET,
            format!("/api/v1/orders/{b}/messages"),
            None,
            [404, 404, 200],
        ),
        row(
            Method::POST,
            format!("/api/v1/orders/{b}/messages"),
            Some(json!({"text": "hello"})),
            [404, 404, 201],
        ),
        row(
            Method::GET,
            "/api/v1/users".to_owned(),
            None,
            [403, 403, 200],
        ),
        row(
            Method::POST,
            "/api/v1/users".to_owned(),
            Some(json!({"username": "made_here", "password": "long enough pw", "role": "admin"})),
            [403, 403, 201],
        ),
        row(
            Method::GET,
            "/api/v1/users/stats".to_owned(),
            None,
            [403, 403, 200],
        ),
        row(
            Method::GET,
            format!("/api/v1/users/{u}"),
            None,
            [403, 403, 200],
        ),
        row(
            Method::PATCH,
            format!("/api/v1/users/{u}"),
            Some(json!({"full_name": "Changed"})),
            [403, 403, 200],
        ),
        row(
            Method::DELETE,
            format!("/api/v1/users/{u}"),
            None,
            [403, 403, 204],
        ),
        row(
            Method::POST,
            "/api/v1/services".to_owned(),
            Some(json!({"name": "New one", "price": 100})),
            [403, 403, 201],
        ),
        row(
            Method::GET,
            format!("/api/v1/services/{s}"),
            None,
            [200, 200, 200],
        ),
        row(
            Method::GET,
            format!("/api/v1/services/{s}/workers"),
            None,
            [200, 200, 200],
        ),
        row(
            Method::PATCH,
            format!("/api/v1/services/{s}"),
            Some(json!({"price": 5})),
            [403, 403, 200],
        ),
        row(
            Method::PUT,
            format!("/api/v1/services/{s}/workers"),
            Some(json!({"worker_ids": []})),
            [403, 403, 200],
        ),
        row(
            Method::DELETE,
            format!("/api/v1/services/{s}"),
            None,
            [403, 403, 204],
        ),
        row(
            Method::POST,
            format!("/api/v1/notifications/{notification_b}/read"),
            Some(json!({})),
            [404, 404, 204],
        ),
        row(
            Method::GET,
            format!("/api/v1/transactions/{transaction_b}"),
            None,
            [404, 403, 200],
        ),
        row(
            Method::GET,
            "/api/v1/transactions".to_owned(),
            None,
            [200, 403, 200],
        ),
    ]
}

async fn objects_of_b(app: &TestApp, w: &World) -> (i64, i64) {
    let notification: i64 = sqlx::query_scalar("select id from notifications where order_id = $1")
        .bind(w.order_b)
        .fetch_one(&app.db)
        .await
        .expect("B's order has an event");
    let transaction: i64 = sqlx::query_scalar(
        "insert into transactions (order_id, provider, amount, provider_transaction_id)
         values ($1, 'click', 100000, md5(random()::text)) returning id",
    )
    .bind(w.order_b)
    .fetch_one(&app.db)
    .await
    .expect("a transaction of B");
    (notification, transaction)
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn no_route_lets_a_role_reach_what_it_may_not(pool: PgPool) {
    let app = spawn_app(pool).await;
    let count = {
        let w = World::new(&app).await;
        let (n, t) = objects_of_b(&app, &w).await;
        rows(&w, n, t).len()
    };

    for index in 0..count {
        // Arrange: a fresh world per route, so the admin's successful change cannot affect another row.
        let w = World::new(&app).await;
        let (n, t) = objects_of_b(&app, &w).await;
        let row = rows(&w, n, t).swap_remove(index);
        let callers = [&w.client_a, &w.worker_a, &w.admin];

        for (caller, expected) in callers.into_iter().zip(row.expected) {
            let before = app.fingerprint().await;

            // Act
            let answer = app
                .call(
                    row.method.clone(),
                    &row.path,
                    Some(&caller.access),
                    row.body.clone(),
                )
                .await;

            // Assert
            let case = format!("{} {} by {}", row.method, row.path, caller.username);
            assert_eq!(answer.status, expected, "{case}: {}", answer.body);
            if answer.status >= 400 {
                assert_eq!(
                    app.fingerprint().await,
                    before,
                    "{case}: a refused request changed something"
                );
                let code = if answer.status == 404 {
                    "not_found"
                } else {
                    "permission_denied"
                };
                assert_eq!(answer.code(), code, "{case}");
            }
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn lists_never_include_another_users_objects(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let (notification_b, transaction_b) = objects_of_b(&app, &w).await;

    for caller in [&w.client_a, &w.worker_a] {
        let orders = app
            .get("/api/v1/orders?limit=100", &caller.access)
            .await
            .ids();
        assert!(
            !orders.contains(&w.order_b),
            "{} sees B's order",
            caller.username
        );
        let feed = app
            .get("/api/v1/notifications?limit=100", &caller.access)
            .await
            .ids();
        assert!(
            !feed.contains(&notification_b),
            "{} sees B's event",
            caller.username
        );
        let caught_up = app
            .get("/api/v1/notifications?after_id=0&limit=100", &caller.access)
            .await
            .ids();
        assert!(
            !caught_up.contains(&notification_b),
            "{} catches up on B's event",
            caller.username
        );
        let unread = app
            .get("/api/v1/notifications/unread-count", &caller.access)
            .await;
        assert_eq!(
            unread.expect(200)["count"],
            1,
            "{} counts only its own events",
            caller.username
        );
    }
    let transactions = app
        .get("/api/v1/transactions", &w.client_a.access)
        .await
        .ids();
    assert!(!transactions.contains(&transaction_b));
    let filtered = app
        .get(
            &format!("/api/v1/orders?client_id={}", w.client_b.id),
            &w.worker_a.access,
        )
        .await
        .ids();
    assert!(filtered.is_empty());
}

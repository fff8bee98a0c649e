//! The notification feed: visibility, `after_id`, filters, read state.

use app::{
    domain::{Actor, feed::audience_includes},
    models::Role,
};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestUser, World, spawn_app};

fn order_ids(answer: &crate::helpers::Answer) -> Vec<i64> {
    answer.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|n| n["order_id"].as_i64())
        .collect()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn each_role_sees_exactly_its_scope_of_events(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;

    let admin = app.get("/api/v1/notifications", &w.admin.access).await;
    let client_a = app.get("/api/v1/notifications", &w.client_a.access).await;
    let worker_b = app.get("/api/v1/notifications", &w.worker_b.access).await;

    assert_eq!(order_ids(&admin), vec![w.order_b, w.order_a]);
    assert_eq!(order_ids(&client_a), vec![w.order_a]);
    assert_eq!(order_ids(&worker_b), vec![w.order_b]);
    let event = &client_a.body["results"][0];
    assert_eq!(event["kind"], "order_created");
    assert_eq!(event["actor_id"], w.client_a.id);
    assert_eq!(event["read"], false);
    assert_eq!(event["message"], format!("New order #{}", w.order_a));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_socket_audience_rule_agrees_with_the_sql_visibility_function(pool: PgPool) {
    // Arrange: for a viewer of each role, an event of every audience relative to them: their own `client_id`
    // or another user's, and their own `worker_id`, another user's or none.
    let app = spawn_app(pool.clone()).await;
    let w = World::new(&app).await;
    let (other_client, other_worker) = (w.client_b.id, w.worker_b.id);
    let viewers = [
        (Role::Admin, &w.admin),
        (Role::Client, &w.client_a),
        (Role::Worker, &w.worker_a),
    ];
    for (role, user) in viewers {
        let viewer = actor(role, user);
        let mut seen_in_sql = 0;
        for client_id in [viewer.id, other_client] {
            for worker_id in [Some(viewer.id), Some(other_worker), None] {
                let id: i64 = sqlx::query_scalar(
                    "insert into notifications (order_id, kind, client_id, worker_id)
                     values ($1, 'order_created', $2, $3) returning id",
                )
                .bind(w.order_a)
                .bind(client_id)
                .bind(worker_id)
                .fetch_one(&pool)
                .await
                .expect("an event is stored");

                // Act
                let in_sql: bool = sqlx::query_scalar(
                    "select exists (select 1 from visible_notifications($1, $2) where id = $3)",
                )
                .bind(role.as_str())
                .bind(viewer.id)
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("the visibility function answers");
                let in_rust = audience_includes(&viewer, client_id, worker_id);

                // Assert
                let own = |id: Option<i64>| match id {
                    Some(id) if id == viewer.id => "own",
                    Some(_) => "another user's",
                    None => "no",
                };
                assert_eq!(
                    in_rust,
                    in_sql,
                    "a {role:?} and an event with {} client_id and {} worker_id: the socket says {in_rust}, SQL \
                     says {in_sql}",
                    own(Some(client_id)),
                    own(worker_id)
                );
                seen_in_sql += usize::from(in_sql);
            }
        }
        // The rule itself: an admin sees all six, a client the three with their client_id, a worker the two with
        // their worker_id.
        let expected = match role {
            Role::Admin => 6,
            Role::Client => 3,
            Role::Worker => 2,
        };
        assert_eq!(
            seen_in_sql, expected,
            "a {role:?} sees {seen_in_sql} of the six"
        );
    }
}

/// `user` as the domain's caller with `role`.
fn actor(role: Role, user: &TestUser) -> Actor {
    Actor {
        id: user.id,
        role,
        username: user.username.clone(),
        full_name: String::new(),
        session_epoch: 0,
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn after_id_returns_later_events_oldest_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let first = app
        .get("/api/v1/notifications", &w.client_a.access)
        .await
        .ids()[0];
    for status in ["paid", "in_process", "completed"] {
        app.patch(
            &format!("/api/v1/orders/{}/status", w.order_a),
            &w.worker_a.access,
            json!({"status": status}),
        )
        .await
        .expect(200);
    }

    let after = app
        .get(
            &format!("/api/v1/notifications?after_id={first}"),
            &w.client_a.access,
        )
        .await;
    let page = app
        .get(
            &format!("/api/v1/notifications?after_id={first}&limit=2"),
            &w.client_a.access,
        )
        .await;

    let ids = after.ids();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|p| p[0] < p[1]), "{ids:?}");
    assert!(ids[0] > first);
    let targets: Vec<&str> = after.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|n| n["data"]["to"].as_str())
        .collect();
    assert_eq!(targets, ["paid", "in_process", "completed"]);
    assert_eq!(page.ids(), ids[..2]);
    assert_eq!(page.body["count"], 3);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn read_state_is_per_user_and_read_all_reports_what_changed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    app.patch(
        &format!("/api/v1/orders/{}/status", w.order_a),
        &w.worker_a.access,
        json!({"status": "paid"}),
    )
    .await
    .expect(200);
    let ids = app
        .get("/api/v1/notifications", &w.client_a.access)
        .await
        .ids();
    assert_eq!(
        app.get("/api/v1/notifications/unread-count", &w.client_a.access)
            .await
            .expect(200),
        &json!({"count": 2})
    );

    app.post(
        &format!("/api/v1/notifications/{}/read", ids[1]),
        &w.client_a.access,
        json!({}),
    )
    .await
    .expect(204);
    // Reading it again is harmless.
    app.post(
        &format!("/api/v1/notifications/{}/read", ids[1]),
        &w.client_a.access,
        json!({}),
    )
    .await
    .expect(204);

    assert_eq!(
        app.get("/api/v1/notifications/unread-count", &w.client_a.access)
            .await
            .expect(200)["count"],
        1
    );
    assert_eq!(
        app.get("/api/v1/notifications?unread=true", &w.client_a.access)
            .await
            .ids(),
        vec![ids[0]]
    );
    // The admin's read state is their own.
    assert_eq!(
        app.get("/api/v1/notifications/unread-count", &w.admin.access)
            .await
            .expect(200)["count"],
        3
    );

    let all = app
        .post(
            "/api/v1/notifications/read-all",
            &w.client_a.access,
            json!({}),
        )
        .await;
    assert_eq!(all.expect(200), &json!({"updated": 1}));
    let again = app
        .post(
            "/api/v1/notifications/read-all",
            &w.client_a.access,
            json!({}),
        )
        .await;
    assert_eq!(again.expect(200), &json!({"updated": 0}));
    assert_eq!(
        app.get("/api/v1/notifications/unread-count", &w.client_a.access)
            .await
            .expect(200)["count"],
        0
    );
    let feed = app.get("/api/v1/notifications", &w.client_a.access).await;
    assert!(
        feed.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|n| n["read"] == true)
    );

    // A new event after "read all" is unread.
    app.patch(
        &format!("/api/v1/orders/{}/status", w.order_a),
        &w.worker_a.access,
        json!({"status": "in_process"}),
    )
    .await
    .expect(200);
    assert_eq!(
        app.get("/api/v1/notifications/unread-count", &w.client_a.access)
            .await
            .expect(200)["count"],
        1
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_feed_filters_by_kind_and_order(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    app.post(
        &format!("/api/v1/orders/{}/messages", w.order_b),
        &w.client_b.access,
        json!({"text": "hi"}),
    )
    .await
    .expect(201);

    let messages = app
        .get("/api/v1/notifications?kind=order_message", &w.admin.access)
        .await;
    let of_a = app
        .get(
            &format!("/api/v1/notifications?order_id={}", w.order_a),
            &w.admin.access,
        )
        .await;
    let bad = app
        .get("/api/v1/notifications?kind=gossip", &w.admin.access)
        .await;

    assert_eq!(order_ids(&messages), vec![w.order_b]);
    assert_eq!(order_ids(&of_a), vec![w.order_a]);
    assert_eq!((bad.status, bad.code()), (400, "invalid"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn read_all_and_new_orders_for_the_same_worker_never_block_each_other(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let app = std::sync::Arc::new(app);

    // Orders auto-assigned to worker A (the only worker of this service) while A keeps marking all read.
    let service = app.service(&w.admin, &[&w.worker_a]).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (app, w) = (app.clone(), w.clone());
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                app.post(
                    "/api/v1/orders",
                    &w.client_a.access,
                    json!({"service_id": service}),
                )
                .await
                .expect(201);
            } else {
                app.post(
                    "/api/v1/notifications/read-all",
                    &w.worker_a.access,
                    json!({}),
                )
                .await
                .expect(200);
            }
        }));
    }

    let all = futures_util::future::join_all(tasks);
    let done = tokio::time::timeout(std::time::Duration::from_secs(20), all)
        .await
        .expect("no deadlock");
    for result in done {
        result.expect("every request finished");
    }
}

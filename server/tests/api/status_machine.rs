//! Every row of API.md's status-machine table, allowed and refused, for each party of an order.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{World, spawn_app};

const STATUSES: [&str; 5] = ["pending", "paid", "in_process", "completed", "canceled"];

/// API.md's table, written out independently of the code: who may make each move.
fn allowed(from: &str, to: &str) -> &'static [&'static str] {
    match (from, to) {
        ("pending", "paid") => &["worker", "admin"],
        ("paid", "in_process") | ("in_process", "completed") => &["worker", "admin"],
        ("pending", "canceled") => &["client", "worker", "admin"],
        ("paid", "canceled") | ("in_process", "canceled") => &["admin"],
        _ => &[],
    }
}

async fn notification_count(pool: &PgPool, order: i64) -> i64 {
    sqlx::query_scalar("select count(*) from notifications where order_id = $1")
        .bind(order)
        .fetch_one(pool)
        .await
        .expect("a count")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_move_by_every_party_follows_the_table(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let w = World::new(&app).await;
    let parties = [
        ("client", &w.client_a),
        ("worker", &w.worker_a),
        ("admin", &w.admin),
    ];

    for from in STATUSES {
        for to in STATUSES {
            for (party, user) in parties {
                // Arrange: a fresh order in `from`.
                let order = app.order(&w.client_a, w.service, Some(&w.worker_a)).await["id"]
                    .as_i64()
                    .expect("an id");
                app.force_status(order, from).await;
                let events = notification_count(&pool, order).await;

                // Act
                let answer = app
                    .patch(
                        &format!("/api/v1/orders/{order}/status"),
                        &user.access,
                        json!({"status": to}),
                    )
                    .await;

                // Assert
                let case = format!("{from} -> {to} by {party}");
                let status: String = sqlx::query_scalar("select status from orders where id = $1")
                    .bind(order)
                    .fetch_one(&pool)
                    .await
                    .expect("a status");
                let new_events = notification_count(&pool, order).await - events;
                if from == to {
                    assert_eq!(answer.status, 200, "{case}: {}", answer.body);
                    assert_eq!(new_events, 0, "{case}: a no-op must not notify");
                    assert_eq!(status, from, "{case}");
                } else if allowed(from, to).contains(&party) {
                    assert_eq!(answer.status, 200, "{case}: {}", answer.body);
                    assert_eq!(answer.body["status"], to, "{case}");
                    assert_eq!(status, to, "{case}");
                    assert_eq!(new_events, 1, "{case}: exactly one event");
                } else {
                    let expected = if allowed(from, to).is_empty() {
                        (409, "invalid_transition")
                    } else {
                        (403, "permission_denied")
                    };
                    assert_eq!(
                        (answer.status, answer.code()),
                        expected,
                        "{case}: {}",
                        answer.body
                    );
                    assert_eq!(status, from, "{case}: a refused move changes nothing");
                    assert_eq!(new_events, 0, "{case}: a refused move notifies nobody");
                }
            }
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_status_change_event_names_both_statuses_and_reaches_the_parties(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;

    app.patch(
        &format!("/api/v1/orders/{}/status", w.order_a),
        &w.worker_a.access,
        json!({"status": "paid"}),
    )
    .await
    .expect(200);

    for user in [&w.client_a, &w.worker_a, &w.admin] {
        let feed = app
            .get(
                &format!(
                    "/api/v1/notifications?kind=order_status_changed&order_id={}",
                    w.order_a
                ),
                &user.access,
            )
            .await;
        let event = &feed.expect(200)["results"][0];
        assert_eq!(
            event["data"],
            json!({"from": "pending", "to": "paid"}),
            "for {}",
            user.username
        );
        assert_eq!(event["actor_id"], w.worker_a.id);
    }
    let outsider = app
        .get(
            "/api/v1/notifications?kind=order_status_changed",
            &w.client_b.access,
        )
        .await;
    assert_eq!(outsider.expect(200)["count"], 0);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_pending_order_reserved_by_a_payment_cannot_be_canceled(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let w = World::new(&app).await;
    let transaction: i64 = sqlx::query_scalar(
        "insert into transactions
           (order_id, provider, amount, status, provider_transaction_id, state, reserved_at, provider_time)
         values ($1, 'payme', 100000, 'processing', 'p-1', 1, now(), (extract(epoch from now()) * 1000)::bigint)
         returning id",
    )
    .bind(w.order_a)
    .fetch_one(&pool)
    .await
    .expect("a transaction");

    for user in [&w.client_a, &w.worker_a, &w.admin] {
        let answer = app
            .patch(
                &format!("/api/v1/orders/{}/status", w.order_a),
                &user.access,
                json!({"status": "canceled"}),
            )
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (409, "conflict"),
            "by {}",
            user.username
        );
    }

    sqlx::query("update transactions set status = 'canceled', state = -1 where id = $1")
        .bind(transaction)
        .execute(&pool)
        .await
        .expect("the reservation ends");
    let answer = app
        .patch(
            &format!("/api/v1/orders/{}/status", w.order_a),
            &w.client_a.access,
            json!({"status": "canceled"}),
        )
        .await;
    assert_eq!(answer.expect(200)["status"], "canceled");
}

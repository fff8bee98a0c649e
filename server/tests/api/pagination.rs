//! Pagination of every list: the count is the whole filter's, on every page, a page past the end included.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{World, spawn_app};

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_list_counts_its_whole_filter_on_every_page_and_past_the_end(pool: PgPool) {
    // Arrange: at least one row in every list.
    let app = spawn_app(pool.clone()).await;
    let w = World::new(&app).await;
    sqlx::query(
        "insert into transactions (order_id, provider, amount) values ($1, 'payme', 100000)",
    )
    .bind(w.order_a)
    .execute(&pool)
    .await
    .expect("a transaction row");
    app.post(
        &format!("/api/v1/orders/{}/messages", w.order_a),
        &w.client_a.access,
        json!({"text": "Hello"}),
    )
    .await
    .expect(201);
    let lists = [
        ("/api/v1/users?role=client".to_owned(), &w.admin),
        ("/api/v1/services".to_owned(), &w.client_a),
        ("/api/v1/orders".to_owned(), &w.admin),
        ("/api/v1/orders?status=pending".to_owned(), &w.worker_a),
        ("/api/v1/transactions".to_owned(), &w.client_a),
        ("/api/v1/notifications".to_owned(), &w.admin),
        (
            "/api/v1/notifications?kind=order_created".to_owned(),
            &w.client_b,
        ),
        (
            format!("/api/v1/orders/{}/timeline", w.order_a),
            &w.worker_a,
        ),
        (
            format!("/api/v1/orders/{}/messages", w.order_a),
            &w.client_a,
        ),
    ];
    for (list, user) in lists {
        let at = |window: &str| {
            let separator = if list.contains('?') { '&' } else { '?' };
            format!("{list}{separator}{window}")
        };
        let whole = app.get(&at("limit=100"), &user.access).await;
        let count = whole.expect(200)["count"].as_i64().expect("a count");
        let all = whole.ids();
        assert!(count > 0, "{list} has rows");
        assert_eq!(
            usize::try_from(count).ok(),
            Some(all.len()),
            "{list}: the count is the number of rows"
        );

        // Act
        let first = app.get(&at("limit=1"), &user.access).await;
        let last = app
            .get(&at(&format!("limit=1&offset={}", count - 1)), &user.access)
            .await;
        let past = app
            .get(&at(&format!("limit=1&offset={count}")), &user.access)
            .await;
        let far = app.get(&at("limit=5&offset=1000"), &user.access).await;

        // Assert
        for (page, ids, name) in [
            (first, &all[..1], "the first page"),
            (last, &all[all.len() - 1..], "the last page"),
            (past, &[][..], "the page just past the end"),
            (far, &[][..], "a page far past the end"),
        ] {
            assert_eq!(
                page.expect(200)["count"],
                count,
                "{list}: the count on {name}"
            );
            assert_eq!(page.ids(), ids, "{list}: the rows of {name}");
        }
    }
}

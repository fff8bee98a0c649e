//! The maintained counts (`domain::tallies`, migration `20261217000001_tallies`) against the same figures counted
//! from scratch: after many orders placed, paid through both providers, refunded, cancelled and moved on at once,
//! with the tallies being folded meanwhile, every tally, the admin's unread count, the dashboard and every list's
//! `count` equal what a plain count of the rows says; and every page of the lists whose count comes from a tally
//! or a matching index (read from the nearer end) holds exactly the rows a plain ordered read gives.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use app::{
    domain::{auth::load_actor, dashboard, tallies},
    models::OrderStatus,
};
use futures_util::future::join_all;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::payments::common::{Call, PRICE, account, now_ms, payme, result};
use crate::helpers::{TestApp, TestUser, World, spawn_app};

/// What happens to each order placed in the test, by its number.
#[derive(Debug, Clone, Copy)]
enum Fate {
    StaysPending,
    CanceledByClient,
    PaidWithPayme,
    RefundedByPayme,
    PaidWithClick,
    PaidThenCompleted,
}

const FATES: [Fate; 6] = [
    Fate::StaysPending,
    Fate::CanceledByClient,
    Fate::PaidWithPayme,
    Fate::RefundedByPayme,
    Fate::PaidWithClick,
    Fate::PaidThenCompleted,
];

/// Orders each client places.
const PER_CLIENT: usize = 12;

/// Places an order of `client`'s for `service` and takes it to its fate; the worker moves it on, the providers pay
/// for it.
async fn live_one(
    app: &TestApp,
    client: &TestUser,
    worker: &TestUser,
    service: i64,
    fate: Fate,
    n: usize,
) {
    let order = app.order(client, service, Some(worker)).await["id"]
        .as_i64()
        .expect("an order id");
    let payme_id = format!("{order:024x}");
    let pay_with_payme = || async {
        let created = payme(
            app,
            "CreateTransaction",
            json!({ "id": payme_id, "time": now_ms(app), "amount": PRICE,
                    "account": account(order) }),
        )
        .await;
        result(&created);
        result(&Call::perform(&payme_id).send(app, None).await);
    };
    match fate {
        Fate::StaysPending => {}
        Fate::CanceledByClient => {
            let path = format!("/api/v1/orders/{order}/status");
            app.patch(&path, &client.access, json!({ "status": "canceled" }))
                .await
                .expect(200);
        }
        Fate::PaidWithPayme => pay_with_payme().await,
        Fate::RefundedByPayme => {
            pay_with_payme().await;
            result(&Call::cancel(&payme_id, 5).send(app, None).await);
        }
        Fate::PaidWithClick => {
            let attempt = 5_000_000_000 + i64::try_from(n).expect("small");
            let prepared = Call::prepare(attempt, order).send(app, None).await;
            assert_eq!(prepared["error"], 0, "{prepared}");
            let prepare_id = prepared["merchant_prepare_id"]
                .as_i64()
                .expect("a prepare id");
            let completed = Call::complete(attempt, order)
                .send(app, Some(prepare_id))
                .await;
            assert_eq!(completed["error"], 0, "{completed}");
        }
        Fate::PaidThenCompleted => {
            pay_with_payme().await;
            let path = format!("/api/v1/orders/{order}/status");
            for status in ["in_process", "completed"] {
                app.patch(&path, &worker.access, json!({ "status": status }))
                    .await
                    .expect(200);
            }
        }
    }
}

/// Every tally, counted from the rows.
async fn from_scratch(db: &PgPool) -> BTreeMap<String, (i64, i64)> {
    sqlx::query_as::<_, (String, i64, i64)>(
        r#"
        select 'orders:' || status, count(*), 0::bigint from orders group by status
        union all
        select 'orders_of_service:' || service_id || ':' || status, count(*), 0 from orders
        group by service_id, status
        union all
        select 'orders_on:' || tally_day(created_at), count(*), 0 from orders group by tally_day(created_at)
        union all
        select 'notifications:' || kind, count(*), 0 from notifications group by kind
        union all
        select 'transactions:' || provider || ':' || status, count(*), sum(amount)::bigint from transactions
        group by provider, status
        union all
        select 'revenue_on:' || tally_day(performed_at), count(*), sum(amount)::bigint from transactions
        where status = 'confirmed' group by tally_day(performed_at)
        union all
        select 'users:' || role, count(*), 0 from users group by role
        "#,
    )
    .fetch_all(db)
    .await
    .expect("counted")
    .into_iter()
    .map(|(k, n, a)| (k, (n, a)))
    .collect()
}

/// Every tally as maintained (zero ones left out, as a count from scratch has no row for them).
async fn maintained(db: &PgPool) -> BTreeMap<String, (i64, i64)> {
    tallies::under(db, "")
        .await
        .expect("read")
        .into_iter()
        .filter(|(_, t)| (t.n, t.amount) != (0, 0))
        .map(|(k, t)| (k, (t.n, t.amount)))
        .collect()
}

/// The users whose rolled-up feed size differs from a count of their events up to the roll-up's mark, and the
/// mark.
async fn feed_sizes_off(db: &PgPool) -> (Vec<(String, i64, i64, i64)>, i64) {
    let off = sqlx::query_as(
        r#"
        with counted as (
            select 'client' as side, client_id as user_id, count(*) as n
            from notifications, feed_sizes_mark m where id <= m.upto group by client_id
            union all
            select 'worker', worker_id, count(*)
            from notifications, feed_sizes_mark m where id <= m.upto and worker_id is not null group by worker_id
        )
        select side, user_id, coalesce(f.n, 0), coalesce(c.n, 0)
        from feed_sizes f full join counted c using (side, user_id)
        where coalesce(f.n, 0) <> coalesce(c.n, 0)
        "#,
    )
    .fetch_all(db)
    .await
    .expect("compared");
    let mark = sqlx::query_scalar("select upto from feed_sizes_mark")
        .fetch_one(db)
        .await
        .expect("the mark");
    (off, mark)
}

/// The admin's unread notifications, counted from the rows.
async fn unread_from_scratch(db: &PgPool, user: i64) -> i64 {
    sqlx::query_scalar(
        r#"
        select count(*) from notifications n, users u
        where u.id = $1 and n.id > u.notifications_read_upto
          and not exists (select 1 from notification_reads r where r.user_id = u.id and r.notification_id = n.id)
        "#,
    )
    .bind(user)
    .fetch_one(db)
    .await
    .expect("counted")
}

/// Users whose kept count of reads above their mark (`notifications_read_above`) differs from their reads:
/// (user, kept, counted).
async fn reads_above_off(db: &PgPool) -> Vec<(i64, i64, i64)> {
    sqlx::query_as(
        r#"
        select id, notifications_read_above, counted from (
            select u.id, u.notifications_read_above, (
                select count(*) from notification_reads r
                where r.user_id = u.id and r.notification_id > u.notifications_read_upto) as counted
            from users u) c
        where notifications_read_above <> counted
        "#,
    )
    .fetch_all(db)
    .await
    .expect("counted")
}

/// Every id of a list, walking its pages of `limit` from the first to past the last, and each page's `count`.
async fn walk(app: &TestApp, token: &str, path: &str, limit: i64) -> (Vec<i64>, Vec<i64>) {
    let (mut ids, mut counts) = (Vec::new(), Vec::new());
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut offset = 0;
    loop {
        let page = app
            .get(&format!("{path}{sep}limit={limit}&offset={offset}"), token)
            .await;
        let body = page.expect(200);
        counts.push(body["count"].as_i64().expect("a count"));
        let got = page.ids();
        if got.is_empty() {
            return (ids, counts);
        }
        ids.extend(got);
        offset += limit;
    }
}

/// The ids a list holds, newest first, as a plain ordered read gives them.
async fn ids_of(db: &PgPool, sql: &str) -> Vec<i64> {
    sqlx::query_scalar(sql).fetch_all(db).await.expect("read")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_tally_equals_its_count_from_scratch_after_concurrent_orders_payments_and_cancellations(
    pool: PgPool,
) {
    // Arrange
    let app = Arc::new(spawn_app(pool).await);
    let w = World::new(&app).await;
    let admin = load_actor(&app.db, w.admin.id).await.expect("the admin");
    let other_service = app.service(&w.admin, &[&w.worker_a, &w.worker_b]).await;
    let done = Arc::new(AtomicBool::new(false));
    let folding = {
        let (app, done) = (app.clone(), done.clone());
        tokio::spawn(async move {
            let mut folds = 0;
            while !done.load(Ordering::Relaxed) {
                tallies::fold(&app.ctx).await.expect("a fold");
                tallies::roll_up_feed_sizes(&app.ctx)
                    .await
                    .expect("a roll-up");
                folds += 1;
                tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            }
            folds
        })
    };

    // Act: both clients' orders at once, each to its fate, while the admin reads some and then all.
    let lives = (0..PER_CLIENT * 2).map(|n| {
        let (client, worker) = if n % 2 == 0 {
            (&w.client_a, &w.worker_a)
        } else {
            (&w.client_b, &w.worker_b)
        };
        // Every fourth order is for the other service.
        let service = if n % 4 == 3 { other_service } else { w.service };
        live_one(
            &app,
            client,
            worker,
            service,
            FATES[(n / 2) % FATES.len()],
            n,
        )
    });
    let reads = async {
        let first = app
            .get("/api/v1/notifications?limit=5", &w.admin.access)
            .await;
        for id in first.ids() {
            app.post(
                &format!("/api/v1/notifications/{id}/read"),
                &w.admin.access,
                json!({}),
            )
            .await
            .expect(204);
        }
        app.post("/api/v1/notifications/read-all", &w.admin.access, json!({}))
            .await
            .expect(200);
    };
    // Meanwhile people join, and one of them is made a worker and then an admin.
    let staff = async {
        let mut ids = Vec::new();
        for n in 0..4 {
            let name = format!("joiner{n}");
            let body =
                json!({ "username": name, "password": "a long enough password", "role": "client" });
            ids.push(
                app.post("/api/v1/users", &w.admin.access, body)
                    .await
                    .expect(201)["id"]
                    .clone(),
            );
        }
        for role in ["worker", "admin"] {
            let path = format!("/api/v1/users/{}", ids[1]);
            app.patch(&path, &w.admin.access, json!({ "role": role }))
                .await
                .expect(200);
        }
    };
    let (_, (), ()) = tokio::join!(join_all(lives), reads, staff);
    // A few read one by one after the mark, and one message more.
    let newest = app
        .get("/api/v1/notifications?limit=3", &w.admin.access)
        .await
        .ids();
    let path = format!("/api/v1/orders/{}/messages", w.order_a);
    app.post(&path, &w.client_a.access, json!({ "text": "still there?" }))
        .await
        .expect(201);
    for id in newest.iter().skip(1) {
        app.post(
            &format!("/api/v1/notifications/{id}/read"),
            &w.admin.access,
            json!({}),
        )
        .await
        .expect(204);
    }
    done.store(true, Ordering::Relaxed);
    assert!(folding.await.expect("the folder ran") > 0);

    // Assert: the tallies, before and after the last fold.
    let expected = from_scratch(&app.db).await;
    assert!(
        expected.contains_key("transactions:payme:canceled"),
        "{expected:?}"
    );
    assert!(
        expected.contains_key("transactions:click:confirmed"),
        "{expected:?}"
    );
    assert_eq!(maintained(&app.db).await, expected);
    tallies::fold(&app.ctx).await.expect("a fold");
    assert_eq!(maintained(&app.db).await, expected);
    let (off, mark) = feed_sizes_off(&app.db).await;
    assert!(off.is_empty(), "feed sizes off: {off:?}");
    assert!(mark > 0, "the feed sizes were rolled up");

    // Assert: the head counts.
    let stats = app.get("/api/v1/users/stats", &w.admin.access).await;
    let want: (i64, i64, i64, i64) = sqlx::query_as(
        "select count(*), count(*) filter (where role = 'client'), count(*) filter (where role = 'worker'),
                count(*) filter (where role = 'admin') from users",
    )
    .fetch_one(&app.db)
    .await
    .expect("counted");
    assert_eq!(
        stats.expect(200),
        &json!({ "total": want.0, "clients": want.1, "workers": want.2, "admins": want.3 })
    );
    assert_eq!(want.3, 2, "the joiner made an admin counts");

    // Assert: the admin's unread count, and every user's reads above their mark.
    assert_eq!(reads_above_off(&app.db).await, vec![]);
    let unread = app
        .get("/api/v1/notifications/unread-count", &w.admin.access)
        .await;
    let want = unread_from_scratch(&app.db, w.admin.id).await;
    assert!(want > 0);
    assert_eq!(unread.expect(200)["count"], json!(want));

    // Assert: the dashboard.
    let board = dashboard::get(&app.ctx, &admin)
        .await
        .expect("the dashboard");
    for figure in &board.by_status {
        let key = format!("orders:{}", figure.status.as_str());
        assert_eq!(figure.count, expected.get(&key).map_or(0, |t| t.0), "{key}");
    }
    assert_eq!(board.by_status.len(), OrderStatus::ALL.len());
    let today = board.days.last().expect("today");
    let day = today.day.format("%Y-%m-%d");
    assert_eq!(today.orders, expected[&format!("orders_on:{day}")].0);
    assert_eq!(today.revenue, expected[&format!("revenue_on:{day}")].1);
    let confirmed: i64 = expected
        .iter()
        .filter(|(k, _)| k.ends_with(":confirmed"))
        .map(|(_, t)| t.1)
        .sum();
    assert_eq!(board.revenue, confirmed);
    assert!(confirmed > 0);
    let newest: i64 = sqlx::query_scalar("select max(id) from notifications")
        .fetch_one(&app.db)
        .await
        .expect("read");
    assert!(
        board.as_of >= newest,
        "the figures count every committed event: {} < {newest}",
        board.as_of
    );

    // Assert: the lists whose count is a tally, page by page from both ends.
    let lists: [(&str, &str); 10] = [
        ("/api/v1/users", "select id from users order by id desc"),
        (
            "/api/v1/users?role=client",
            "select id from users where role = 'client' order by id desc",
        ),
        ("/api/v1/orders", "select id from orders order by id desc"),
        (
            "/api/v1/orders?status=paid",
            "select id from orders where status = 'paid' order by id desc",
        ),
        (
            "/api/v1/orders?status=canceled",
            "select id from orders where status = 'canceled' order by id desc",
        ),
        (
            "/api/v1/notifications",
            "select id from notifications order by id desc",
        ),
        (
            "/api/v1/notifications?kind=order_status_changed",
            "select id from notifications where kind = 'order_status_changed' order by id desc",
        ),
        (
            "/api/v1/transactions",
            "select id from transactions order by id desc",
        ),
        (
            "/api/v1/transactions?provider=payme&status=confirmed",
            "select id from transactions where provider = 'payme' and status = 'confirmed' order by id desc",
        ),
        (
            "/api/v1/transactions?status=canceled",
            "select id from transactions where status = 'canceled' order by id desc",
        ),
    ];
    let (service, client, worker) = (w.service, w.client_a.id, w.worker_b.id);
    let narrowed = [
        (
            &w.client_a,
            "/api/v1/notifications".to_owned(),
            format!("select id from notifications where client_id = {client} order by id desc"),
        ),
        (
            &w.worker_b,
            "/api/v1/notifications".to_owned(),
            format!("select id from notifications where worker_id = {worker} order by id desc"),
        ),
        (
            &w.admin,
            format!("/api/v1/orders?service_id={service}"),
            format!("select id from orders where service_id = {service} order by id desc"),
        ),
        (
            &w.admin,
            format!("/api/v1/orders?service_id={other_service}&status=completed"),
            format!(
                "select id from orders where service_id = {other_service} and status = 'completed' order by id desc"
            ),
        ),
        (
            &w.client_a,
            "/api/v1/orders?status=completed".to_owned(),
            format!("select id from orders where client_id = {client} and status = 'completed' order by id desc"),
        ),
        (
            &w.client_a,
            "/api/v1/notifications?kind=order_status_changed".to_owned(),
            format!(
                "select id from notifications where client_id = {client} and kind = 'order_status_changed'
                 order by id desc"
            ),
        ),
    ];
    let lists = lists
        .map(|(path, sql)| (&w.admin, path.to_owned(), sql.to_owned()))
        .into_iter()
        .chain(narrowed);
    for (user, path, sql) in lists {
        let want = ids_of(&app.db, &sql).await;
        assert!(!want.is_empty(), "{path}");
        let (ids, counts) = walk(&app, &user.access, &path, 7).await;
        assert_eq!(ids, want, "{path}");
        let n = i64::try_from(want.len()).expect("small");
        assert!(counts.iter().all(|&c| c == n), "{path}: {counts:?} for {n}");
    }
    let unread_ids = ids_of(
        &app.db,
        &format!(
            "select n.id from notifications n, users u where u.id = {} and n.id > u.notifications_read_upto
             and not exists (select 1 from notification_reads r where r.user_id = u.id and r.notification_id = n.id)
             order by n.id desc",
            w.admin.id
        ),
    )
    .await;
    let (ids, counts) = walk(
        &app,
        &w.admin.access,
        "/api/v1/notifications?unread=true",
        2,
    )
    .await;
    assert_eq!(ids, unread_ids);
    assert!(counts.iter().all(|&c| c == want), "{counts:?}");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn deleting_old_notifications_keeps_the_tallies_and_every_unread_count_exact(pool: PgPool) {
    // Arrange: events, an admin who read all of them, then more events.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    for status in ["paid", "in_process"] {
        let path = format!("/api/v1/orders/{}/status", w.order_a);
        app.patch(&path, &w.worker_a.access, json!({ "status": status }))
            .await
            .expect(200);
    }
    app.post("/api/v1/notifications/read-all", &w.admin.access, json!({}))
        .await
        .expect(200);
    let path = format!("/api/v1/orders/{}/messages", w.order_b);
    app.post(&path, &w.client_b.access, json!({ "text": "hello" }))
        .await
        .expect(201);
    // The feed sizes are rolled up, and one more event comes above their mark.
    let rolled = tallies::roll_up_feed_sizes(&app.ctx)
        .await
        .expect("a roll-up");
    let more = format!("/api/v1/orders/{}/messages", w.order_a);
    app.post(
        &more,
        &w.client_a.access,
        json!({ "text": "above the mark" }),
    )
    .await
    .expect(201);
    let before: Value = app
        .get("/api/v1/notifications/unread-count", &w.admin.access)
        .await
        .expect(200)
        .clone();
    assert_eq!(
        before["count"],
        json!(unread_from_scratch(&app.db, w.admin.id).await)
    );

    // A client reads their oldest notification (the first of all) one by one, without moving their mark.
    let oldest: i64 = sqlx::query_scalar("select min(id) from notifications")
        .fetch_one(&app.db)
        .await
        .expect("the oldest");
    app.post(
        &format!("/api/v1/notifications/{oldest}/read"),
        &w.client_a.access,
        json!({}),
    )
    .await
    .expect(204);
    let client_above = "select notifications_read_above from users where id = $1";
    let kept: i64 = sqlx::query_scalar(client_above)
        .bind(w.client_a.id)
        .fetch_one(&app.db)
        .await
        .expect("the client");
    assert_eq!(kept, 1);

    // Act: retention deletes the oldest notifications, some below the admin's mark and some above none, all of them
    // rolled up into the feed sizes (the newest, above the roll-up's mark, stays), and the client's read with them.
    sqlx::query(
        "delete from notifications where id in (select id from notifications order by id limit 3)",
    )
    .execute(&app.db)
    .await
    .expect("deleted");

    // Assert
    assert_eq!(reads_above_off(&app.db).await, vec![]);
    let kept: i64 = sqlx::query_scalar(client_above)
        .bind(w.client_a.id)
        .fetch_one(&app.db)
        .await
        .expect("the client");
    assert_eq!(kept, 0);
    assert_eq!(maintained(&app.db).await, from_scratch(&app.db).await);
    let after = app
        .get("/api/v1/notifications/unread-count", &w.admin.access)
        .await;
    assert_eq!(
        after.expect(200)["count"],
        json!(unread_from_scratch(&app.db, w.admin.id).await)
    );
    assert_eq!(after.body, before, "the deleted ones had been read");
    let (off, mark) = feed_sizes_off(&app.db).await;
    assert!(off.is_empty(), "feed sizes off: {off:?}");
    assert!(rolled > 0 && mark > 3, "rolled up to {mark}");
    for user in [&w.client_a, &w.client_b, &w.worker_a] {
        let (column, role) = if user.id == w.worker_a.id {
            ("worker_id", "worker")
        } else {
            ("client_id", "client")
        };
        let want: i64 = sqlx::query_scalar(&format!(
            "select count(*) from notifications where {column} = $1"
        ))
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("counted");
        let feed = app.get("/api/v1/notifications", &user.access).await;
        assert_eq!(feed.expect(200)["count"], json!(want), "{role} {}", user.id);
    }
}

/// A user's reads above their mark are kept as a count with the reads (an admin's unread count subtracts it). Several
/// tabs of one admin mark notifications read one by one (REST) and many at once (the socket's `mark_read`) while
/// others mark everything read and orders add notifications: the count equals the reads, and the unread count the
/// notifications, counted from scratch.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn reads_above_the_mark_stay_counted_while_tabs_read_one_by_one_and_all_at_once(
    pool: PgPool,
) {
    // Arrange
    let app = Arc::new(spawn_app(pool).await);
    let w = World::new(&app).await;
    let admin = load_actor(&app.db, w.admin.id).await.expect("the admin");
    for _ in 0..8 {
        app.order(&w.client_a, w.service, Some(&w.worker_a)).await;
    }

    // Act
    let ordering = (0..12).map(|n| {
        let client = if n % 2 == 0 { &w.client_a } else { &w.client_b };
        let worker = if n % 2 == 0 { &w.worker_a } else { &w.worker_b };
        app.order(client, w.service, Some(worker))
    });
    let one_by_one = (0..3).map(|tab| {
        let app = app.clone();
        let token = w.admin.access.clone();
        async move {
            for round in 0..4 {
                let ids = app
                    .get(
                        &format!("/api/v1/notifications?limit=4&offset={}", tab + round),
                        &token,
                    )
                    .await
                    .ids();
                for id in ids {
                    app.post(
                        &format!("/api/v1/notifications/{id}/read"),
                        &token,
                        json!({}),
                    )
                    .await
                    .expect(204);
                }
            }
        }
    });
    let at_once = async {
        for round in 0..4 {
            let ids: Vec<i64> = sqlx::query_scalar(
                "select id from notifications order by id desc limit 6 offset $1",
            )
            .bind(round * 2)
            .fetch_all(&app.db)
            .await
            .expect("ids");
            app::domain::notifications::mark_read(&app.ctx, &admin, &ids, None)
                .await
                .expect("marked");
        }
    };
    let all = async {
        for _ in 0..3 {
            app.post("/api/v1/notifications/read-all", &w.admin.access, json!({}))
                .await
                .expect(200);
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(join_all(ordering), join_all(one_by_one), at_once, all);
    // And some read one by one after the last mark.
    app.order(&w.client_b, w.service, Some(&w.worker_b)).await;
    for id in app
        .get("/api/v1/notifications?limit=3", &w.admin.access)
        .await
        .ids()
    {
        app.post(
            &format!("/api/v1/notifications/{id}/read"),
            &w.admin.access,
            json!({}),
        )
        .await
        .expect(204);
    }

    // Assert
    assert_eq!(reads_above_off(&app.db).await, vec![]);
    let kept: i64 = sqlx::query_scalar("select notifications_read_above from users where id = $1")
        .bind(w.admin.id)
        .fetch_one(&app.db)
        .await
        .expect("the admin");
    assert!(kept > 0, "some reads lie above the admin's mark");
    let unread = app
        .get("/api/v1/notifications/unread-count", &w.admin.access)
        .await;
    assert_eq!(
        unread.expect(200)["count"],
        json!(unread_from_scratch(&app.db, w.admin.id).await)
    );
}

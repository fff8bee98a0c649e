//! Placing orders, worker assignment, scoped lists, the timeline and the conversation.

use serde_json::json;
use sqlx::{Connection as _, PgConnection, PgPool};

use crate::helpers::{TestApp, TestUser, World, spawn_app};
use app::{
    domain::{Actor, Error, orders},
    models::{CreateOrderInput, Order, Role},
};

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_order_copies_the_price_and_takes_the_chosen_worker(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let client = app.user(Role::Client).await;
    let w1 = app.user(Role::Worker).await;
    let w2 = app.user(Role::Worker).await;
    let service = app.service(&admin, &[&w1, &w2]).await;

    let order = app
        .post(
            "/api/v1/orders",
            &client.access,
            json!({"service_id": service, "worker_id": w2.id, "description": " Fix it "}),
        )
        .await;
    app.patch(
        &format!("/api/v1/services/{service}"),
        &admin.access,
        json!({"price": 999}),
    )
    .await
    .expect(200);

    let body = order.expect(201);
    assert_eq!(body["price"], 100_000);
    assert_eq!(body["status"], "pending");
    assert_eq!(body["worker_id"], w2.id);
    assert_eq!(body["worker"]["username"], w2.username.as_str());
    assert_eq!(body["client_id"], client.id);
    assert_eq!(body["description"], "Fix it");
    let id = body["id"].as_i64().expect("an id");
    assert_eq!(
        app.get(&format!("/api/v1/orders/{id}"), &client.access)
            .await
            .expect(200)["price"],
        100_000
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn without_a_choice_the_worker_with_fewest_open_orders_is_assigned(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let client = app.user(Role::Client).await;
    let busy = app.user(Role::Worker).await;
    let free = app.user(Role::Worker).await;
    let service = app.service(&admin, &[&busy, &free]).await;
    let first = app.order(&client, service, Some(&busy)).await;
    let done = app.order(&client, service, Some(&free)).await;
    app.force_status(done["id"].as_i64().expect("an id"), "completed")
        .await;
    let _ = first;

    // busy has 1 open order, free has 0 open (its only order is completed).
    let auto = app
        .post(
            "/api/v1/orders",
            &client.access,
            json!({"service_id": service}),
        )
        .await;
    assert_eq!(auto.expect(201)["worker_id"], free.id);
    // Now both have one open order: the tie goes to the lower id.
    let tie = app
        .post(
            "/api/v1/orders",
            &client.access,
            json!({"service_id": service}),
        )
        .await;
    assert_eq!(tie.expect(201)["worker_id"], busy.id.min(free.id));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_service_without_active_workers_leaves_the_order_unassigned(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let client = app.user(Role::Client).await;
    let gone = app.user(Role::Worker).await;
    let service = app.service(&admin, &[&gone]).await;
    app.delete(&format!("/api/v1/users/{}", gone.id), &admin.access)
        .await
        .expect(204);

    let order = app
        .post(
            "/api/v1/orders",
            &client.access,
            json!({"service_id": service}),
        )
        .await;

    assert_eq!(order.expect(201)["worker_id"], serde_json::Value::Null);
    assert_eq!(order.body["worker"], serde_json::Value::Null);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_order_is_refused_for_a_bad_service_or_worker_and_nothing_is_written(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let client = app.user(Role::Client).await;
    let member = app.user(Role::Worker).await;
    let outsider = app.user(Role::Worker).await;
    let service = app.service(&admin, &[&member]).await;
    let withdrawn = app.service(&admin, &[&member]).await;
    app.delete(&format!("/api/v1/services/{withdrawn}"), &admin.access)
        .await
        .expect(204);
    let before = app.row_counts().await;

    let cases = [
        (
            json!({"service_id": 999_999}),
            "service_id",
            "an unknown service",
        ),
        (
            json!({"service_id": withdrawn}),
            "service_id",
            "a withdrawn service",
        ),
        (
            json!({"service_id": service, "worker_id": outsider.id}),
            "worker_id",
            "a worker of another service",
        ),
        (
            json!({"service_id": service, "worker_id": client.id}),
            "worker_id",
            "a client as worker",
        ),
        (
            json!({"service_id": service, "description": "x".repeat(5001)}),
            "description",
            "a too long description",
        ),
    ];
    for (body, field, description) in cases {
        let answer = app.post("/api/v1/orders", &client.access, body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "invalid"),
            "{description}: {}",
            answer.body
        );
        assert!(
            answer.body["errors"][field].is_array(),
            "{description}: {}",
            answer.body
        );
    }
    for other in [&admin, &member] {
        let answer = app
            .post(
                "/api/v1/orders",
                &other.access,
                json!({"service_id": service}),
            )
            .await;
        assert_eq!((answer.status, answer.code()), (403, "permission_denied"));
    }
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn order_lists_are_scoped_to_the_caller_and_filterable(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let other_service = app.service(&w.admin, &[&w.worker_a]).await;
    let extra = app.order(&w.client_a, other_service, None).await["id"]
        .as_i64()
        .expect("an id");
    app.force_status(w.order_a, "paid").await;

    let mut admin = app.get("/api/v1/orders", &w.admin.access).await.ids();
    admin.sort_unstable();
    assert_eq!(admin, vec![w.order_a, w.order_b, extra]);
    assert_eq!(
        app.get("/api/v1/orders", &w.client_a.access).await.ids(),
        vec![extra, w.order_a]
    );
    assert_eq!(
        app.get("/api/v1/orders", &w.client_b.access).await.ids(),
        vec![w.order_b]
    );
    assert_eq!(
        app.get("/api/v1/orders", &w.worker_a.access).await.ids(),
        vec![extra, w.order_a]
    );
    assert_eq!(
        app.get("/api/v1/orders", &w.worker_b.access).await.ids(),
        vec![w.order_b]
    );
    assert_eq!(
        app.get("/api/v1/orders?status=paid", &w.admin.access)
            .await
            .ids(),
        vec![w.order_a]
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/orders?service_id={other_service}"),
            &w.admin.access
        )
        .await
        .ids(),
        vec![extra]
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/orders?client_id={}", w.client_b.id),
            &w.admin.access
        )
        .await
        .ids(),
        vec![w.order_b]
    );
    // A client cannot widen its view with the admin filters.
    assert!(
        app.get(
            &format!("/api/v1/orders?client_id={}", w.client_b.id),
            &w.client_a.access
        )
        .await
        .ids()
        .is_empty()
    );
    let bad = app.get("/api/v1/orders?status=lost", &w.admin.access).await;
    assert_eq!((bad.status, bad.code()), (400, "invalid"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_admin_reassigns_an_order_and_the_new_worker_is_told(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;

    let assigned = app
        .post(
            &format!("/api/v1/orders/{}/assign", w.order_a),
            &w.admin.access,
            json!({"worker_id": w.worker_b.id}),
        )
        .await;

    assert_eq!(assigned.expect(200)["worker_id"], w.worker_b.id);
    let feed = app
        .get(
            &format!("/api/v1/notifications?order_id={}", w.order_a),
            &w.worker_b.access,
        )
        .await;
    let kinds: Vec<&str> = feed.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|n| n["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["order_assigned"]);
    assert_eq!(
        feed.body["results"][0]["data"],
        json!({"from": w.worker_a.id, "to": w.worker_b.id})
    );
    // The previous worker no longer sees the order.
    assert_eq!(
        app.get(&format!("/api/v1/orders/{}", w.order_a), &w.worker_a.access)
            .await
            .status,
        404
    );

    app.force_status(w.order_a, "completed").await;
    let terminal = app
        .post(
            &format!("/api/v1/orders/{}/assign", w.order_a),
            &w.admin.access,
            json!({"worker_id": w.worker_a.id}),
        )
        .await;
    assert_eq!((terminal.status, terminal.code()), (409, "conflict"));
    let stranger = app.user(Role::Worker).await;
    let outsider = app
        .post(
            &format!("/api/v1/orders/{}/assign", w.order_b),
            &w.admin.access,
            json!({"worker_id": stranger.id}),
        )
        .await;
    assert_eq!((outsider.status, outsider.code()), (400, "invalid"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_conversation_is_shared_by_the_parties_and_admins(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let path = format!("/api/v1/orders/{}/messages", w.order_a);

    let from_client = app
        .post(
            &path,
            &w.client_a.access,
            json!({"text": "  When can you come?  "}),
        )
        .await;
    let from_worker = app
        .post(
            &path,
            &w.worker_a.access,
            json!({"text": "Tomorrow at 10."}),
        )
        .await;
    let from_admin = app
        .post(&path, &w.admin.access, json!({"text": "Noted."}))
        .await;
    let empty = app
        .post(&path, &w.client_a.access, json!({"text": "   "}))
        .await;
    let long = app
        .post(&path, &w.client_a.access, json!({"text": "x".repeat(2001)}))
        .await;
    let longest = app
        .post(&path, &w.client_a.access, json!({"text": "ы".repeat(2000)}))
        .await;

    assert_eq!(from_client.expect(201)["text"], "When can you come?");
    assert_eq!(from_client.body["sender"]["id"], w.client_a.id);
    from_worker.expect(201);
    from_admin.expect(201);
    longest.expect(201);
    assert_eq!((empty.status, empty.code()), (400, "invalid"));
    assert_eq!((long.status, long.code()), (400, "invalid"));
    let listed = app.get(&path, &w.worker_a.access).await;
    let texts: Vec<&str> = listed.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .take(3)
        .collect();
    assert_eq!(texts, ["When can you come?", "Tomorrow at 10.", "Noted."]);
    assert_eq!(listed.body["count"], 4);
    let feed = app
        .get(
            &format!(
                "/api/v1/notifications?kind=order_message&order_id={}",
                w.order_a
            ),
            &w.worker_a.access,
        )
        .await;
    assert_eq!(feed.expect(200)["count"], 4);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_timeline_lists_every_event_of_the_order_oldest_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let id = w.order_a;
    app.patch(
        &format!("/api/v1/orders/{id}/status"),
        &w.worker_a.access,
        json!({"status": "paid"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/orders/{id}/messages"),
        &w.client_a.access,
        json!({"text": "Thanks"}),
    )
    .await
    .expect(201);
    app.patch(
        &format!("/api/v1/orders/{id}/status"),
        &w.worker_a.access,
        json!({"status": "in_process"}),
    )
    .await
    .expect(200);

    let timeline = app
        .get(&format!("/api/v1/orders/{id}/timeline"), &w.client_a.access)
        .await;

    let events: Vec<(String, serde_json::Value)> = timeline.expect(200)["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap_or_default().to_owned(),
                n["data"].clone(),
            )
        })
        .collect();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0].0, "order_created");
    assert_eq!(
        events[1],
        (
            "order_status_changed".to_owned(),
            json!({"from": "pending", "to": "paid"})
        )
    );
    assert_eq!(events[2].0, "order_message");
    assert_eq!(
        events[3],
        (
            "order_status_changed".to_owned(),
            json!({"from": "paid", "to": "in_process"})
        )
    );
    assert_eq!(
        timeline.body["results"][3]["message"],
        format!("Order #{id} is now In process")
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn placing_orders_is_rate_limited_per_client(pool: PgPool) {
    let app = crate::helpers::spawn_app_with(pool, |c| c.order_rate_limit = 3).await;
    let w = World::new(&app).await;
    // The world placed one order for each client; client A may place two more this minute.
    for _ in 0..2 {
        app.order(&w.client_a, w.service, None).await;
    }
    let before = app.fingerprint().await;
    let refused = app
        .post(
            "/api/v1/orders",
            &w.client_a.access,
            json!({ "service_id": w.service }),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (429, "throttled"),
        "{}",
        refused.body
    );
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=60).contains(&retry));
    assert_eq!(
        app.fingerprint().await,
        before,
        "a throttled order writes nothing"
    );
    // Another client is not affected.
    app.order(&w.client_b, w.service, None).await;
}

/// Orders that arrive while others are being placed go to the database together, as one statement: each is
/// judged as if placed alone (the same answers as one by one), and one that makes the statement fail as a whole
/// leaves the others of its batch placed.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn orders_placed_together_are_each_judged_as_if_placed_alone(pool: PgPool) {
    // Arrange: a service of w1 and w2 where w1 has one open order, an inactive one, another for the holders.
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let (w1, w2, w3) = (
        app.user(Role::Worker).await,
        app.user(Role::Worker).await,
        app.user(Role::Worker).await,
    );
    let outsider = app.user(Role::Worker).await;
    let service = app.service(&admin, &[&w1, &w2]).await;
    let retired = app.service(&admin, &[&w1]).await;
    let other = app.service(&admin, &[&w3]).await;
    sqlx::query("update services set is_active = false where id = $1")
        .bind(retired)
        .execute(&app.db)
        .await
        .expect("the service is retired");
    let mut users = Vec::new();
    for _ in 0..3 {
        users.push(app.user(Role::Client).await);
    }
    app.order(&users[0], service, Some(&w1)).await;
    let c: Vec<Actor> = users.iter().map(client).collect();
    let cases = vec![
        (c[0].clone(), service, Some(w1.id)),
        (c[1].clone(), service, None),
        (c[2].clone(), service, Some(outsider.id)),
        (c[0].clone(), retired, None),
        (c[1].clone(), 999_999, None),
        (c[2].clone(), service, Some(w2.id)),
    ];

    // Act: with the intake's slots held by orders waiting on a lock, the cases queue up and go together.
    let blocker = Blocker::hold(&app, &c[0], other).await;
    let queued = app.ctx.intake.waiting();
    let placing = spawn_orders(&app, &cases);
    wait_until_waiting(&app, queued + cases.len()).await;
    let held = blocker.release().await;
    let together = join(placing).await;
    let mut alone = Vec::new();
    for (actor, service, worker) in &cases {
        alone.push(orders::create(&app.ctx, actor, order_input(*service, *worker)).await);
    }

    // Assert: the same answers as one by one; the placed ones in one transaction, each with its event.
    let summary = |answers: &[app::domain::Result<Order>]| -> Vec<String> {
        answers
            .iter()
            .map(|a| match a {
                Ok(o) => format!("placed for {} with {:?}", o.client_id, o.worker_id),
                Err(e) => format!("{e:?}"),
            })
            .collect()
    };
    assert_eq!(summary(&together), summary(&alone));
    let expected = [Some(w1.id), Some(w2.id), None, None, None, Some(w2.id)];
    for ((answer, worker), case) in together.iter().zip(expected).zip(&cases) {
        match (answer, worker) {
            (Ok(order), Some(worker)) => assert_eq!(order.worker_id, Some(worker), "{case:?}"),
            (Err(Error::Validation(_)), None) => {}
            (other, _) => panic!("{case:?}: {other:?}"),
        }
    }
    let placed: Vec<i64> = together.iter().flatten().map(|o| o.id).collect();
    type Row = (
        i64,
        Option<i64>,
        i64,
        Option<i64>,
        chrono::DateTime<chrono::Utc>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "select o.client_id, o.worker_id, n.client_id, n.worker_id, o.created_at
         from orders o join notifications n on n.order_id = o.id and n.kind = 'order_created'
         where o.id = any($1) order by o.id",
    )
    .bind(&placed)
    .fetch_all(&app.db)
    .await
    .expect("the orders and their events");
    assert_eq!(rows.len(), 3, "each placed order has one event: {rows:?}");
    for (client, worker, event_client, event_worker, at) in &rows {
        assert_eq!((client, worker), (event_client, event_worker));
        assert_eq!(at, &rows[0].4, "placed in one transaction: {rows:?}");
    }
    let counts: (i64, i64) = sqlx::query_as(
        "select (select count(*) from orders),
                (select count(*) from notifications where kind = 'order_created')",
    )
    .fetch_one(&app.db)
    .await
    .expect("the counts");
    let written = i64::try_from(1 + held + 3 + 3).expect("a few");
    assert_eq!(
        counts,
        (written, written),
        "nothing written for a refused order"
    );

    // A batch whose statement fails as a whole (its client is gone): the others are placed, each alone.
    let ghost = Actor {
        id: 999_999,
        ..c[0].clone()
    };
    let blocker = Blocker::hold(&app, &c[0], other).await;
    let queued = app.ctx.intake.waiting();
    let cases = vec![
        (c[1].clone(), service, None),
        (ghost, service, Some(w1.id)),
        (c[2].clone(), service, Some(w2.id)),
    ];
    let placing = spawn_orders(&app, &cases);
    wait_until_waiting(&app, queued + cases.len()).await;
    blocker.release().await;
    let answers = join(placing).await;
    assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
    assert!(
        matches!(answers[1], Err(Error::Database(_))),
        "{:?}",
        answers[1]
    );
}

/// A client as the domain sees them.
fn client(user: &TestUser) -> Actor {
    Actor {
        id: user.id,
        role: Role::Client,
        username: user.username.clone(),
        full_name: "Test client".to_owned(),
        session_epoch: 0,
    }
}

fn order_input(service_id: i64, worker_id: Option<i64>) -> CreateOrderInput {
    CreateOrderInput {
        service_id,
        worker_id,
        description: Some("together".to_owned()),
    }
}

type Placing = Vec<tokio::task::JoinHandle<app::domain::Result<Order>>>;

/// Starts placing each order of `cases` (client, service, worker) at once.
fn spawn_orders(app: &TestApp, cases: &[(Actor, i64, Option<i64>)]) -> Placing {
    cases
        .iter()
        .map(|(actor, service, worker)| {
            let (ctx, actor, input) = (
                app.ctx.clone(),
                actor.clone(),
                order_input(*service, *worker),
            );
            tokio::spawn(async move { orders::create(&ctx, &actor, input).await })
        })
        .collect()
}

async fn join(placing: Placing) -> Vec<app::domain::Result<Order>> {
    let mut answers = Vec::new();
    for task in placing {
        answers.push(task.await.expect("the order's task ends"));
    }
    answers
}

/// Waits until `n` orders wait for one of the intake's slots.
async fn wait_until_waiting(app: &TestApp, n: usize) {
    for _ in 0..1000 {
        if app.ctx.intake.waiting() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{n} orders never waited together");
}

/// Orders that hold every slot of the intake: each waits on a lock of the services table until released. The
/// lock and the look at who waits are on a connection of their own (the held orders take the pool's).
struct Blocker {
    lock: PgConnection,
    holders: Placing,
}

impl Blocker {
    /// Places orders of `client` for `service` one at a time, each stuck on the lock, until one has to wait
    /// for a slot.
    async fn hold(app: &TestApp, client: &Actor, service: i64) -> Self {
        let mut lock = PgConnection::connect_with(&app.db.connect_options())
            .await
            .expect("a connection");
        sqlx::raw_sql("begin; lock table services in access exclusive mode")
            .execute(&mut lock)
            .await
            .expect("the lock");
        let mut holders = Vec::new();
        while app.ctx.intake.waiting() == 0 {
            holders.extend(spawn_orders(app, &[(client.clone(), service, None)]));
            let stuck = i64::try_from(holders.len()).expect("a few");
            for _ in 0..1000 {
                let waiting_on_lock: i64 = sqlx::query_scalar(
                    "select count(*) from pg_stat_activity
                     where datname = current_database() and wait_event_type = 'Lock'",
                )
                .fetch_one(&mut lock)
                .await
                .expect("the activity");
                if waiting_on_lock == stuck || app.ctx.intake.waiting() > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        Self { lock, holders }
    }

    /// Lets the held orders through: returns how many there were, once all are placed.
    async fn release(mut self) -> usize {
        sqlx::query("rollback")
            .execute(&mut self.lock)
            .await
            .expect("the lock is released");
        let held = self.holders.len();
        for answer in join(self.holders).await {
            answer.expect("a held order is placed");
        }
        held
    }
}

//! Placing orders, many in one statement: order creation is the API's hot path, and most of what PostgreSQL
//! spends on one order (the round trip, the statement's triggers, the commit and its WAL flush) is the same for a
//! batch of them. Orders that arrive while earlier ones are being placed wait in a queue; whenever one of a few
//! slots is free, everything queued so far (up to [`MAX_BATCH`]) goes to the database as one statement, and each
//! order's caller gets its own answer once it has committed. An order that arrives while nothing is queued goes
//! at once, alone: batching adds no wait of its own.
//!
//! Every order of a batch is judged on its own (its service, its worker), as if placed alone, and an order that
//! cannot be placed does not hold the others back. When a batch's statement fails as a whole (which one order
//! alone should not make it do), nothing of it was written, and each order is placed again on its own, so that
//! only the order at fault gets the error. Orders auto-assigned in the same batch see the workers' loads as they
//! were before it, as orders placed concurrently one by one would.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{
    super::{
        Context, Error, Result,
        events::{EventSink, FeedEvent},
        notifications::NewEvent,
        parse_column, watermark,
    },
    summary,
};
use crate::models::{NotificationKind, Order, UserSummary};

/// The most orders placed by one statement.
const MAX_BATCH: usize = 64;
/// Statements placing orders at once: while one runs, the next batch gathers. Measured at 64 orders in flight
/// (`bench --phases rest`): one or two gave about 4 000 orders/s, four 3 500, eight 2 800 (smaller batches).
const SLOTS: usize = 2;
/// Orders that may wait for a slot before a caller waits to join the queue.
const QUEUE: usize = 4096;

/// One order to place: its client, its service, the worker asked for (`None`: the least busy) and its
/// description (already checked).
pub struct Placement {
    pub client: UserSummary,
    pub service_id: i64,
    pub worker_id: Option<i64>,
    pub description: String,
}

/// An order waiting to be placed, and where its answer goes.
type Waiting = (Placement, oneshot::Sender<Result<Order>>);

/// The queue of orders to place. Cheap to share; the task that places them starts with the first order, with
/// that order's context's database and live feed.
#[derive(Default)]
pub struct Intake {
    queue: OnceLock<mpsc::Sender<Waiting>>,
}

impl Intake {
    /// Orders waiting for a free slot.
    pub fn waiting(&self) -> usize {
        self.queue
            .get()
            .map_or(0, |queue| queue.max_capacity() - queue.capacity())
    }

    /// Places one order, with whichever others are waiting, and returns it once committed.
    pub async fn place(&self, ctx: &Context, placement: Placement) -> Result<Order> {
        let queue = self.queue.get_or_init(|| {
            let (queue, waiting) = mpsc::channel(QUEUE);
            tokio::spawn(gather(ctx.db.clone(), ctx.events.clone(), waiting));
            queue
        });
        let (answer, answered) = oneshot::channel();
        queue
            .send((placement, answer))
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("the order intake has stopped")))?;
        answered.await.map_err(|_| {
            Error::Internal(anyhow::anyhow!("the order's batch ended without an answer"))
        })?
    }
}

/// Takes everything waiting whenever a slot is free, and places it as one batch.
async fn gather(
    db: sqlx::PgPool,
    events: Arc<dyn EventSink>,
    mut waiting: mpsc::Receiver<Waiting>,
) {
    let slots = Arc::new(Semaphore::new(SLOTS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = waiting.recv().await else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (db, events) = (db.clone(), events.clone());
        tokio::spawn(async move {
            place_batch(&db, &*events, batch).await;
            drop(slot);
        });
    }
}

/// Places a batch and answers each of its orders; if the statement fails as a whole, each order alone.
async fn place_batch(db: &sqlx::PgPool, events: &dyn EventSink, batch: Vec<Waiting>) {
    let (placements, answers): (Vec<Placement>, Vec<_>) = batch.into_iter().unzip();
    match insert(db, &placements).await {
        Ok(placed) => answer(events, placements, answers, placed),
        Err(e) if placements.len() == 1 => {
            if let Some(answer) = answers.into_iter().next() {
                let _ = answer.send(Err(e));
            }
        }
        Err(e) => {
            tracing::warn!(
                orders = placements.len(),
                "A batch of orders failed as a whole, placing each alone: {e}"
            );
            for (placement, reply) in placements.into_iter().zip(answers) {
                match insert(db, std::slice::from_ref(&placement)).await {
                    Ok(placed) => answer(events, vec![placement], vec![reply], placed),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
        }
    }
}

/// What the statement found or wrote for one order of a batch.
struct Placed {
    service_name: Option<String>,
    price: Option<i64>,
    worker_id: Option<i64>,
    worker_username: Option<String>,
    worker_full_name: Option<String>,
    order_id: Option<i64>,
    status: Option<String>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    event_id: Option<i64>,
    event_at: Option<DateTime<Utc>>,
    event_data: Option<serde_json::Value>,
}

/// One statement (one round trip, one implicit transaction): for each order, find the service and the worker,
/// insert the order and its event. The events take the feed's shared lock before their ids, as
/// `notifications::record` does. Returns one row per placement, in their order.
async fn insert(db: &sqlx::PgPool, placements: &[Placement]) -> Result<Vec<Placed>> {
    let clients: Vec<i64> = placements.iter().map(|p| p.client.id).collect();
    let services: Vec<i64> = placements.iter().map(|p| p.service_id).collect();
    let workers: Vec<Option<i64>> = placements.iter().map(|p| p.worker_id).collect();
    let descriptions: Vec<&str> = placements.iter().map(|p| p.description.as_str()).collect();
    let rows = sqlx::query_as!(
        Placed,
        r#"
        with input as (
            select i.n, i.client_id, i.service_id, i.worker_id, i.description,
                   nextval('orders_id_seq') as order_id
            from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[])
                with ordinality as i(client_id, service_id, worker_id, description, n)
        ), checked as (
            select input.n, input.order_id, input.client_id, input.description, input.service_id,
                   svc.name, svc.price, wk.id as worker_id, wk.username, wk.full_name,
                   svc.id is not null and (input.worker_id is null or wk.id is not null) as ok
            from input
            left join services svc on svc.id = input.service_id and svc.is_active
            left join lateral (
                select u.id, u.username, u.full_name
                from service_workers sw join users u on u.id = sw.worker_id
                where sw.service_id = svc.id and u.role = 'worker' and u.is_active
                  and (input.worker_id is null or u.id = input.worker_id)
                order by case when input.worker_id is null then
                    (select count(*) from orders o
                     where o.worker_id = u.id and o.status in ('pending', 'paid', 'in_process')) end,
                    u.id
                limit 1
            ) wk on true
        ), placed as (
            insert into orders (id, client_id, worker_id, service_id, price, description)
            select order_id, client_id, worker_id, service_id, price, description from checked where ok order by n
            returning id, status, created_at, updated_at
        ), feed_lock as (
            select pg_advisory_xact_lock_shared($5)
        ), event as (
            insert into notifications (order_id, kind, actor_id, client_id, worker_id, data)
            select placed.id, 'order_created', c.client_id, c.client_id, c.worker_id,
                   jsonb_build_object('status', 'pending', 'service_id', c.service_id, 'worker_id', c.worker_id)
            from placed join checked c on c.order_id = placed.id, feed_lock
            order by placed.id
            returning id, order_id, created_at, data
        )
        select c.name as "service_name?", c.price as "price?",
               c.worker_id as "worker_id?", c.username as "worker_username?", c.full_name as "worker_full_name?",
               placed.id as "order_id?", placed.status as "status?",
               placed.created_at as "created_at?", placed.updated_at as "updated_at?",
               event.id as "event_id?", event.created_at as "event_at?", event.data as "event_data?"
        from checked c
        left join placed on placed.id = c.order_id
        left join event on event.order_id = c.order_id
        order by c.n
        "#,
        &clients,
        &services,
        &workers as &[Option<i64>],
        &descriptions as &[&str],
        watermark::EVENT_LOCK
    )
    .fetch_all(db)
    .await?;
    if rows.len() != placements.len() {
        return Err(Error::Internal(anyhow::anyhow!(
            "{} orders to place, {} answers",
            placements.len(),
            rows.len()
        )));
    }
    Ok(rows)
}

/// Answers each order of a committed batch, after handing its events to the live feed in id order.
fn answer(
    events: &dyn EventSink,
    placements: Vec<Placement>,
    answers: Vec<oneshot::Sender<Result<Order>>>,
    placed: Vec<Placed>,
) {
    let mut committed = Vec::new();
    let results: Vec<Result<Order>> = placements
        .into_iter()
        .zip(placed)
        .map(|(placement, row)| {
            let (order, event) = order_of(placement, row)?;
            committed.extend(event.map(|e| e.with_order(&order)));
            Ok(order)
        })
        .collect();
    // An event that could not be framed (none in `committed` for its order) is read back by the feed, which an
    // empty hand-over asks for.
    if results.iter().any(Result::is_ok) {
        committed.sort_by_key(|e| e.id);
        events.committed(committed);
    }
    for (result, reply) in results.into_iter().zip(answers) {
        if let Ok(order) = &result {
            tracing::info!(
                order.id = order.id,
                user.id = order.client_id,
                "Client {} placed order {}",
                order.client_id,
                order.id
            );
        }
        let _ = reply.send(result);
    }
}

/// One order's answer from its row, with its event as the feed sends it (`None`: it could not be framed, and the
/// feed reads it back).
fn order_of(placement: Placement, row: Placed) -> Result<(Order, Option<FeedEvent>)> {
    let (Some(service_name), Some(price)) = (row.service_name, row.price) else {
        return Err(Error::field("service_id", "No such service."));
    };
    let (Some(order_id), Some(status), Some(created_at), Some(updated_at)) =
        (row.order_id, row.status, row.created_at, row.updated_at)
    else {
        return Err(Error::field(
            "worker_id",
            "Not an active worker of this service.",
        ));
    };
    let (Some(event_id), Some(event_at), Some(event_data)) =
        (row.event_id, row.event_at, row.event_data)
    else {
        return Err(Error::Internal(anyhow::anyhow!(
            "order {order_id} was placed without its event"
        )));
    };
    let worker = summary(row.worker_id, row.worker_username, row.worker_full_name);
    let worker_id = worker.as_ref().map(|w| w.id);
    let event = NewEvent {
        order_id,
        kind: NotificationKind::OrderCreated,
        actor_id: Some(placement.client.id),
        client_id: placement.client.id,
        worker_id,
        data: event_data,
    };
    let order = Order {
        id: order_id,
        client_id: placement.client.id,
        worker_id,
        service_id: placement.service_id,
        service_name,
        price,
        status: parse_column(&status)?,
        description: placement.description,
        client: placement.client,
        worker,
        created_at,
        updated_at,
    };
    // The order is placed whatever happens here; an event that could not be framed is read back by the feed.
    Ok((order, event.stored(event_id, event_at).ok()))
}

//! Orders: placing one (with worker auto-assignment), scoped reads, the status machine, assignment.
//! Every change and the events it causes are written in one database transaction.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};

use super::{
    Actor, Error, FieldErrors, Result,
    context::{Context, Limits},
    events::FeedEvent,
    notifications::{self, NewEvent},
    page::{self, Slice, Window},
    parse_column, tallies,
};
use crate::models::{
    AssignInput, ChangeStatusInput, CreateOrderInput, NotificationKind, Order, OrderStatus, Role,
    UserSummary,
    status::{Party, Transition},
    validate,
};

mod placing;

pub use placing::{Intake, Placement};

/// A party's summary from the columns of an outer join (`None` when the join found nobody).
fn summary(
    id: Option<i64>,
    username: Option<String>,
    full_name: Option<String>,
) -> Option<UserSummary> {
    Some(UserSummary {
        id: id?,
        username: username?,
        full_name: full_name?,
    })
}

/// An order joined with its service's name and its parties' summaries.
struct OrderRow {
    id: i64,
    client_id: i64,
    worker_id: Option<i64>,
    service_id: i64,
    service_name: String,
    price: i64,
    status: String,
    description: String,
    client_username: String,
    client_full_name: String,
    worker_username: Option<String>,
    worker_full_name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<OrderRow> for Order {
    type Error = Error;

    fn try_from(r: OrderRow) -> Result<Self> {
        let worker = summary(r.worker_id, r.worker_username, r.worker_full_name);
        Ok(Self {
            id: r.id,
            client_id: r.client_id,
            worker_id: r.worker_id,
            service_id: r.service_id,
            service_name: r.service_name,
            price: r.price,
            status: parse_column(&r.status)?,
            description: r.description,
            client: UserSummary {
                id: r.client_id,
                username: r.client_username,
                full_name: r.client_full_name,
            },
            worker,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// One order if `actor` may see it: admins all, clients their own, workers those assigned to them.
pub async fn fetch_visible(db: impl sqlx::PgExecutor<'_>, actor: &Actor, id: i64) -> Result<Order> {
    sqlx::query_as!(
        OrderRow,
        r#"
        select o.id, o.client_id, o.worker_id, o.service_id, s.name as service_name, o.price, o.status,
               o.description, o.created_at, o.updated_at,
               c.username as client_username, c.full_name as client_full_name,
               w.username as "worker_username?", w.full_name as "worker_full_name?"
        from orders o
        join services s on s.id = o.service_id
        join users c on c.id = o.client_id
        left join users w on w.id = o.worker_id
        where o.id = $1
          and ($3 = 'admin' or ($3 = 'client' and o.client_id = $2) or ($3 = 'worker' and o.worker_id = $2))
        "#,
        id,
        actor.id,
        actor.role.as_str()
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound)?
    .try_into()
}

/// The list filters (`GET /api/v1/orders`).
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub service_id: Option<i64>,
    /// Admins only: the orders of one client.
    pub client_id: Option<i64>,
    /// Admins only: the orders of one worker.
    pub worker_id: Option<i64>,
}

/// The orders `actor` may see, newest first.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    filter: OrderFilter,
    window: Window,
) -> Result<Slice<Order>> {
    let db = &ctx.db;
    let known = known_count(db, actor, filter).await?;
    page::counted_from_nearer_end(window, known, |window, from_tail| {
        list_page(db, actor, filter, window, from_tail, known)
    })
    .await?
    .try_map(Order::try_from)
}

/// The number of orders an admin's list shows, from the tallies, when its filter is one they keep (none, a
/// service, each with or without a status); `None` otherwise (the list then counts its rows: one client's orders,
/// from the index that matches their filter, or one worker's).
async fn known_count(db: &PgPool, actor: &Actor, filter: OrderFilter) -> Result<Option<i64>> {
    if !actor.is_admin() || filter.client_id.is_some() || filter.worker_id.is_some() {
        return Ok(None);
    }
    let prefix = match filter.service_id {
        Some(service) => format!("orders_of_service:{service}:"),
        None => "orders:".to_owned(),
    };
    let status = filter.status.map(OrderStatus::as_str);
    let total = tallies::sum(db, &prefix, |rest| status.is_none_or(|s| s == rest)).await?;
    Ok(Some(total.n))
}

/// A page of [`list`] (read from the oldest end when `from_tail`), each row with the filter's total (`known`
/// where given).
async fn list_page(
    db: &PgPool,
    actor: &Actor,
    filter: OrderFilter,
    window: Window,
    from_tail: bool,
    known: Option<i64>,
) -> Result<Vec<(i64, OrderRow)>> {
    // One branch per role, each gated by a one-time filter on the role, so that even a cached generic plan reads
    // only the caller's scope, through its index ((client_id, id) or (worker_id, id)); Postgres pushes the
    // filters below into each branch. Each branch comes ordered (Postgres merges ordered branches, but cannot
    // pass an outer order into them), so a page stops after its rows; `hit_oldest_first` is `hit` ordered the
    // other way, for a page read from the far end (keep the two alike). The page is cut before the joins, and the
    // count runs only when no tally gave it.
    let mut tx = page::planned_for_its_parameters(db).await?;
    let records = sqlx::query!(
        r#"
        with hit as not materialized (
            select o.id from (
                (select id, status, service_id, client_id, worker_id from orders where $2 = 'admin' order by id desc)
                union all
                (select id, status, service_id, client_id, worker_id from orders
                 where $2 = 'client' and client_id = $1 order by id desc)
                union all
                (select id, status, service_id, client_id, worker_id from orders
                 where $2 = 'worker' and worker_id = $1 order by id desc)
            ) o
            where ($3::text is null or o.status = $3) and ($4::bigint is null or o.service_id = $4)
              and ($5::bigint is null or o.client_id = $5) and ($6::bigint is null or o.worker_id = $6)
        ), hit_oldest_first as not materialized (
            select o.id from (
                (select id, status, service_id, client_id, worker_id from orders where $2 = 'admin' order by id)
                union all
                (select id, status, service_id, client_id, worker_id from orders
                 where $2 = 'client' and client_id = $1 order by id)
                union all
                (select id, status, service_id, client_id, worker_id from orders
                 where $2 = 'worker' and worker_id = $1 order by id)
            ) o
            where ($3::text is null or o.status = $3) and ($4::bigint is null or o.service_id = $4)
              and ($5::bigint is null or o.client_id = $5) and ($6::bigint is null or o.worker_id = $6)
        ), page as (
            (select id from hit where not $9 order by id desc limit $7 offset $8)
            union all
            (select id from hit_oldest_first where $9 order by id asc limit $7 offset $8)
        )
        select coalesce($10::bigint, (select count(*) from hit)) as "total!",
               o.id, o.client_id, o.worker_id, o.service_id, s.name as service_name, o.price, o.status,
               o.description, o.created_at, o.updated_at,
               c.username as client_username, c.full_name as client_full_name,
               w.username as "worker_username?", w.full_name as "worker_full_name?"
        from page
        join orders o on o.id = page.id
        join services s on s.id = o.service_id
        join users c on c.id = o.client_id
        left join users w on w.id = o.worker_id
        order by case when $9 then o.id end, o.id desc
        "#,
        actor.id,
        actor.role.as_str(),
        filter.status.map(OrderStatus::as_str),
        filter.service_id,
        filter.client_id,
        filter.worker_id,
        window.limit,
        window.offset,
        from_tail,
        known
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(page::counted_rows!(records => OrderRow {
        id, client_id, worker_id, service_id, service_name, price, status, description, client_username,
        client_full_name, worker_username, worker_full_name, created_at, updated_at
    }))
}

/// Whether `worker_id` is an active worker of `service_id`; returns their summary.
async fn service_worker(
    tx: &mut Transaction<'_, Postgres>,
    service_id: i64,
    worker_id: i64,
) -> Result<Option<UserSummary>> {
    Ok(sqlx::query_as!(
        UserSummary,
        r#"
        select u.id, u.username, u.full_name from service_workers sw join users u on u.id = sw.worker_id
        where sw.service_id = $1 and sw.worker_id = $2 and u.role = 'worker' and u.is_active
        "#,
        service_id,
        worker_id
    )
    .fetch_optional(&mut **tx)
    .await?)
}

/// A client places an order. `price` is copied from the service. A chosen worker must be an active worker of the
/// service; with none chosen, the active worker of the service with the fewest open orders gets it (lowest id on
/// a tie), or it stays unassigned if the service has none. A client may place [`Limits::orders_per_minute`].
pub async fn create(ctx: &Context, actor: &Actor, input: CreateOrderInput) -> Result<Order> {
    actor.require(Role::Client)?;
    ctx.limiter
        .hit(
            &format!("order:{}", actor.id),
            ctx.limits.orders_per_minute,
            Limits::MINUTE,
        )
        .await?;
    let description = input.description.unwrap_or_default().trim().to_owned();
    let mut errors = FieldErrors::default();
    errors.check("description", validate::max_text(&description, 5000));
    errors.finish()?;

    ctx.intake
        .place(
            ctx,
            Placement {
                client: actor.summary(),
                service_id: input.service_id,
                worker_id: input.worker_id,
                description,
            },
        )
        .await
}

/// The facts of an order needed to judge a change, read with its row locked.
pub struct LockedOrder {
    pub id: i64,
    pub client_id: i64,
    pub worker_id: Option<i64>,
    pub status: OrderStatus,
    pub price: i64,
}

/// Locks an order for a change, if `actor` may see it (`None` actor: the system, e.g. a payment).
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    actor: Option<&Actor>,
    id: i64,
) -> Result<LockedOrder> {
    // The system (a payment) sees every order, as an admin does.
    let (viewer, role) = actor.map_or((0, Role::Admin), |a| (a.id, a.role));
    let row = sqlx::query!(
        r#"
        select id, client_id, worker_id, status, price from orders
        where id = $1 and ($3 = 'admin' or ($3 = 'client' and client_id = $2) or ($3 = 'worker' and worker_id = $2))
        for update
        "#,
        id,
        viewer,
        role.as_str()
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(LockedOrder {
        id: row.id,
        client_id: row.client_id,
        worker_id: row.worker_id,
        status: parse_column(&row.status)?,
        price: row.price,
    })
}

/// Moves a locked order to `to` as `party`, recording the event. Returns the event, or `None` if nothing changed.
pub async fn transition(
    tx: &mut Transaction<'_, Postgres>,
    order: &LockedOrder,
    to: OrderStatus,
    party: Party,
    actor_id: Option<i64>,
) -> Result<Option<FeedEvent>> {
    match order.status.transition(to, party) {
        Transition::Unchanged => return Ok(None),
        Transition::Invalid => {
            return Err(Error::InvalidTransition {
                from: order.status,
                to,
            });
        }
        Transition::Forbidden => return Err(Error::PermissionDenied),
        Transition::Allowed => {}
    }
    // A payment in progress reserves a pending order (`shared/PAYMENTS.md`, the decisions at its top): only the
    // payment itself may move it (to paid, or back through a refund), so nobody cancels it or takes cash for it
    // meanwhile.
    if order.status == OrderStatus::Pending && party != Party::Payment {
        let reserved = sqlx::query_scalar!(
            r#"select exists (select 1 from transactions where order_id = $1 and status = 'processing') as "r!""#,
            order.id
        )
        .fetch_one(&mut **tx)
        .await?;
        if reserved {
            return Err(Error::Conflict(
                "A payment in progress reserves this order; it cannot change status now."
                    .to_owned(),
            ));
        }
    }
    sqlx::query!(
        r#"update orders set status = $2 where id = $1"#,
        order.id,
        to.as_str()
    )
    .execute(&mut **tx)
    .await?;
    let event = notifications::record(
        tx,
        NewEvent {
            order_id: order.id,
            kind: NotificationKind::OrderStatusChanged,
            actor_id,
            client_id: order.client_id,
            worker_id: order.worker_id,
            data: json!({ "from": order.status, "to": to }),
        },
    )
    .await?;
    Ok(Some(event))
}

/// A party of the order moves it through the status machine (API.md's table). The same status again is a no-op.
pub async fn change_status(
    ctx: &Context,
    actor: &Actor,
    id: i64,
    input: ChangeStatusInput,
) -> Result<Order> {
    let mut tx = ctx.db.begin().await?;
    let order = lock(&mut tx, Some(actor), id).await?;
    let changed = transition(
        &mut tx,
        &order,
        input.status,
        Party::of(actor.role),
        Some(actor.id),
    )
    .await?;
    tx.commit().await?;
    let moved = fetch_visible(&ctx.db, actor, id).await;
    if let Some(event) = changed {
        // The frame carries the order as moved, so that a list of its new status shows it without reading it.
        ctx.events.committed(vec![match &moved {
            Ok(order) => event.with_order(order),
            Err(_) => event,
        }]);
        tracing::info!(
            order.id = id,
            user.id = actor.id,
            "Order {id} moved from {} to {}",
            order.status,
            input.status
        );
    }
    moved
}

/// An admin (re)assigns an open order to an active worker of its service.
pub async fn assign(ctx: &Context, actor: &Actor, id: i64, input: AssignInput) -> Result<Order> {
    actor.require_admin()?;
    let db = &ctx.db;
    let mut tx = db.begin().await?;
    let order = lock(&mut tx, Some(actor), id).await?;
    let service_id = sqlx::query_scalar!(r#"select service_id from orders where id = $1"#, id)
        .fetch_one(&mut *tx)
        .await?;
    if service_worker(&mut tx, service_id, input.worker_id)
        .await?
        .is_none()
    {
        return Err(Error::field(
            "worker_id",
            "Not an active worker of this order's service.",
        ));
    }
    if order.worker_id == Some(input.worker_id) {
        return fetch_visible(db, actor, id).await;
    }
    if order.status.is_terminal() {
        return Err(Error::Conflict(format!(
            "A {} order cannot be reassigned.",
            order.status
        )));
    }
    sqlx::query!(
        r#"update orders set worker_id = $2 where id = $1"#,
        id,
        input.worker_id
    )
    .execute(&mut *tx)
    .await?;
    let event = notifications::record(
        &mut tx,
        NewEvent {
            order_id: id,
            kind: NotificationKind::OrderAssigned,
            actor_id: Some(actor.id),
            client_id: order.client_id,
            worker_id: Some(input.worker_id),
            data: json!({ "from": order.worker_id, "to": input.worker_id }),
        },
    )
    .await?;
    tx.commit().await?;
    // The frame carries the order as reassigned, so that a list it enters shows it without reading it.
    let assigned = fetch_visible(db, actor, id).await;
    ctx.events.committed(vec![match &assigned {
        Ok(order) => event.with_order(order),
        Err(_) => event,
    }]);
    tracing::info!(
        order.id = id,
        worker.id = input.worker_id,
        "Order {id} assigned to worker {}",
        input.worker_id
    );
    assigned
}

/// Every event of an order the caller may see, oldest first.
pub async fn timeline(
    ctx: &Context,
    actor: &Actor,
    id: i64,
    window: Window,
) -> Result<Slice<crate::models::Notification>> {
    fetch_visible(&ctx.db, actor, id).await?;
    notifications::of_order(&ctx.db, actor, id, window).await
}

/// One order the caller may see.
pub async fn get(ctx: &Context, actor: &Actor, id: i64) -> Result<Order> {
    fetch_visible(&ctx.db, actor, id).await
}

//! Order events: written in the same database transaction as the change they describe, read back as each
//! user's role-scoped feed with per-user read state.
//!
//! Visibility: an admin sees every event; a client the events of its orders; a worker the events whose
//! `worker_id` is theirs (the orders assigned to them at the time, including the event that assigned them). The
//! rule is written once, as the SQL function `visible_notifications(role, user_id)` (migration
//! `20261124000008_visible_notifications`), and every read of a user's feed selects from it.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{PgPool, Postgres, Transaction};

use super::{
    Actor, Error, Result,
    context::Context,
    events::{FeedEvent, NotificationRow},
    page::{self, Slice, Window},
    tallies, watermark,
};
use crate::models::{Notification, NotificationKind, UnreadCount};

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub order_id: i64,
    pub kind: NotificationKind,
    pub actor_id: Option<i64>,
    /// The order's client (always in the audience).
    pub client_id: i64,
    /// The worker in the audience, if any.
    pub worker_id: Option<i64>,
    pub data: serde_json::Value,
}

/// Records an event inside the caller's transaction and returns it as the feed sends it. It becomes visible (and
/// is pushed live) only when that transaction commits. The shared [`watermark::EVENT_LOCK`] is taken before the id is,
/// and held until the transaction ends, which is what lets readers find a stable watermark (see [`watermark`]).
pub async fn record(tx: &mut Transaction<'_, Postgres>, event: NewEvent) -> Result<FeedEvent> {
    let stored = sqlx::query!(
        r#"
        with lock as (select pg_advisory_xact_lock_shared($7))
        insert into notifications (order_id, kind, actor_id, client_id, worker_id, data)
        select $1, $2, $3, $4, $5, $6 from lock returning id, created_at
        "#,
        event.order_id,
        event.kind.as_str(),
        event.actor_id,
        event.client_id,
        event.worker_id,
        event.data,
        watermark::EVENT_LOCK
    )
    .fetch_one(&mut **tx)
    .await?;
    event.stored(stored.id, stored.created_at)
}

impl NewEvent {
    /// The event as the feed sends it, once stored with `id` at `created_at`.
    pub fn stored(self, id: i64, created_at: DateTime<Utc>) -> Result<FeedEvent> {
        let row = NotificationRow {
            id,
            kind: self.kind.as_str().to_owned(),
            order_id: self.order_id,
            actor_id: self.actor_id,
            data: self.data,
            read: false,
            created_at,
        };
        FeedEvent::new(row, self.client_id, self.worker_id)
    }
}

/// The feed's filters (`GET /api/v1/notifications`).
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedFilter {
    /// Only unread ones.
    #[serde(default)]
    pub unread: Option<bool>,
    pub kind: Option<NotificationKind>,
    pub order_id: Option<i64>,
    /// Only ids above this, oldest first (catching up after a disconnect).
    pub after_id: Option<i64>,
}

/// The caller's feed: newest first, or oldest first after `after_id`. A catch-up read (`after_id`) stops at the
/// stable watermark, so an event still committing with a lower id cannot be skipped by the next catch-up.
pub async fn feed(
    ctx: &Context,
    actor: &Actor,
    filter: FeedFilter,
    window: Window,
) -> Result<Slice<Notification>> {
    let db = &ctx.db;
    let upto = match filter.after_id {
        Some(_) => Some(watermark::stable_watermark(db).await?),
        None => None,
    };
    let known = known_count(ctx, actor, filter).await?;
    page::counted_from_nearer_end(window, known, |window, from_tail| {
        feed_page(db, actor, filter, upto, window, from_tail, known)
    })
    .await?
    .try_map(Notification::try_from)
}

/// The size of the feed from what is maintained, when the filter is one it answers: an admin's with none, a kind,
/// or unread alone (the tallies); a client's or a worker's with none (their feed's size). `None` otherwise (the
/// feed then counts its rows: one order's, those after an id, a client's of one kind through their own index).
async fn known_count(ctx: &Context, actor: &Actor, filter: FeedFilter) -> Result<Option<i64>> {
    if filter.order_id.is_some() || filter.after_id.is_some() {
        return Ok(None);
    }
    let unread = filter.unread.unwrap_or(false);
    if !actor.is_admin() {
        return Ok(match (unread, filter.kind) {
            (false, None) => Some(feed_size(&ctx.db, actor).await?),
            _ => None,
        });
    }
    Ok(match (unread, filter.kind) {
        (true, None) => Some(unread_count(ctx, actor).await?.count),
        (true, Some(_)) => None,
        (false, kind) => {
            let kind = kind.map(NotificationKind::as_str);
            let total = tallies::sum(&ctx.db, "notifications:", |rest| {
                kind.is_none_or(|k| k == rest)
            })
            .await?;
            Some(total.n)
        }
    })
}

/// How many events a client's or a worker's feed holds: those rolled up into `feed_sizes` (up to its mark, see
/// [`tallies::roll_up_feed_sizes`]) and theirs above the mark, read from their index, in one statement (one
/// snapshot, so a roll-up is seen whole or not at all).
async fn feed_size(db: &PgPool, actor: &Actor) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"
        select coalesce((select n from feed_sizes where side = $1 and user_id = $2), 0)
             + (select count(*) from notifications n
                where $1 = 'client' and n.client_id = $2 and n.id > (select upto from feed_sizes_mark))
             + (select count(*) from notifications n
                where $1 = 'worker' and n.worker_id = $2 and n.id > (select upto from feed_sizes_mark))
            as "n!"
        "#,
        actor.role.as_str(),
        actor.id
    )
    .fetch_one(db)
    .await?)
}

/// A page of [`feed`] up to `upto`, each row with the filter's total (`known` where given). The feed's order is
/// newest first, or oldest first after `after_id`; `from_tail` reads it from its other end.
async fn feed_page(
    db: &PgPool,
    actor: &Actor,
    filter: FeedFilter,
    upto: Option<i64>,
    window: Window,
    from_tail: bool,
    known: Option<i64>,
) -> Result<Vec<(i64, NotificationRow)>> {
    let oldest_first = filter.after_id.is_some() != from_tail;
    // The page's ids are read in one of two gated branches, each from the twin of `visible_notifications` ordered
    // its way, so both merge the viewer's branch down its index (index only, when no filter needs the row) and stop
    // after the page; the rows are fetched for those ids alone, and the count runs only when no tally gave it. The
    // read mark is a scalar, so the unread filter's bound reaches that index too.
    let mut tx = page::planned_for_its_parameters(db).await?;
    let records = sqlx::query!(
        r#"
        with mark as materialized (
            select notifications_read_upto as upto from users where id = $1
        ), hit as not materialized (
            select n.id from visible_notifications($2, $1) n
            where ($3::text is null or n.kind = $3)
              and ($4::bigint is null or n.order_id = $4)
              and ($5::bigint is null or n.id > $5)
              and (not $6 or (n.id > (select upto from mark) and not exists (
                  select 1 from notification_reads r where r.user_id = $1 and r.notification_id = n.id)))
              and ($9::bigint is null or n.id <= $9)
        ), hit_oldest_first as not materialized (
            -- `hit` again, from the twin ordered oldest first: keep the two filters the same.
            select n.id from visible_notifications_oldest_first($2, $1) n
            where ($3::text is null or n.kind = $3)
              and ($4::bigint is null or n.order_id = $4)
              and ($5::bigint is null or n.id > $5)
              and (not $6 or (n.id > (select upto from mark) and not exists (
                  select 1 from notification_reads r where r.user_id = $1 and r.notification_id = n.id)))
              and ($9::bigint is null or n.id <= $9)
        ), page as (
            (select id from hit where not $10 order by id desc limit $7 offset $8)
            union all
            (select id from hit_oldest_first where $10 order by id asc limit $7 offset $8)
        )
        select coalesce($11::bigint, (select count(*) from hit)) as "total!",
               n.id, n.kind, n.order_id, n.actor_id, n.data, n.created_at,
               (n.id <= (select upto from mark) or coalesce((
                   select true from notification_reads r where r.user_id = $1 and r.notification_id = n.id), false))
               as "read!"
        from page p join notifications n on n.id = p.id
        order by case when $10 then n.id end, n.id desc
        "#,
        actor.id,
        actor.role.as_str(),
        filter.kind.map(NotificationKind::as_str),
        filter.order_id,
        filter.after_id,
        filter.unread.unwrap_or(false),
        window.limit,
        window.offset,
        upto,
        oldest_first,
        known
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(
        page::counted_rows!(records => NotificationRow { id, kind, order_id, actor_id, data, read, created_at }),
    )
}

/// Every event of one order, oldest first, with the viewer's read state. The caller has checked that the
/// order is visible to `viewer`.
pub async fn of_order(
    db: &PgPool,
    viewer: &Actor,
    order_id: i64,
    window: Window,
) -> Result<Slice<Notification>> {
    page::counted(window, |window| order_page(db, viewer, order_id, window))
        .await?
        .try_map(Notification::try_from)
}

/// A page of [`of_order`], each row with the order's number of events.
async fn order_page(
    db: &PgPool,
    viewer: &Actor,
    order_id: i64,
    window: Window,
) -> Result<Vec<(i64, NotificationRow)>> {
    let records = sqlx::query!(
        r#"
        -- The read state as a scalar subquery: `exists` lets a generic plan hash every read of the viewer instead.
        with hit as not materialized (select * from notifications where order_id = $2)
        select (select count(*) from hit) as "total!", h.id, h.kind, h.order_id, h.actor_id, h.data, h.created_at,
               (h.id <= u.notifications_read_upto or coalesce((
                   select true from notification_reads r where r.user_id = $1 and r.notification_id = h.id), false))
               as "read!"
        from hit h join users u on u.id = $1
        order by h.id asc limit $3 offset $4
        "#,
        viewer.id,
        order_id,
        window.limit,
        window.offset
    )
    .fetch_all(db)
    .await?;
    Ok(
        page::counted_rows!(records => NotificationRow { id, kind, order_id, actor_id, data, read, created_at }),
    )
}

/// One page of the caller's feed in `(after, upto]`, oldest first, with read state: the live socket's replay,
/// which pages by cursor and needs no count.
pub async fn replay_page(
    db: &PgPool,
    actor: &Actor,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<Notification>> {
    let rows = sqlx::query_as!(
        NotificationRow,
        r#"
        select n.id as "id!", n.kind as "kind!", n.order_id as "order_id!", n.actor_id, n.data as "data!",
               n.created_at as "created_at!",
               (n.id <= u.notifications_read_upto or coalesce((
                   select true from notification_reads r where r.user_id = $1 and r.notification_id = n.id), false))
               as "read!"
        from visible_notifications($2, $1) n join users u on u.id = $1
        where n.id > $3 and n.id <= $4
        order by n.id limit $5
        "#,
        actor.id,
        actor.role.as_str(),
        after,
        upto,
        limit
    )
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Notification::try_from).collect()
}

/// The newest id of the caller's feed at or below `upto` (0 when the feed is empty).
pub async fn last_visible_id(db: &PgPool, actor: &Actor, upto: i64) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"
        select coalesce(max(n.id), 0) as "id!" from visible_notifications($2, $1) n where n.id <= $3
        "#,
        actor.id,
        actor.role.as_str(),
        upto
    )
    .fetch_one(db)
    .await?)
}

/// How many of the caller's notifications are unread. An admin's is counted from the tallies (every
/// notification, less those at or below the read mark, less those marked read one by one above it, both kept with
/// the user); a client's or a worker's from their own notifications above the mark.
pub async fn unread_count(ctx: &Context, actor: &Actor) -> Result<UnreadCount> {
    let db = &ctx.db;
    let count = if actor.is_admin() {
        sqlx::query_scalar!(
            r#"
            select (select coalesce(sum(n), 0) from tally_values('notifications:'))::bigint
                   - u.notifications_read_ordinal - u.notifications_read_above as "n!"
            from users u where u.id = $1
            "#,
            actor.id
        )
        .fetch_optional(db)
        .await?
        .unwrap_or(0)
    } else {
        sqlx::query_scalar!(
            r#"
            select count(*) as "n!" from visible_notifications($2, $1) n
            -- The read mark as a scalar, so the bound reaches each branch's index (a join would not push it down).
            where n.id > (select notifications_read_upto from users where id = $1)
              and not exists (select 1 from notification_reads r where r.user_id = $1 and r.notification_id = n.id)
            "#,
            actor.id,
            actor.role.as_str()
        )
        .fetch_one(db)
        .await?
    };
    Ok(UnreadCount { count })
}

/// The most ids one request may mark read.
pub const MAX_MARK_READ: usize = 1000;

/// Marks some of the caller's notifications read (at most [`MAX_MARK_READ`]); ids that are not in the caller's
/// feed are ignored. Returns the ids that were visible, and tells every socket of the caller's of them except
/// `origin` (the socket that asked, which knows).
pub async fn mark_read(
    ctx: &Context,
    actor: &Actor,
    ids: &[i64],
    origin: Option<u64>,
) -> Result<Vec<i64>> {
    if ids.len() > MAX_MARK_READ {
        return Err(Error::BadRequest {
            code: "too_many_ids",
            detail: format!("Mark at most {MAX_MARK_READ} ids at once."),
        });
    }
    let marked = sqlx::query_scalar!(
        r#"
        with visible as (
            select n.id from visible_notifications($2, $1) n where n.id = any($3)
        ), marked as (
            insert into notification_reads (user_id, notification_id)
            select $1, id from visible on conflict do nothing
        )
        select id as "id!" from visible order by id
        "#,
        actor.id,
        actor.role.as_str(),
        ids
    )
    .fetch_all(&ctx.db)
    .await?;
    announce_read(ctx, actor, &marked, origin);
    Ok(marked)
}

/// Tells the caller's sockets (on every instance) that `ids` became read, in frames of at most
/// [`MAX_MARK_READ`] ids.
fn announce_read(ctx: &Context, actor: &Actor, ids: &[i64], origin: Option<u64>) {
    for chunk in ids.chunks(MAX_MARK_READ) {
        ctx.events.read(actor.id, chunk.to_vec(), origin);
    }
}

/// Marks one notification read (404 when it is not in the caller's feed).
pub async fn mark_one_read(ctx: &Context, actor: &Actor, id: i64) -> Result<()> {
    let marked = mark_read(ctx, actor, &[id], None).await?;
    if marked.is_empty() {
        Err(Error::NotFound)
    } else {
        Ok(())
    }
}

/// Marks every notification of the caller's feed read; returns the ids that were unread (for the `read` frame of
/// the caller's sockets) — their count is the REST answer's `updated`.
pub async fn read_all(ctx: &Context, actor: &Actor) -> Result<Vec<i64>> {
    let db = &ctx.db;
    // Only up to the stable watermark: an event still being committed below it must not be marked unseen. Read
    // before taking any row lock: waiting for the watermark while holding one could deadlock with an event
    // transaction that waits for that row.
    let stable = watermark::stable_watermark(db).await?;
    let mut tx = db.begin().await?;
    // Lock the user's row so two concurrent "read all" calls count each notification once. `no key update`
    // leaves the foreign-key checks of concurrent orders (`for key share`) unblocked.
    let upto = sqlx::query_scalar!(
        r#"select notifications_read_upto from users where id = $1 for no key update"#,
        actor.id
    )
    .fetch_one(&mut *tx)
    .await?;
    let ids = sqlx::query_scalar!(
        r#"
        select n.id as "id!" from visible_notifications($2, $1) n
        where n.id > $3 and n.id <= $4
          and not exists (select 1 from notification_reads r where r.user_id = $1 and r.notification_id = n.id)
        order by n.id
        "#,
        actor.id,
        actor.role.as_str(),
        upto,
        stable
    )
    .fetch_all(&mut *tx)
    .await?;
    if stable > upto {
        // The mark's ordinal (how many notifications have an id at or below it), in one snapshot: every id at or
        // below a stable watermark is committed, so it is the tally less the ones above the mark.
        sqlx::query!(
            r#"
            update users set notifications_read_upto = $2,
                notifications_read_ordinal = (select coalesce(sum(n), 0) from tally_values('notifications:'))::bigint
                    - (select count(*) from notifications where id > $2)
            where id = $1
            "#,
            actor.id,
            stable
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            r#"delete from notification_reads where user_id = $1 and notification_id <= $2"#,
            actor.id,
            stable
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    announce_read(ctx, actor, &ids, None);
    Ok(ids)
}

/// Renders the `message` of each notification in `locale` (stored events carry no sentence; it is made from
/// `kind` and `data` for each reader).
pub fn localize(items: &mut [Notification], locale: crate::i18n::Locale) {
    for n in items {
        n.message = crate::lang::notification(locale, n.kind, n.order_id, &n.data);
    }
}

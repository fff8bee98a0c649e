//! The live feed's ordering guarantee, written once for every transport.
//!
//! Notification ids come from a sequence, so two transactions can commit their ids out of order: id 11 may be
//! visible while id 10's transaction is still running. A reader that saw 11 and asks for "after 11" would then
//! never see 10. To rule that out, every transaction that records an event holds a *shared* advisory lock from
//! the moment it takes an id until it ends ([`notifications::record`](super::notifications::record) takes it),
//! and readers only ever read up to a **stable watermark**: the last id allocated at a moment when no such
//! transaction was running (found by briefly taking the same lock *exclusively*). Every id at or below it is
//! either committed or rolled back for good, so a feed read in id order up to it has no holes that could fill in
//! later.

use std::time::Duration;

use sqlx::PgPool;

use super::Result;

/// The advisory lock key event-recording transactions share ("TASKFEED" in ASCII).
pub const EVENT_LOCK: i64 = 0x5441_534B_4645_4544;

/// How long [`stable_watermark`] tries without blocking writers before it waits in line for the lock.
const POLITE_TRIES: u32 = 20;

/// The highest notification id below which no event can still appear. Normally takes microseconds; under a
/// sustained write load it waits (at most as long as the transactions then running) for a quiet instant.
pub async fn stable_watermark(db: &PgPool) -> Result<i64> {
    for _ in 0..POLITE_TRIES {
        if let Some(mark) = try_watermark(db, false).await? {
            return Ok(mark);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(try_watermark(db, true).await?.unwrap_or_default())
}

/// Takes the exclusive lock (waiting for it if `wait`) and reads the sequence while holding it: one statement, so
/// one round trip, and the lock ends with the statement's own transaction.
async fn try_watermark(db: &PgPool, wait: bool) -> Result<Option<i64>> {
    if wait {
        let mark = sqlx::query_scalar!(
            r#"
            with locked as (select pg_advisory_xact_lock($1))
            select (select case when is_called then last_value else 0 end from notifications_id_seq) as "mark!"
            from locked
            "#,
            EVENT_LOCK
        )
        .fetch_one(db)
        .await?;
        return Ok(Some(mark));
    }
    // The sequence is read in the CASE's branch, which runs only once the lock is held.
    Ok(sqlx::query_scalar!(
        r#"
        select case when pg_try_advisory_xact_lock($1)
                    then (select case when is_called then last_value else 0 end from notifications_id_seq)
               end as mark
        "#,
        EVENT_LOCK
    )
    .fetch_one(db)
    .await?)
}

/// A committed event as the live feed fans it out: its audience and its frame, serialized once for every socket.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    pub id: i64,
    pub client_id: i64,
    pub worker_id: Option<i64>,
    /// The JSON text of `{"type": "notification", "notification": {...}}` with `read: false`.
    pub frame: String,
}

/// Whether `viewer` may see an event with this audience — the rule the feed's queries apply in SQL: admins see
/// every event, a client those of its orders, a worker those that concern it.
pub fn audience_includes(viewer: &super::Actor, client_id: i64, worker_id: Option<i64>) -> bool {
    match viewer.role {
        crate::models::Role::Admin => true,
        crate::models::Role::Client => client_id == viewer.id,
        crate::models::Role::Worker => worker_id == Some(viewer.id),
    }
}

/// The events with ids in `(after, upto]`, oldest first, at most `limit`.
pub async fn events_between(
    db: &PgPool,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<FeedEvent>> {
    let rows = sqlx::query!(
        r#"
        select id, kind, order_id, actor_id, client_id, worker_id, data, created_at from notifications
        where id > $1 and id <= $2 order by id limit $3
        "#,
        after,
        upto,
        limit
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            let row = super::notifications::NotificationRow {
                id: r.id,
                kind: r.kind,
                order_id: r.order_id,
                actor_id: r.actor_id,
                data: r.data,
                read: false,
                created_at: r.created_at,
            };
            FeedEvent::new(row, r.client_id, r.worker_id)
        })
        .collect()
}

impl FeedEvent {
    /// The event of a stored notification row, with its audience; its frame is serialized here, once.
    pub fn new(
        row: super::notifications::NotificationRow,
        client_id: i64,
        worker_id: Option<i64>,
    ) -> Result<Self> {
        let id = row.id;
        let notification = crate::models::Notification::try_from(row)?;
        let frame =
            serde_json::to_string(&crate::models::ServerFrame::Notification { notification })
                .map_err(|e| super::Error::Internal(e.into()))?;
        Ok(Self {
            id,
            client_id,
            worker_id,
            frame,
        })
    }
}

/// Told after a transaction that recorded events has committed, so the live feed can pick them up at once.
pub trait EventSink: Send + Sync {
    /// Events were committed. `recorded` are the events the transaction recorded, in id order, when the caller has
    /// them at hand (the feed may then send them without reading them back); it is empty when it does not, and the
    /// feed reads what was committed from the database.
    fn committed(&self, recorded: Vec<FeedEvent>);

    /// A user's access changed (deactivated, role changed): their sockets close and cached access is dropped.
    fn access_changed(&self, user_id: i64) {
        let _ = user_id;
    }

    /// A user marked notifications read: every socket of theirs gets a `read` frame.
    fn read(&self, user_id: i64, ids: Vec<i64>) {
        let _ = (user_id, ids);
    }
}

/// For callers without a live feed (the CLI): events are still stored; nobody is told.
pub struct NoSink;

impl EventSink for NoSink {
    fn committed(&self, _recorded: Vec<FeedEvent>) {}
}

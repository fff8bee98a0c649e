//! The live feed's ordering guarantee, written once for every transport: the stable watermark.
//!
//! Notification ids come from a sequence, so two transactions can commit their ids out of order: id 11 may be
//! visible while id 10's transaction is still running. A reader that saw 11 and asks for "after 11" would then
//! never see 10. To rule that out, every transaction that records an event holds a *shared* advisory lock from
//! the moment it takes an id until it ends ([`record`](super::notifications::record) takes it),
//! and readers only ever read up to a **stable watermark**: the last id allocated at a moment when no such
//! transaction was running (found by briefly taking the same lock *exclusively*). Every id at or below it is
//! either committed or rolled back for good, so a feed read in id order up to it has no holes that could fill in
//! later.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

use super::{Result, context::Context};

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
    metrics::counter!("feed_watermark_waits_total").increment(1);
    Ok(try_watermark(db, true).await?.unwrap_or_default())
}

/// A stable watermark, without a lock where there is a live feed: what the relay has delivered (see
/// `EventSink::delivered`); else one read from the database ([`stable_watermark`]).
pub async fn current(ctx: &Context) -> Result<i64> {
    match ctx.events.delivered() {
        Some(mark) => Ok(mark),
        None => stable_watermark(&ctx.db).await,
    }
}

/// Takes the exclusive lock (waiting for it if `wait`) and reads the sequence while holding it: one statement, so
/// one round trip, and the lock ends with the statement's own transaction.
async fn try_watermark(db: &PgPool, wait: bool) -> Result<Option<i64>> {
    if wait {
        return Ok(Some(hold(&mut *db.acquire().await?).await?));
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

/// Takes the lock exclusively on `conn` (waiting for the events being recorded to commit) and returns the last id
/// allocated. Inside a transaction the lock is held until it ends, so no event is recorded meanwhile and a later
/// statement's snapshot holds exactly the events up to that id; outside one it ends with the statement.
pub async fn hold(conn: &mut PgConnection) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"
        with locked as (select pg_advisory_xact_lock($1))
        select (select case when is_called then last_value else 0 end from notifications_id_seq) as "mark!"
        from locked
        "#,
        EVENT_LOCK
    )
    .fetch_one(conn)
    .await?)
}

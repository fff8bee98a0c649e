//! The live feed's side of the domain: who may see an event (the audience rule the sockets apply), reading the
//! committed events in id order for the relay, and what the domain tells the feed after a commit ([`EventSink`]).
//! The ordering guarantee behind it is [`super::watermark`].

use sqlx::PgPool;

use super::{
    Result,
    events::{FeedEvent, NotificationRow},
};

/// Whether `viewer` may see an event with this audience: admins see every event, a client those whose `client_id`
/// is theirs, a worker those whose `worker_id` is theirs. It mirrors the SQL function `visible_notifications` (the
/// rule every read of the feed applies, migration `20261124000008_visible_notifications`) for the live socket,
/// which checks events that are not read back; the integration test
/// `notifications::the_socket_audience_rule_agrees_with_the_sql_visibility_function` proves that the two agree.
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
            let row = NotificationRow {
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

/// What a socket that opens needs to know from the database, read in one round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    /// The user is still active, in the role and session epoch the socket was authenticated with (a revocation
    /// broadcast between the authentication and the socket joining the feed would otherwise be missed).
    pub allowed: bool,
    /// Whether any of the viewer's notifications with an id in `(read_after, upto]` is read: below their read
    /// mark, or read one by one. False when `read_after` was not given.
    pub read_between: bool,
    /// The newest id of the viewer's feed at or below `upto`, when asked for.
    pub last_id: Option<i64>,
}

/// What socket of `viewer` opening at `upto` (its start) needs: whether they may still open it, whether a
/// catch-up from the relay's memory (whose frames say `read: false`) after `read_after` would be wrong because
/// one of those is read (the rule every read of the feed applies, [`super::notifications::replay_page`]; the
/// integration test `live::a_catch_up_from_memory_sends_the_frames_of_the_database_replay` proves the two agree),
/// and, if `want_last_id`, the newest id of their feed at or below `upto` (what
/// [`super::notifications::last_visible_id`] reads). One statement, so that every client reconnecting at once
/// costs the database one round trip each.
pub async fn opening(
    db: &PgPool,
    viewer: &super::Actor,
    read_after: Option<i64>,
    upto: i64,
    want_last_id: bool,
) -> Result<Opening> {
    let row = sqlx::query!(
        r#"
        select coalesce(u.role = $2 and u.session_epoch = $3, false) as "allowed!",
               coalesce($4::bigint is not null and (u.notifications_read_upto > $4 or exists (
                   select 1 from notification_reads r
                   where r.user_id = u.id and r.notification_id > $4 and r.notification_id <= $5)), false)
                   as "read_between!",
               case when $6 then (select coalesce(max(n.id), 0) from visible_notifications($2, $1) n
                                  where n.id <= $5) end as last_id
        from (select $1::bigint as id) me left join users u on u.id = me.id and u.is_active
        "#,
        viewer.id,
        viewer.role.as_str(),
        viewer.session_epoch,
        read_after,
        upto,
        want_last_id
    )
    .fetch_one(db)
    .await?;
    Ok(Opening {
        allowed: row.allowed,
        read_between: row.read_between,
        last_id: row.last_id,
    })
}

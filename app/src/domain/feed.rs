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
    /// Whether the viewer's feed has no event in the query's `gap` (true when none was given).
    pub gap_empty: bool,
}

/// What a socket of `viewer` opening at `upto` (its start) asks the database ([`openings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningQuery {
    pub viewer_id: i64,
    pub role: crate::models::Role,
    pub session_epoch: i64,
    /// Where its catch-up from the relay's memory would start, if it has one.
    pub read_after: Option<i64>,
    pub upto: i64,
    /// Whether the newest id of the viewer's feed at or below `upto` is needed.
    pub want_last_id: bool,
    /// `(after, floor)`: whether the viewer's feed has an event in `(after, floor]` is needed (a catch-up from the
    /// relay's memory that starts above `after`).
    pub gap: Option<(i64, i64)>,
}

impl OpeningQuery {
    /// The query of `viewer`'s socket: see [`Opening`] for what each part answers.
    pub fn new(
        viewer: &super::Actor,
        read_after: Option<i64>,
        upto: i64,
        want_last_id: bool,
    ) -> Self {
        Self {
            viewer_id: viewer.id,
            role: viewer.role,
            session_epoch: viewer.session_epoch,
            read_after,
            upto,
            want_last_id,
            gap: None,
        }
    }

    /// The same, also asking whether the viewer's feed is empty in `(after, floor]`.
    pub fn with_gap(self, gap: Option<(i64, i64)>) -> Self {
        Self { gap, ..self }
    }
}

/// What sockets opening need, each at its start: whether they may still open (the user active in the role and
/// session epoch the socket was authenticated with), whether a catch-up from the relay's memory (whose frames say
/// `read: false`) after `read_after` would be wrong because one of those is read (the rule every read of the feed
/// applies, [`super::notifications::replay_page`]; the integration test
/// `live::a_catch_up_from_memory_sends_the_frames_of_the_database_replay` proves the two agree), and, if
/// `want_last_id`, the newest id of their feed at or below `upto` (what [`super::notifications::last_visible_id`]
/// reads), and whether their feed has no event in a `gap` below a catch-up from memory. One statement for the
/// whole batch, answers in the queries' order: when every client reconnects at once after a restart, thousands of
/// sockets cost the database a few round trips instead of one each.
pub async fn openings(db: &PgPool, queries: &[OpeningQuery]) -> Result<Vec<Opening>> {
    let ids: Vec<i64> = queries.iter().map(|q| q.viewer_id).collect();
    let roles: Vec<&str> = queries.iter().map(|q| q.role.as_str()).collect();
    let epochs: Vec<i64> = queries.iter().map(|q| q.session_epoch).collect();
    let read_after: Vec<Option<i64>> = queries.iter().map(|q| q.read_after).collect();
    let upto: Vec<i64> = queries.iter().map(|q| q.upto).collect();
    let want: Vec<bool> = queries.iter().map(|q| q.want_last_id).collect();
    let gap_after: Vec<Option<i64>> = queries.iter().map(|q| q.gap.map(|g| g.0)).collect();
    let gap_upto: Vec<Option<i64>> = queries.iter().map(|q| q.gap.map(|g| g.1)).collect();
    let rows = sqlx::query!(
        r#"
        select q.i as "i!",
               coalesce(u.role = q.role and u.session_epoch = q.epoch, false) as "allowed!",
               coalesce(q.read_after is not null and (u.notifications_read_upto > q.read_after or exists (
                   select 1 from notification_reads r
                   where r.user_id = u.id and r.notification_id > q.read_after and r.notification_id <= q.upto)), false)
                   as "read_between!",
               case when q.want then (select coalesce(max(n.id), 0) from visible_notifications(q.role, q.id) n
                                      where n.id <= q.upto) end as last_id,
               q.gap_upto is null or not exists (
                   select 1 from visible_notifications(q.role, q.id) n
                   where n.id > q.gap_after and n.id <= q.gap_upto) as "gap_empty!"
        from unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bool[], $7::bigint[],
                    $8::bigint[])
             with ordinality as q(id, role, epoch, read_after, upto, want, gap_after, gap_upto, i)
        left join users u on u.id = q.id and u.is_active
        order by q.i
        "#,
        &ids,
        &roles as &[&str],
        &epochs,
        &read_after as &[Option<i64>],
        &upto,
        &want,
        &gap_after as &[Option<i64>],
        &gap_upto as &[Option<i64>]
    )
    .fetch_all(db)
    .await?;
    if rows.len() != queries.len() {
        return Err(anyhow::anyhow!(
            "{} openings answered for {} sockets",
            rows.len(),
            queries.len()
        )
        .into());
    }
    Ok(rows
        .into_iter()
        .map(|row| Opening {
            allowed: row.allowed,
            read_between: row.read_between,
            last_id: row.last_id,
            gap_empty: row.gap_empty,
        })
        .collect())
}

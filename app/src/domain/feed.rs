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

/// Whether any of `viewer`'s notifications with an id in `(after, upto]` is read: below their read mark, or read
/// one by one. The rule is the one every read of the feed applies ([`super::notifications::replay_page`]); a socket
/// that catches up from the relay's memory, whose frames say `read: false`, asks this first and replays from the
/// database when it is so (the integration test
/// `live::a_catch_up_from_memory_sends_the_frames_of_the_database_replay` proves the two agree).
pub async fn any_read_between(
    db: &PgPool,
    viewer: &super::Actor,
    after: i64,
    upto: i64,
) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"
        select (u.notifications_read_upto > $2 or exists (
                   select 1 from notification_reads r
                   where r.user_id = $1 and r.notification_id > $2 and r.notification_id <= $3)) as "read!"
        from users u where u.id = $1
        "#,
        viewer.id,
        after,
        upto
    )
    .fetch_one(db)
    .await?)
}

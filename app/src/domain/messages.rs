//! The client–worker conversation on an order; admins read every conversation and may post.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use super::{
    Actor, Error, Result,
    context::Context,
    notifications::{self, NewEvent},
    orders,
    page::{self, Slice, Window},
};
use crate::models::{Message, NotificationKind, PostMessageInput, UserSummary};

/// The longest message, in characters.
pub const MAX_LEN: usize = 2000;

struct MessageRow {
    id: i64,
    order_id: i64,
    sender_id: i64,
    sender_username: String,
    sender_full_name: String,
    text: String,
    created_at: DateTime<Utc>,
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        Self {
            id: r.id,
            order_id: r.order_id,
            sender: UserSummary {
                id: r.sender_id,
                username: r.sender_username,
                full_name: r.sender_full_name,
            },
            text: r.text,
            created_at: r.created_at,
        }
    }
}

/// The conversation of an order the caller may see, oldest first.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    order_id: i64,
    window: Window,
) -> Result<Slice<Message>> {
    let db = &ctx.db;
    orders::fetch_visible(db, actor, order_id).await?;
    Ok(
        page::counted(window, |window| list_page(db, order_id, window))
            .await?
            .map(Message::from),
    )
}

/// One message of an order the caller may see (404 otherwise).
pub async fn get(ctx: &Context, actor: &Actor, order_id: i64, id: i64) -> Result<Message> {
    let db = &ctx.db;
    orders::fetch_visible(db, actor, order_id).await?;
    let row = sqlx::query_as!(
        MessageRow,
        r#"
        select m.id, m.order_id, m.sender_id, u.username as sender_username, u.full_name as sender_full_name,
               m.text, m.created_at
        from order_messages m join users u on u.id = m.sender_id
        where m.id = $1 and m.order_id = $2
        "#,
        id,
        order_id
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound)?;
    Ok(row.into())
}

/// A page of [`list`], each row with the conversation's length.
async fn list_page(db: &PgPool, order_id: i64, window: Window) -> Result<Vec<(i64, MessageRow)>> {
    let records = sqlx::query!(
        r#"
        with hit as not materialized (select * from order_messages where order_id = $1)
        select (select count(*) from hit) as "total!", m.id, m.order_id, m.sender_id,
               u.username as sender_username, u.full_name as sender_full_name, m.text, m.created_at
        from hit m join users u on u.id = m.sender_id
        order by m.id asc limit $2 offset $3
        "#,
        order_id,
        window.limit,
        window.offset
    )
    .fetch_all(db)
    .await?;
    Ok(page::counted_rows!(records => MessageRow {
        id, order_id, sender_id, sender_username, sender_full_name, text, created_at
    }))
}

/// A party of the order (or an admin) posts a message; the other party and the admins are notified.
pub async fn post(
    ctx: &Context,
    actor: &Actor,
    order_id: i64,
    input: PostMessageInput,
) -> Result<Message> {
    let text = input.text.trim().to_owned();
    let len = text.chars().count();
    if len == 0 || len > MAX_LEN {
        return Err(Error::field(
            "text",
            format!("Must be 1 to {MAX_LEN} characters long."),
        ));
    }
    let mut tx = ctx.db.begin().await?;
    let order = orders::lock(&mut tx, Some(actor), order_id).await?;
    let row = sqlx::query!(
        r#"insert into order_messages (order_id, sender_id, text) values ($1, $2, $3) returning id, created_at"#,
        order_id,
        actor.id,
        text
    )
    .fetch_one(&mut *tx)
    .await?;
    let event = notifications::record(
        &mut tx,
        NewEvent {
            order_id,
            kind: NotificationKind::OrderMessage,
            actor_id: Some(actor.id),
            client_id: order.client_id,
            worker_id: order.worker_id,
            data: json!({ "message_id": row.id, "text": text }),
        },
    )
    .await?;
    tx.commit().await?;
    ctx.events.committed(vec![event]);
    Ok(Message {
        id: row.id,
        order_id,
        sender: actor.summary(),
        text,
        created_at: row.created_at,
    })
}

//! What a page of the browser app starts with for its signed-in user.

use super::{Actor, Result, context::Context, notifications, users, watermark};
use crate::models::Session;

/// The session of `actor` as a page starts with it: the user, their unread count and the newest id of their feed
/// at a stable watermark (where the page's live feed starts): the live feed's own, which costs nothing, or one
/// read from the database where there is no live feed.
pub async fn load(ctx: &Context, actor: &Actor) -> Result<Session> {
    let mark = watermark::current(ctx).await?;
    Ok(Session {
        user: users::me(ctx, actor).await?,
        unread: notifications::unread_count(ctx, actor).await?.count,
        last_id: notifications::last_visible_id(&ctx.db, actor, mark).await?,
    })
}

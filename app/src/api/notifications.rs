//! The caller's notifications and their read state: server functions over [`crate::domain::notifications`].

use leptos::{prelude::*, server_fn::codec::Json};

use super::{ApiError, Listing};
use crate::models::{Notification, NotificationKind};
#[cfg(feature = "ssr")]
use {
    super::web::{actor, context, listing, window},
    crate::domain::notifications::{self, FeedFilter},
};

/// The caller's notifications, newest first, filtered.
#[server(prefix = "/_fn", endpoint = "list_notifications")]
pub async fn list_notifications(
    page: i64,
    unread: bool,
    kind: Option<NotificationKind>,
    order_id: Option<i64>,
) -> Result<Listing<Notification>, ApiError> {
    let filter = FeedFilter {
        unread: unread.then_some(true),
        kind,
        order_id,
        after_id: None,
    };
    let slice = notifications::feed(&context()?, &actor()?, filter, window(page)?).await?;
    Ok(listing(page, slice))
}

/// The caller's unread count.
#[server(prefix = "/_fn", endpoint = "get_unread_count", input = Json)]
pub async fn get_unread_count() -> Result<i64, ApiError> {
    Ok(notifications::unread_count(&context()?, &actor()?)
        .await?
        .count)
}

/// Marks one notification of the caller's read; every tab of the user hears of it through its socket.
#[server(prefix = "/_fn", endpoint = "mark_notification_read")]
pub async fn mark_notification_read(id: i64) -> Result<(), ApiError> {
    Ok(notifications::mark_one_read(&context()?, &actor()?, id).await?)
}

/// Marks the caller's whole feed read; returns the ids that changed. Every tab of the user hears of it.
#[server(prefix = "/_fn", endpoint = "mark_all_notifications_read")]
pub async fn mark_all_notifications_read() -> Result<Vec<i64>, ApiError> {
    Ok(notifications::read_all(&context()?, &actor()?).await?)
}

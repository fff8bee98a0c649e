//! The caller's notification feed and its read state.

use app::{
    domain::{
        Result,
        notifications::{self, FeedFilter},
        page::PageParams,
    },
    models::{Notification, Page, ReadAllResult, UnreadCount},
};
use axum::{extract::OriginalUri, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::paginate;
use crate::{
    extract::{Call, Id, Language, Query, Reply},
    openapi::NotFound,
    state::AppState,
};

/// `/notifications*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(get_unread_count))
        .routes(routes!(mark_notification_read))
        .routes(routes!(mark_all_notifications_read))
}

/// The caller's feed, newest first; with `after_id`, those after it, oldest first.
#[utoipa::path(get, path = "/notifications", tag = "notifications", security(("bearer" = [])),
    params(FeedFilter, PageParams), responses((status = 200, description = "Success", body = Page<Notification>)))]
async fn list_notifications(
    call: Call,
    Language(locale): Language,
    OriginalUri(uri): OriginalUri,
    Query(filter): Query<FeedFilter>,
    Query(page): Query<PageParams>,
) -> Reply<Page<Notification>> {
    let mut slice = notifications::feed(&call.ctx, &call.actor, filter, page.window()?).await?;
    notifications::localize(&mut slice.results, locale);
    Ok(paginate(&call.ctx, &uri, slice))
}

/// How many of the caller's notifications are unread.
#[utoipa::path(get, path = "/notifications/unread-count", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = UnreadCount)))]
async fn get_unread_count(call: Call) -> Reply<UnreadCount> {
    notifications::unread_count(&call.ctx, &call.actor)
        .await
        .map(axum::Json)
}

/// Marks one notification of the caller's feed read.
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204, description = "Done; no content"), (status = 404, response = NotFound)))]
async fn mark_notification_read(call: Call, Id(id): Id) -> Result<StatusCode> {
    notifications::mark_one_read(&call.ctx, &call.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks the caller's whole feed read.
#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = ReadAllResult)))]
async fn mark_all_notifications_read(call: Call) -> Reply<ReadAllResult> {
    let ids = notifications::read_all(&call.ctx, &call.actor).await?;
    let updated = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    Ok(axum::Json(ReadAllResult { updated }))
}

//! The caller's notification feed and its read state.

use app::{
    domain::{
        Result,
        notifications::{self, FeedFilter},
        page::PageParams,
    },
    models::{Notification, Page, ReadAllResult, UnreadCount},
};
use axum::{
    extract::{OriginalUri, State},
    http::StatusCode,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::paginate;
use crate::{
    extract::{AuthUser, Id, Language, Query},
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
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Language(locale): Language,
    OriginalUri(uri): OriginalUri,
    Query(filter): Query<FeedFilter>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<Notification>>> {
    let mut slice = notifications::feed(&state.ctx, &actor, filter, page.window()?).await?;
    notifications::localize(&mut slice.results, locale);
    Ok(paginate(state.config.base_url(), &uri, slice))
}

/// How many of the caller's notifications are unread.
#[utoipa::path(get, path = "/notifications/unread-count", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = UnreadCount)))]
async fn get_unread_count(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
) -> Result<axum::Json<UnreadCount>> {
    notifications::unread_count(&state.ctx, &actor)
        .await
        .map(axum::Json)
}

/// Marks one notification of the caller's feed read.
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 204, description = "Done; no content"), (status = 404, response = NotFound)))]
async fn mark_notification_read(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Id(id): Id,
) -> Result<StatusCode> {
    notifications::mark_one_read(&state.ctx, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks the caller's whole feed read.
#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = ReadAllResult)))]
async fn mark_all_notifications_read(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
) -> Result<axum::Json<ReadAllResult>> {
    let ids = notifications::read_all(&state.ctx, &actor).await?;
    let updated = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    Ok(axum::Json(ReadAllResult { updated }))
}

//! Orders: placing, reading, the status machine, assignment, the timeline and the conversation.

use app::{
    domain::{
        Result, messages,
        orders::{self, OrderFilter},
        page::PageParams,
    },
    models::{
        AssignInput, ChangeStatusInput, CreateOrderInput, ErrorBody, Message, Notification, Order,
        Page, PostMessageInput,
    },
};
use axum::{
    extract::{OriginalUri, State},
    http::StatusCode,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::paginate;
use crate::{
    extract::{AuthUser, Id, Json, Language, Query},
    openapi::{Conflict, Forbidden, NotFound},
    state::AppState,
};

/// `/orders*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders, create_order))
        .routes(routes!(get_order))
        .routes(routes!(update_order_status))
        .routes(routes!(assign_order))
        .routes(routes!(list_order_timeline))
        .routes(routes!(list_order_messages, create_order_message))
}

/// The orders the caller may see, newest first: admins all, clients their own, workers those assigned to them.
/// `client_id` and `worker_id` narrow an admin's view.
#[utoipa::path(get, path = "/orders", tag = "orders", security(("bearer" = [])), params(OrderFilter, PageParams),
    responses((status = 200, description = "Success", body = Page<Order>)))]
async fn list_orders(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    OriginalUri(uri): OriginalUri,
    Query(filter): Query<OrderFilter>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<Order>>> {
    let slice = orders::list(&state.ctx, &actor, filter, page.window()?).await?;
    Ok(paginate(state.config.base_url(), &uri, slice))
}

/// A client places an order; the price is copied from the service and a worker is chosen or assigned.
#[utoipa::path(post, path = "/orders", tag = "orders", security(("bearer" = [])), request_body = CreateOrderInput,
    responses((status = 201, description = "Created", body = Order), (status = 403, response = Forbidden),
              (status = 429, description = "Too many orders this minute (`throttled`, with `Retry-After`)",
               body = ErrorBody)))]
async fn create_order(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Json(input): Json<CreateOrderInput>,
) -> Result<(StatusCode, axum::Json<Order>)> {
    let order = orders::create(&state.ctx, &actor, input).await?;
    Ok((StatusCode::CREATED, axum::Json(order)))
}

/// One order, for its parties and admins (404 for anyone else).
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "Success", body = Order), (status = 404, response = NotFound)))]
async fn get_order(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Id(id): Id,
) -> Result<axum::Json<Order>> {
    orders::get(&state.ctx, &actor, id).await.map(axum::Json)
}

/// Moves an order through the status machine. A move the machine lacks is 409 `invalid_transition`; one the
/// caller's role may not make is 403; the same status again is 200 with no change.
#[utoipa::path(patch, path = "/orders/{id}/status", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ChangeStatusInput,
    responses((status = 200, description = "Success", body = Order), (status = 403, response = Forbidden),
              (status = 404, response = NotFound),
              (status = 409, description = "The status machine has no such move (`invalid_transition`), or a \
                                            payment in progress holds the order (`conflict`)", body = ErrorBody)))]
async fn update_order_status(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Id(id): Id,
    Json(input): Json<ChangeStatusInput>,
) -> Result<axum::Json<Order>> {
    orders::change_status(&state.ctx, &actor, id, input)
        .await
        .map(axum::Json)
}

/// Assigns an open order to an active worker of its service (admin only).
#[utoipa::path(post, path = "/orders/{id}/assign", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = AssignInput,
    responses((status = 200, description = "Success", body = Order), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 409, response = Conflict)))]
async fn assign_order(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Id(id): Id,
    Json(input): Json<AssignInput>,
) -> Result<axum::Json<Order>> {
    orders::assign(&state.ctx, &actor, id, input)
        .await
        .map(axum::Json)
}

/// Every event of an order, oldest first.
#[utoipa::path(get, path = "/orders/{id}/timeline", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path), PageParams),
    responses((status = 200, description = "Success", body = Page<Notification>), (status = 404, response = NotFound)))]
async fn list_order_timeline(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Language(locale): Language,
    OriginalUri(uri): OriginalUri,
    Id(id): Id,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<Notification>>> {
    let mut slice = orders::timeline(&state.ctx, &actor, id, page.window()?).await?;
    app::domain::notifications::localize(&mut slice.results, locale);
    Ok(paginate(state.config.base_url(), &uri, slice))
}

/// The conversation of an order, oldest first.
#[utoipa::path(get, path = "/orders/{id}/messages", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path), PageParams),
    responses((status = 200, description = "Success", body = Page<Message>), (status = 404, response = NotFound)))]
async fn list_order_messages(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    OriginalUri(uri): OriginalUri,
    Id(id): Id,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<Message>>> {
    let slice = messages::list(&state.ctx, &actor, id, page.window()?).await?;
    Ok(paginate(state.config.base_url(), &uri, slice))
}

/// Posts a message (1 to 2000 characters) to an order's conversation.
#[utoipa::path(post, path = "/orders/{id}/messages", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = PostMessageInput,
    responses((status = 201, description = "Created", body = Message), (status = 404, response = NotFound)))]
async fn create_order_message(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Id(id): Id,
    Json(input): Json<PostMessageInput>,
) -> Result<(StatusCode, axum::Json<Message>)> {
    let message = messages::post(&state.ctx, &actor, id, input).await?;
    Ok((StatusCode::CREATED, axum::Json(message)))
}

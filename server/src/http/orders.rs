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
use axum::{extract::OriginalUri, http::StatusCode};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::paginate;
use crate::{
    extract::{Call, Created, Id, Json, Language, Query, Reply, created},
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
    call: Call,
    OriginalUri(uri): OriginalUri,
    Query(filter): Query<OrderFilter>,
    Query(page): Query<PageParams>,
) -> Reply<Page<Order>> {
    let slice = orders::list(&call.ctx, &call.actor, filter, page.window()?).await?;
    Ok(paginate(&call.ctx, &uri, slice))
}

/// A client places an order; the price is copied from the service and a worker is chosen or assigned.
#[utoipa::path(post, path = "/orders", tag = "orders", security(("bearer" = [])), request_body = CreateOrderInput,
    responses((status = 201, description = "Created", body = Order), (status = 403, response = Forbidden),
              (status = 429, description = "Too many orders this minute (`throttled`, with `Retry-After`)",
               body = ErrorBody)))]
async fn create_order(call: Call, Json(input): Json<CreateOrderInput>) -> Created<Order> {
    orders::create(&call.ctx, &call.actor, input)
        .await
        .map(created)
}

/// One order, for its parties and admins (404 for anyone else).
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "Success", body = Order), (status = 404, response = NotFound)))]
async fn get_order(call: Call, Id(id): Id) -> Reply<Order> {
    orders::get(&call.ctx, &call.actor, id)
        .await
        .map(axum::Json)
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
    call: Call,
    Id(id): Id,
    Json(input): Json<ChangeStatusInput>,
) -> Reply<Order> {
    orders::change_status(&call.ctx, &call.actor, id, input)
        .await
        .map(axum::Json)
}

/// Assigns an open order to an active worker of its service (admin only).
#[utoipa::path(post, path = "/orders/{id}/assign", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = AssignInput,
    responses((status = 200, description = "Success", body = Order), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 409, response = Conflict)))]
async fn assign_order(call: Call, Id(id): Id, Json(input): Json<AssignInput>) -> Reply<Order> {
    orders::assign(&call.ctx, &call.actor, id, input)
        .await
        .map(axum::Json)
}

/// Every event of an order, oldest first.
#[utoipa::path(get, path = "/orders/{id}/timeline", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path), PageParams),
    responses((status = 200, description = "Success", body = Page<Notification>), (status = 404, response = NotFound)))]
async fn list_order_timeline(
    call: Call,
    Language(locale): Language,
    OriginalUri(uri): OriginalUri,
    Id(id): Id,
    Query(page): Query<PageParams>,
) -> Reply<Page<Notification>> {
    let mut slice = orders::timeline(&call.ctx, &call.actor, id, page.window()?).await?;
    app::domain::notifications::localize(&mut slice.results, locale);
    Ok(paginate(&call.ctx, &uri, slice))
}

/// The conversation of an order, oldest first.
#[utoipa::path(get, path = "/orders/{id}/messages", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path), PageParams),
    responses((status = 200, description = "Success", body = Page<Message>), (status = 404, response = NotFound)))]
async fn list_order_messages(
    call: Call,
    OriginalUri(uri): OriginalUri,
    Id(id): Id,
    Query(page): Query<PageParams>,
) -> Reply<Page<Message>> {
    let slice = messages::list(&call.ctx, &call.actor, id, page.window()?).await?;
    Ok(paginate(&call.ctx, &uri, slice))
}

/// Posts a message (1 to 2000 characters) to an order's conversation.
#[utoipa::path(post, path = "/orders/{id}/messages", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = PostMessageInput,
    responses((status = 201, description = "Created", body = Message), (status = 404, response = NotFound)))]
async fn create_order_message(
    call: Call,
    Id(id): Id,
    Json(input): Json<PostMessageInput>,
) -> Result<(StatusCode, axum::Json<Message>)> {
    let message = messages::post(&call.ctx, &call.actor, id, input).await?;
    Ok((StatusCode::CREATED, axum::Json(message)))
}

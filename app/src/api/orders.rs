//! Orders, their status, assignment and conversation: server functions over [`crate::domain::orders`].

use leptos::{prelude::*, server_fn::codec::Json};

use super::{ApiError, Listing};
use crate::models::{Message, Order, OrderStatus, OrderView};
#[cfg(feature = "ssr")]
use {
    super::web::{actor, context, listing, optional_id, window},
    crate::domain::{
        messages, order_page,
        orders::{self, OrderFilter},
    },
    crate::models::{AssignInput, ChangeStatusInput, CreateOrderInput, PostMessageInput},
};

/// A client orders a service, optionally from one of its workers.
#[server(prefix = "/_fn", endpoint = "create_order")]
pub async fn create_order(
    service_id: i64,
    worker_id: String,
    description: String,
) -> Result<Order, ApiError> {
    let input = CreateOrderInput {
        service_id,
        worker_id: optional_id("worker_id", &worker_id)?,
        description: Some(description),
    };
    let order = orders::create(&context()?, &actor()?, input).await?;
    leptos_axum::redirect(&format!("/orders/{}", order.id));
    Ok(order)
}

/// The orders the caller may see, newest first; optionally one status.
#[server(prefix = "/_fn", endpoint = "list_orders")]
pub async fn list_orders(
    page: i64,
    status: Option<OrderStatus>,
) -> Result<Listing<Order>, ApiError> {
    let filter = OrderFilter {
        status,
        ..Default::default()
    };
    let slice = orders::list(&context()?, &actor()?, filter, window(page)?).await?;
    Ok(listing(page, slice))
}

/// The order page: the order, its timeline and conversation, and what the caller may do.
#[server(prefix = "/_fn", endpoint = "get_order")]
pub async fn get_order(id: i64) -> Result<OrderView, ApiError> {
    Ok(order_page::load(&context()?, &actor()?, id).await?)
}

/// One order, as a row of a list shows it: what the page's live parts read when an event's frame cannot carry
/// enough (a new order in a list, a new worker's name).
#[server(prefix = "/_fn", endpoint = "get_order_row", input = Json)]
pub async fn get_order_row(id: i64) -> Result<Order, ApiError> {
    Ok(orders::get(&context()?, &actor()?, id).await?)
}

/// Moves an order along the status machine.
#[server(prefix = "/_fn", endpoint = "update_order_status")]
pub async fn update_order_status(id: i64, status: OrderStatus) -> Result<Order, ApiError> {
    let input = ChangeStatusInput { status };
    Ok(orders::change_status(&context()?, &actor()?, id, input).await?)
}

/// An admin assigns a worker to an order.
#[server(prefix = "/_fn", endpoint = "assign_order")]
pub async fn assign_order(id: i64, worker_id: i64) -> Result<Order, ApiError> {
    let input = AssignInput { worker_id };
    Ok(orders::assign(&context()?, &actor()?, id, input).await?)
}

/// Posts to an order's conversation.
#[server(prefix = "/_fn", endpoint = "create_order_message")]
pub async fn create_order_message(id: i64, text: String) -> Result<Message, ApiError> {
    let input = PostMessageInput { text };
    Ok(messages::post(&context()?, &actor()?, id, input).await?)
}

/// One message of an order's conversation: what the order page reads live when the message's sender is not
/// named on it yet.
#[server(prefix = "/_fn", endpoint = "get_order_message", input = Json)]
pub async fn get_order_message(order_id: i64, id: i64) -> Result<Message, ApiError> {
    Ok(messages::get(&context()?, &actor()?, order_id, id).await?)
}

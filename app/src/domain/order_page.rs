//! The order page: an order with its timeline, conversation and payments, and what the caller may do with it.

use super::{
    Actor, Result,
    context::Context,
    messages, orders,
    page::Window,
    services,
    transactions::{self, TransactionFilter},
};
use crate::models::{OrderStatus, OrderView, PaymentProvider, Role, status::Party};

/// The most timeline entries, messages and transactions the page shows (the latest, for messages).
const SHOWN: i64 = 100;

/// Everything the order page shows to `actor`: 404 unless they may see the order.
pub async fn load(ctx: &Context, actor: &Actor, id: i64) -> Result<OrderView> {
    let order = orders::get(ctx, actor, id).await?;
    let first = Window {
        limit: SHOWN,
        offset: 0,
    };
    let timeline = orders::timeline(ctx, actor, id, first).await?.results;
    let mut conversation = messages::list(ctx, actor, id, first).await?;
    if conversation.count > SHOWN {
        let latest = Window {
            limit: SHOWN,
            offset: conversation.count - SHOWN,
        };
        conversation = messages::list(ctx, actor, id, latest).await?;
    }
    let workers = if actor.is_admin() {
        services::workers(ctx, actor, order.service_id).await?
    } else {
        Vec::new()
    };
    let transactions = if transactions::may_read(actor) {
        let filter = TransactionFilter {
            order_id: Some(id),
            ..Default::default()
        };
        transactions::list(ctx, actor, filter, first).await?.results
    } else {
        Vec::new()
    };
    Ok(OrderView {
        next: order.status.next_for(Party::of(actor.role)),
        payable: may_pay(actor, order.status),
        providers: PaymentProvider::ALL
            .iter()
            .copied()
            .filter(|&p| ctx.payments.enabled(p))
            .collect(),
        order,
        timeline,
        messages: conversation.results,
        workers,
        transactions,
    })
}

/// Whether `actor` may start paying for an order in `status` (the checkout's own first check).
pub fn may_pay(actor: &Actor, status: OrderStatus) -> bool {
    actor.role == Role::Client && status == OrderStatus::Pending
}

//! The load, until the deadline: clients ordering and paying, workers moving paid orders on.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;

use super::{
    ctx::{Ctx, Request},
    payments::{pay_by_click, pay_by_payme},
};

/// Client `i`: orders, then pays by Payme (two orders in five), by Click (two in five) or not at all.
pub async fn client(ctx: Arc<Ctx>, i: usize, token: String, service_id: i64, deadline: Instant) {
    let order = Request::post("/api/v1/orders")
        .bearer(&token)
        .json(json!({ "service_id": service_id }));
    let mut n = 0_usize;
    while Instant::now() < deadline {
        n += 1;
        let Some((201, order)) = ctx.send_retrying(i + n, &order).await else {
            continue;
        };
        let order_id = order["id"].as_i64().unwrap_or_default();
        match (i + n) % 5 {
            0 | 1 => pay_by_payme(&ctx, i, n, order_id).await,
            2 | 3 => pay_by_click(&ctx, i, n, order_id).await,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// Worker `i`: takes paid orders in hand and completes those in hand, a page of each at a time.
pub async fn worker(ctx: Arc<Ctx>, i: usize, token: String, deadline: Instant) {
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        for (from, to) in [("paid", "in_process"), ("in_process", "completed")] {
            let page =
                Request::get(format!("/api/v1/orders?status={from}&limit=10")).bearer(&token);
            let Some((200, page)) = ctx.send(i + n, &page).await else {
                continue;
            };
            for order in page["results"].as_array().cloned().unwrap_or_default() {
                let id = order["id"].as_i64().unwrap_or_default();
                let request = Request::patch(format!("/api/v1/orders/{id}/status"))
                    .bearer(&token)
                    .json(json!({ "status": to }));
                ctx.send(i + n, &request).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

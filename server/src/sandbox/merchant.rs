//! The sandbox's stand-in for Click's merchant API (`CLICK_API_URL={PUBLIC_URL}/sandbox/click-api` in the demo),
//! speaking its protocol: it checks the `Auth` header, accepts `submit_items` and answers the receipt lookup, so
//! a demo payment shows its fiscal receipt end to end; and a receipt page both sandboxes' receipt links open.

use std::time::{SystemTime, UNIX_EPOCH};

use app::domain::payments::ClickSettings;
use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{click_api::ClickApi, state::AppState};

/// Click's settings while the sandbox is on; `None` (answered 404) otherwise.
fn click(state: &AppState) -> Option<&ClickSettings> {
    state.sandbox.as_ref()?;
    state.ctx.payments.click.as_ref()
}

/// Whether `Auth` is `<merchant_user_id>:<sha1(timestamp + secret_key)>:<timestamp>` for these settings, with a
/// timestamp within a day of now.
fn authorized(click: &ClickSettings, headers: &HeaderMap) -> bool {
    let Some(auth) = headers.get("Auth").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(timestamp) = auth.rsplit(':').next().and_then(|t| t.parse::<u64>().ok()) else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    now.abs_diff(timestamp) < 86_400 && ClickApi::auth_header(click, timestamp) == auth
}

fn refused(code: i64, note: &str) -> Response {
    Json(json!({ "error_code": code, "error_note": note })).into_response()
}

/// POST `/sandbox/click-api/payment/ofd_data/submit_items`.
pub(super) async fn submit_items(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some(click) = click(&state) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !authorized(click, &headers) {
        return refused(-401, "Access denied");
    }
    let items = body["items"].as_array().filter(|items| !items.is_empty());
    let well_formed = body["service_id"].as_i64() == Some(click.service_id)
        && body["payment_id"].as_i64().is_some()
        && body["received_ecash"].as_i64().is_some_and(|a| a > 0)
        && items.is_some_and(|items| {
            items
                .iter()
                .all(|i| i["SPIC"].is_string() && i["Price"].is_i64() && i["VAT"].is_i64())
        });
    if !well_formed {
        return refused(-8, "Error in request");
    }
    tracing::info!(
        click.payment_id = body["payment_id"].as_i64(),
        "Sandbox: Click accepted the fiscal items of payment {}",
        body["payment_id"]
    );
    Json(json!({ "error_code": 0, "error_note": "Success", "payment_id": body["payment_id"] }))
        .into_response()
}

/// GET `/sandbox/click-api/payment/ofd_data/{service_id}/{payment_id}`: the receipt's QR URL.
pub(super) async fn receipt_url(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((service_id, payment_id)): Path<(i64, i64)>,
) -> Response {
    let Some(click) = click(&state) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !authorized(click, &headers) || service_id != click.service_id {
        return refused(-401, "Access denied");
    }
    let url = format!(
        "{}/sandbox/receipt?provider=click&id={payment_id}",
        state.ctx.payments.public_url
    );
    Json(json!({ "qrCodeURL": url })).into_response()
}

/// The receipt page's query.
#[derive(Deserialize)]
pub(super) struct ReceiptQuery {
    provider: String,
    id: i64,
}

/// GET `/sandbox/receipt?provider=…&id=…`: what a receipt link of the sandbox opens (the real ones open the tax
/// authority's site).
pub(super) async fn receipt_page(
    State(state): State<AppState>,
    Query(query): Query<ReceiptQuery>,
) -> Response {
    if state.sandbox.is_none() || !matches!(query.provider.as_str(), "payme" | "click") {
        return StatusCode::NOT_FOUND.into_response();
    }
    // Only a number and one of two fixed names reach the page.
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Sandbox fiscal receipt</title>\
         <h1>Sandbox fiscal receipt</h1><p>Provider: {}, receipt {}.</p>\
         <p>In production this link opens the receipt on the tax authority's site.</p>",
        query.provider, query.id
    ))
    .into_response()
}

//! Payments: the checkout (`POST /payments`) and the two providers' webhooks, thin adapters over
//! [`app::domain::payments`]. The webhooks always answer HTTP 200 with the provider's own error codes, also to a
//! caller outside the provider's address list (`PAYME_ALLOWED_IPS`, `CLICK_ALLOWED_IPS`), which is refused as an
//! unauthenticated one.

use app::{
    domain::payments::{self, click, payme},
    models::{CreatePaymentInput, ErrorBody, PaymentCheckout},
};
use axum::{
    body::{Body, to_bytes},
    extract::State,
    http::{HeaderMap, header},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    extract::{BODY_LIMIT, Call, ClientIp, Created, Json, created},
    openapi::{Forbidden, NotFound},
    state::AppState,
};

/// The providers' webhooks, which answer every request with HTTP 200 in the provider's own format (a body over
/// the limit included: [`read_body`] reads no more than the limit).
pub const WEBHOOKS: [&str; 2] = ["/api/v1/payment/payme", "/api/v1/payment/click"];

/// `/payments` and `/payment/*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payment))
        .routes(routes!(payme_webhook))
        .routes(routes!(click_webhook))
}

/// The order's client starts paying a `pending` order with Payme or Click: the answer carries the provider's
/// checkout link (and, where the deployment enables it, the built-in gateway sandbox's). An open checkout of the
/// same provider is reused.
#[utoipa::path(post, path = "/payments", tag = "payments", security(("bearer" = [])), request_body = CreatePaymentInput,
    responses((status = 201, description = "Created", body = PaymentCheckout), (status = 403, response = Forbidden),
              (status = 404, response = NotFound),
              (status = 409, description = "The order is not pending, or a payment is already in progress",
               body = ErrorBody)))]
async fn create_payment(
    call: Call,
    Json(input): Json<CreatePaymentInput>,
) -> Created<PaymentCheckout> {
    payments::checkout(&call.ctx, &call.actor, input)
        .await
        .map(created)
}

/// The body, or `None` when it is over the limit or broken off.
async fn read_body(body: Body) -> Option<axum::body::Bytes> {
    to_bytes(body, BODY_LIMIT).await.ok()
}

/// Payme's Merchant API (JSON-RPC 2.0; `shared/PAYMENTS.md` §1): `CheckPerformTransaction`, `CreateTransaction`,
/// `PerformTransaction`, `CancelTransaction`, `CheckTransaction`, `GetStatement`. Basic auth `Paycom:<key>`.
/// Always HTTP 200; errors are JSON-RPC errors with Payme's codes and `{ru, uz, en}` messages.
#[utoipa::path(post, path = "/payment/payme", tag = "payments", security(("payme" = [])),
    request_body(content = Object, description = "A JSON-RPC request `{id, method, params}` (any Content-Type)"),
    responses((status = 200, description = "A JSON-RPC answer `{jsonrpc, id, result}` or `{jsonrpc, id, error}`",
               body = Object)))]
async fn payme_webhook(
    State(state): State<AppState>,
    ClientIp(from): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> axum::Json<serde_json::Value> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(body) = read_body(body).await else {
        return axum::Json(payme::answer(
            &serde_json::Value::Null,
            Err(payme::Fault::parse_error()),
        ));
    };
    axum::Json(payme::handle(&state.ctx, from.parse().ok(), authorization, &body).await)
}

/// Any other method on Payme's URL: JSON-RPC error -32300, still with HTTP 200.
pub async fn payme_not_post() -> axum::Json<serde_json::Value> {
    axum::Json(payme::answer(
        &serde_json::Value::Null,
        Err(payme::Fault::not_post()),
    ))
}

/// Any other method on Click's URL: error -8, still with HTTP 200.
pub async fn click_not_post() -> axum::Json<serde_json::Value> {
    axum::Json(click::not_post())
}

/// Click's SHOP API (`shared/PAYMENTS.md` §2): Prepare (`action=0`) and Complete (`action=1`), form-encoded and
/// signed with MD5. Always HTTP 200 with `{click_trans_id, merchant_trans_id, merchant_prepare_id |
/// merchant_confirm_id, error, error_note}`.
#[utoipa::path(post, path = "/payment/click", tag = "payments",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
                 description = "`click_trans_id, service_id, click_paydoc_id, merchant_trans_id, \
                                [merchant_prepare_id,] amount, action, error, error_note, sign_time, sign_string`"),
    responses((status = 200, description = "Click's answer; `error` 0 is success, negative values are Click's \
                                            error codes", body = Object)))]
async fn click_webhook(
    State(state): State<AppState>,
    ClientIp(from): ClientIp,
    body: Body,
) -> axum::Json<serde_json::Value> {
    let body = read_body(body).await.unwrap_or_default();
    axum::Json(click::handle(&state.ctx, from.parse().ok(), &body).await)
}

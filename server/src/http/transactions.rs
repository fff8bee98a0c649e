//! Payment transactions, read side, and the fiscal receipt of a confirmed Click payment.

use app::{
    domain::{
        Result,
        page::PageParams,
        transactions::{self, TransactionFilter},
    },
    models::{ErrorBody, FiscalReceipt, Page, Transaction},
};
use axum::extract::{OriginalUri, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::paginate;
use crate::{
    extract::{AuthUser, Id, Query},
    openapi::{Forbidden, NotFound},
    state::AppState,
};

/// `/transactions*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_transactions))
        .routes(routes!(get_transaction))
        .routes(routes!(get_receipt))
}

/// Payment attempts, newest first: admins all, clients those of their orders; workers are refused.
#[utoipa::path(get, path = "/transactions", tag = "payments", security(("bearer" = [])),
    params(TransactionFilter, PageParams),
    responses((status = 200, description = "Success", body = Page<Transaction>), (status = 403, response = Forbidden)))]
async fn list_transactions(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    OriginalUri(uri): OriginalUri,
    Query(filter): Query<TransactionFilter>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<Transaction>>> {
    let slice = transactions::list(&state.ctx, &actor, filter, page.window()?).await?;
    Ok(paginate(state.config.base_url(), &uri, slice))
}

/// One payment attempt (404 unless it is the caller's or the caller is an admin).
#[utoipa::path(get, path = "/transactions/{id}", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "Success", body = Transaction), (status = 403, response = Forbidden),
              (status = 404, response = NotFound)))]
async fn get_transaction(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Id(id): Id,
) -> Result<axum::Json<Transaction>> {
    transactions::get(&state.ctx, &actor, id)
        .await
        .map(axum::Json)
}

/// The fiscal receipt of a confirmed Click payment (the client's own, or any for an admin), fetched once from
/// Click's merchant API and kept. 409 for any other transaction; 502 `bad_gateway` when Click cannot be reached.
#[utoipa::path(get, path = "/transactions/{id}/receipt", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "Success", body = FiscalReceipt), (status = 403, response = Forbidden),
              (status = 404, response = NotFound),
              (status = 409, description = "Not a confirmed Click payment", body = ErrorBody),
              (status = 502, description = "Click's merchant API failed or did not answer in time", body = ErrorBody)))]
async fn get_receipt(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Id(id): Id,
) -> Result<axum::Json<FiscalReceipt>> {
    transactions::receipt(&state.ctx, &actor, id)
        .await
        .map(axum::Json)
}

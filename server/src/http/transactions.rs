//! Payment transactions, read side, and the fiscal receipt of a confirmed payment.

use app::{
    domain::{
        page::PageParams,
        payments::fiscal,
        transactions::{self, TransactionFilter},
    },
    models::{ErrorBody, FiscalReceipt, Page, Transaction},
};
use axum::extract::OriginalUri;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::paginate;
use crate::{
    extract::{Call, Id, Query, Reply},
    openapi::{Forbidden, NotFound},
    state::AppState,
};

/// `/transactions*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_transactions))
        .routes(routes!(get_transaction))
        .routes(routes!(get_receipt))
        .routes(routes!(retry_fiscal_submission))
}

/// Payment attempts, newest first: admins all, clients those of their orders; workers are refused.
#[utoipa::path(get, path = "/transactions", tag = "payments", security(("bearer" = [])),
    params(TransactionFilter, PageParams),
    responses((status = 200, description = "Success", body = Page<Transaction>), (status = 403, response = Forbidden)))]
async fn list_transactions(
    call: Call,
    OriginalUri(uri): OriginalUri,
    Query(filter): Query<TransactionFilter>,
    Query(page): Query<PageParams>,
) -> Reply<Page<Transaction>> {
    let slice = transactions::list(&call.ctx, &call.actor, filter, page.window()?).await?;
    Ok(paginate(&call.ctx, &uri, slice))
}

/// One payment attempt (404 unless it is the caller's or the caller is an admin).
#[utoipa::path(get, path = "/transactions/{id}", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "Success", body = Transaction), (status = 403, response = Forbidden),
              (status = 404, response = NotFound)))]
async fn get_transaction(call: Call, Id(id): Id) -> Reply<Transaction> {
    transactions::get(&call.ctx, &call.actor, id)
        .await
        .map(axum::Json)
}

/// The fiscal receipt of a payment (the client's own, or any for an admin): the one Payme sent with
/// `SetFiscalData`, or a confirmed Click payment's, fetched once from Click's merchant API and kept. 409 for a
/// transaction without a receipt (yet); 502 `bad_gateway` when Click cannot be reached.
#[utoipa::path(get, path = "/transactions/{id}/receipt", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "Success", body = FiscalReceipt), (status = 403, response = Forbidden),
              (status = 404, response = NotFound),
              (status = 409, description = "No receipt (yet): not a confirmed payment, or Payme has not sent it",
               body = ErrorBody),
              (status = 502, description = "Click's merchant API failed or did not answer in time", body = ErrorBody)))]
async fn get_receipt(call: Call, Id(id): Id) -> Reply<FiscalReceipt> {
    transactions::receipt(&call.ctx, &call.actor, id)
        .await
        .map(axum::Json)
}

/// An admin queues a failed fiscal submission of a Click payment again, due at once (409 unless its
/// `fiscal_status` is `failed`).
#[utoipa::path(post, path = "/transactions/{id}/fiscal/retry", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "Queued again; the transaction", body = Transaction),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 409, description = "Not a failed Click fiscal submission", body = ErrorBody)))]
async fn retry_fiscal_submission(call: Call, Id(id): Id) -> Reply<Transaction> {
    fiscal::retry(&call.ctx, &call.actor, id)
        .await
        .map(axum::Json)
}

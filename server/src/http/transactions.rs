//! Payment transactions, read side.

use app::{
    domain::{
        Result,
        page::PageParams,
        transactions::{self, TransactionFilter},
    },
    models::{ErrorBody, Page, Transaction},
};
use axum::extract::{OriginalUri, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::paginate;
use crate::{
    extract::{AuthUser, Id, Query},
    state::AppState,
};

/// `/transactions*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_transactions))
        .routes(routes!(get_transaction))
}

/// Payment attempts, newest first: admins all, clients those of their orders; workers are refused.
#[utoipa::path(get, path = "/transactions", tag = "payments", security(("bearer" = [])),
    params(TransactionFilter, PageParams),
    responses((status = 200, description = "Success", body = Page<Transaction>), (status = 400, description = "Invalid input (`invalid` or `parse_error`)", body = ErrorBody),
              (status = 401, description = "Not authenticated or bad credentials", body = ErrorBody), (status = 403, description = "The caller's role may not do this", body = ErrorBody)))]
async fn list_transactions(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    OriginalUri(uri): OriginalUri,
    Query(filter): Query<TransactionFilter>,
    Query(page): Query<PageParams>,
) -> Result<axum::Json<Page<Transaction>>> {
    let slice = transactions::list(&state.db, &actor, filter, page.window()?).await?;
    Ok(paginate(state.config.base_url(), &uri, slice))
}

/// One payment attempt (404 unless it is the caller's or the caller is an admin).
#[utoipa::path(get, path = "/transactions/{id}", tag = "payments", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "Success", body = Transaction), (status = 401, description = "Not authenticated or bad credentials", body = ErrorBody), (status = 403, description = "The caller's role may not do this", body = ErrorBody),
              (status = 404, description = "No such object, or not visible to the caller", body = ErrorBody)))]
async fn get_transaction(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Id(id): Id,
) -> Result<axum::Json<Transaction>> {
    transactions::get(&state.db, &actor, id)
        .await
        .map(axum::Json)
}

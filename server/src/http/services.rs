//! The service catalogue and its workers.

use app::{
    domain::{Result, page::PageParams, services},
    models::{CreateServiceInput, Page, Service, SetWorkersInput, UpdateServiceInput, UserSummary},
};
use axum::{extract::OriginalUri, http::StatusCode};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::paginate;
use crate::{
    extract::{Call, Created, Id, Json, Query, Reply, created},
    openapi::{Conflict, Forbidden, NotFound},
    state::AppState,
};

/// `/services*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_services, create_service))
        .routes(routes!(get_service, update_service, delete_service))
        .routes(routes!(list_service_workers, set_service_workers))
}

/// `?is_active=` (admins; others always see active services only).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ServiceFilter {
    is_active: Option<bool>,
}

/// The catalogue, newest first.
#[utoipa::path(get, path = "/services", tag = "services", security(("bearer" = [])), params(ServiceFilter, PageParams),
    responses((status = 200, description = "Success", body = Page<Service>)))]
async fn list_services(
    call: Call,
    OriginalUri(uri): OriginalUri,
    Query(filter): Query<ServiceFilter>,
    Query(page): Query<PageParams>,
) -> Reply<Page<Service>> {
    let slice = services::list(&call.ctx, &call.actor, filter.is_active, page.window()?).await?;
    Ok(paginate(&call.ctx, &uri, slice))
}

/// One service (inactive ones only for admins).
#[utoipa::path(get, path = "/services/{id}", tag = "services", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "Success", body = Service), (status = 404, response = NotFound)))]
async fn get_service(call: Call, Id(id): Id) -> Reply<Service> {
    services::get(&call.ctx, &call.actor, id)
        .await
        .map(axum::Json)
}

/// Adds a service (admin only).
#[utoipa::path(post, path = "/services", tag = "services", security(("bearer" = [])), request_body = CreateServiceInput,
    responses((status = 201, description = "Created", body = Service), (status = 403, response = Forbidden),
              (status = 409, response = Conflict)))]
async fn create_service(call: Call, Json(input): Json<CreateServiceInput>) -> Created<Service> {
    services::create(&call.ctx, &call.actor, input)
        .await
        .map(created)
}

/// Changes a service (admin only). Orders already placed keep their price.
#[utoipa::path(patch, path = "/services/{id}", tag = "services", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = UpdateServiceInput,
    responses((status = 200, description = "Success", body = Service), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 409, response = Conflict)))]
async fn update_service(
    call: Call,
    Id(id): Id,
    Json(input): Json<UpdateServiceInput>,
) -> Reply<Service> {
    services::update(&call.ctx, &call.actor, id, input)
        .await
        .map(axum::Json)
}

/// Withdraws a service from the catalogue (admin only). It is deactivated, not erased: orders refer to it.
#[utoipa::path(delete, path = "/services/{id}", tag = "services", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204, description = "Done; no content"), (status = 403, response = Forbidden),
              (status = 404, response = NotFound)))]
async fn delete_service(call: Call, Id(id): Id) -> Result<StatusCode> {
    services::deactivate(&call.ctx, &call.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The workers of a service.
#[utoipa::path(get, path = "/services/{id}/workers", tag = "services", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "Success", body = Vec<UserSummary>), (status = 404, response = NotFound)))]
async fn list_service_workers(call: Call, Id(id): Id) -> Reply<Vec<UserSummary>> {
    services::workers(&call.ctx, &call.actor, id)
        .await
        .map(axum::Json)
}

/// Replaces the workers of a service (admin only); every id must be an active worker.
#[utoipa::path(put, path = "/services/{id}/workers", tag = "services", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SetWorkersInput,
    responses((status = 200, description = "Success", body = Vec<UserSummary>), (status = 403, response = Forbidden),
              (status = 404, response = NotFound)))]
async fn set_service_workers(
    call: Call,
    Id(id): Id,
    Json(input): Json<SetWorkersInput>,
) -> Reply<Vec<UserSummary>> {
    services::set_workers(&call.ctx, &call.actor, id, input)
        .await
        .map(axum::Json)
}

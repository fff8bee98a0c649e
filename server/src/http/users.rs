//! User management for admins.

use app::{
    domain::{Result, page::PageParams, users},
    models::{CreateUserInput, Page, Role, UpdateUserInput, User, UserStats},
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

/// `/users*`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user_stats))
        .routes(routes!(get_user, update_user, deactivate_user))
}

/// `?role=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UserFilter {
    role: Option<Role>,
}

/// Every user, newest first (admin only).
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])), params(UserFilter, PageParams),
    responses((status = 200, description = "Success", body = Page<User>), (status = 403, response = Forbidden)))]
async fn list_users(
    call: Call,
    OriginalUri(uri): OriginalUri,
    Query(filter): Query<UserFilter>,
    Query(page): Query<PageParams>,
) -> Reply<Page<User>> {
    let slice = users::list(&call.ctx, &call.actor, filter.role, page.window()?).await?;
    Ok(paginate(&call.ctx, &uri, slice))
}

/// Head counts by role (admin only).
#[utoipa::path(get, path = "/users/stats", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = UserStats), (status = 403, response = Forbidden)))]
async fn get_user_stats(call: Call) -> Reply<UserStats> {
    users::stats(&call.ctx, &call.actor).await.map(axum::Json)
}

/// Creates a user of any role (admin only).
#[utoipa::path(post, path = "/users", tag = "users", security(("bearer" = [])), request_body = CreateUserInput,
    responses((status = 201, description = "Created", body = User), (status = 403, response = Forbidden),
              (status = 409, response = Conflict)))]
async fn create_user(call: Call, Json(input): Json<CreateUserInput>) -> Created<User> {
    users::create(&call.ctx, &call.actor, input)
        .await
        .map(created)
}

/// One user (admin only).
#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "Success", body = User), (status = 403, response = Forbidden),
              (status = 404, response = NotFound)))]
async fn get_user(call: Call, Id(id): Id) -> Reply<User> {
    users::get(&call.ctx, &call.actor, id).await.map(axum::Json)
}

/// Changes a user, including role and activation (admin only; admins cannot demote or deactivate themselves).
#[utoipa::path(patch, path = "/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = i64, Path)),
    request_body = UpdateUserInput,
    responses((status = 200, description = "Success", body = User), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 409, response = Conflict)))]
async fn update_user(call: Call, Id(id): Id, Json(input): Json<UpdateUserInput>) -> Reply<User> {
    users::update(&call.ctx, &call.actor, id, input)
        .await
        .map(axum::Json)
}

/// Deactivates a user (admin only): their tokens stop working at once. The account and its history stay.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204, description = "Done; no content"), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 409, response = Conflict)))]
async fn deactivate_user(call: Call, Id(id): Id) -> Result<StatusCode> {
    users::deactivate(&call.ctx, &call.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Sign-up, sign-in, token refresh and sign-out, plus the caller's own profile (`/me`).

use app::{
    domain::{Result, auth, users},
    models::{
        ErrorBody, LoginInput, LoginResponse, RefreshInput, RegisterInput, TokenPair,
        UpdateMeInput, User,
    },
};
use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{AppendHeaders, IntoResponse},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    extract::{Call, ClientIp, Json, Reply},
    openapi::{Conflict, RateLimited},
    state::AppState,
};

/// The 401 of a sign-in.
const BAD_CREDENTIALS: &str =
    "Wrong username or password, or the account is inactive (`bad_credentials`)";
/// The 401 of the routes that take a refresh token.
const REFRESH_TOKEN_INVALID: &str =
    "The refresh token is unknown, expired, already used or its session ended (`token_invalid`)";

/// `/auth/*` and `/me`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(obtain_token))
        .routes(routes!(refresh_token))
        .routes(routes!(logout))
        .routes(routes!(get_me, update_me))
}

/// The 503 of the routes that hash a password.
const BUSY: &str = "Every password-hashing slot is busy; try again after `Retry-After`";
/// The 429 of the sign-in routes.
const FAILURES: &str = "Too many failed sign-ins from this address, or of this account from all addresses, within \
    the minute (successful ones do not count); see `Retry-After`";

/// Creates a client account. The role is always `client`: workers and admins are made by admins.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterInput,
    responses((status = 201, description = "Created", body = User), (status = 409, response = Conflict),
              (status = 429, response = RateLimited), (status = 503, description = BUSY, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(input): Json<RegisterInput>,
) -> Result<(StatusCode, axum::Json<User>)> {
    let user = auth::register(&state.ctx, &ip, input).await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

/// `Set-Cookie` headers carrying a token pair for the browser UI, or clearing it.
fn session_cookies(
    state: &AppState,
    pair: Option<(&str, &str)>,
) -> AppendHeaders<[(header::HeaderName, HeaderValue); 2]> {
    AppendHeaders(state.cookies.session(pair).map(|value| {
        (
            header::SET_COOKIE,
            HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("")),
        )
    }))
}

/// Signs in: a token pair and the user. Also sets the session cookies for browsers. Failed sign-ins are limited
/// per address and, more generously, per account; failures from one address never stop the right password from
/// another.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginInput,
    responses((status = 200, description = "Success", body = LoginResponse),
              (status = 401, description = BAD_CREDENTIALS, body = ErrorBody),
              (status = 429, description = FAILURES, body = ErrorBody),
              (status = 503, description = BUSY, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(input): Json<LoginInput>,
) -> Result<impl IntoResponse> {
    let response = auth::login(&state.ctx, &ip, input).await?;
    Ok((
        session_cookies(&state, Some((&response.access, &response.refresh))),
        axum::Json(response),
    ))
}

/// The simplejwt-compatible alias of login: only the token pair.
#[utoipa::path(post, path = "/auth/token", tag = "auth", request_body = LoginInput,
    responses((status = 200, description = "Success", body = TokenPair),
              (status = 401, description = BAD_CREDENTIALS, body = ErrorBody),
              (status = 429, description = FAILURES, body = ErrorBody),
              (status = 503, description = BUSY, body = ErrorBody)))]
async fn obtain_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(input): Json<LoginInput>,
) -> Result<axum::Json<TokenPair>> {
    let response = auth::login(&state.ctx, &ip, input).await?;
    Ok(axum::Json(TokenPair {
        access: response.access,
        refresh: response.refresh,
    }))
}

/// Trades a refresh token for a new pair. Refresh tokens are single-use: presenting a used one again is treated
/// as theft and ends that whole session, except within a short grace after its rotation (10 s by default,
/// `REFRESH_REUSE_GRACE_SECS`), when it yields a fresh pair of the same session: two tabs of one browser renewing
/// an expired session at the same moment both stay signed in.
#[utoipa::path(post, path = "/auth/token/refresh", tag = "auth", request_body = RefreshInput,
    responses((status = 200, description = "Success", body = TokenPair),
              (status = 401, description = REFRESH_TOKEN_INVALID, body = ErrorBody)))]
async fn refresh_token(
    State(state): State<AppState>,
    Json(input): Json<RefreshInput>,
) -> Result<impl IntoResponse> {
    let pair = auth::refresh(&state.ctx, &input.refresh).await?;
    Ok((
        session_cookies(&state, Some((&pair.access, &pair.refresh))),
        axum::Json(pair),
    ))
}

/// Ends the session of a refresh token (every token rotated from it stops working) and clears the cookies.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshInput,
    responses((status = 204, description = "Done; no content"),
              (status = 401, description = REFRESH_TOKEN_INVALID, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    Json(input): Json<RefreshInput>,
) -> Result<impl IntoResponse> {
    auth::logout(&state.ctx, &input.refresh).await?;
    Ok((StatusCode::NO_CONTENT, session_cookies(&state, None)))
}

/// The caller's profile.
#[utoipa::path(get, path = "/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = User)))]
async fn get_me(call: Call) -> Reply<User> {
    users::me(&call.ctx, &call.actor).await.map(axum::Json)
}

/// Changes the caller's e-mail, name, phone or password (`role` and `id` are read-only). A new `password` needs
/// the caller's `current_password` (400 `invalid` on `current_password` if it is missing or wrong, and nothing
/// changes), and ends every session of the caller at once: refresh tokens revoked, access tokens issued before
/// refused (401 `token_invalid`), live sockets closed (4001). The answer then carries a fresh session in the
/// cookies, so the browser that made the change keeps working; API clients sign in again.
#[utoipa::path(patch, path = "/me", tag = "auth", security(("bearer" = [])), request_body = UpdateMeInput,
    responses((status = 200, description = "Success; after a password change, new session cookies", body = User),
              (status = 400, body = ErrorBody, description = "Invalid input (`invalid` or `parse_error`), \
                  or a missing or wrong `current_password`"),
              (status = 429, description = "Too many wrong current passwords; see `Retry-After`", body = ErrorBody),
              (status = 503, description = BUSY, body = ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    call: Call,
    Json(input): Json<UpdateMeInput>,
) -> Result<impl IntoResponse> {
    let updated = users::update_me(&call.ctx, &call.actor, input).await?;
    let cookies = updated
        .session
        .as_ref()
        .map(|pair| session_cookies(&state, Some((&pair.access, &pair.refresh))));
    Ok((cookies, axum::Json(updated.user)))
}

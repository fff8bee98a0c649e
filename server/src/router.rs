//! Assembles the whole HTTP surface: the REST API (with its OpenAPI document and docs), operations endpoints,
//! and the Leptos app, under the shared middleware.

use std::time::Duration;

use app::{api::ErrorCause, domain::Error};
use axum::http::request::Parts;
use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderName, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use leptos::{
    nonce::Nonce,
    prelude::{provide_context, use_context},
};
use leptos_axum::{LeptosRoutes as _, generate_route_list};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    services::ServeDir,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::{extract::BODY_LIMIT, http, http::headers::CspNonce, openapi, state::AppState};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The REST API's router and its OpenAPI document, built from the same handler list so they cannot drift.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut spec) = OpenApiRouter::with_openapi(openapi::base())
        .nest(
            "/api/v1",
            OpenApiRouter::new()
                .merge(http::auth::router())
                .merge(http::users::router())
                .merge(http::services::router())
                .merge(http::orders::router())
                .merge(http::notifications::router())
                .merge(http::channels::router())
                .merge(http::transactions::router())
                .merge(http::payments::router()),
        )
        .split_for_parts();
    openapi::add_common_responses(&mut spec);
    (router, spec)
}

/// The complete application.
pub fn build(state: AppState) -> Router {
    let (api, spec) = api();
    let api = api
        .route(
            "/api/v1/notification-page/",
            get(|| async { Redirect::permanent("/notifications") }),
        )
        // Payme wants a JSON-RPC error (-32300, HTTP 200) for any method but POST.
        .route(
            "/api/v1/payment/payme",
            get(http::payments::payme_not_post)
                .put(http::payments::payme_not_post)
                .patch(http::payments::payme_not_post)
                .delete(http::payments::payme_not_post)
                .options(http::payments::payme_not_post),
        )
        .route(
            "/api/v1/payment/click",
            get(http::payments::click_not_post)
                .put(http::payments::click_not_post)
                .patch(http::payments::click_not_post)
                .delete(http::payments::click_not_post)
                .options(http::payments::click_not_post),
        )
        .route(
            "/api/v1/{*rest}",
            axum::routing::any(|| async { Error::NotFound }),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT));

    let leptos_options = state.leptos_options.clone();
    let pkg_dir = format!(
        "{}/{}",
        leptos_options.site_root, leptos_options.site_pkg_dir
    );
    let routes = generate_route_list(app::App);
    // Server functions and pages get the same application context as every other way in.
    let (ctx, cookies) = (state.ctx.clone(), state.cookies);
    let provide = move || {
        provide_context(ctx.clone());
        provide_context(cookies);
        // The nonce of the response's Content-Security-Policy, for the inline scripts Leptos and the app write.
        let nonce = use_context::<Parts>().and_then(|p| p.extensions.get::<CspNonce>().cloned());
        if let Some(CspNonce(nonce)) = nonce {
            provide_context(Nonce::from_value(nonce));
        }
    };
    let web = Router::new()
        .merge(crate::sandbox::router())
        .leptos_routes_with_context(&state, routes, provide.clone(), move || {
            app::shell(leptos_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(provide, app::shell))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            http::web::resolve_caller,
        ))
        .layer(middleware::from_fn(http::web::drop_foreign_form_errors));
    // The bundle: hashed names, served precompressed (brotli, gzip) when the browser accepts it.
    let bundle = Router::new()
        .nest_service(
            "/pkg",
            ServeDir::new(pkg_dir)
                .precompressed_br()
                .precompressed_gzip(),
        )
        .layer(middleware::from_fn(http::web::immutable));

    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let shared = state.clone();
    // Swagger UI would otherwise send the document's address to validator.swagger.io for a badge.
    let docs = SwaggerUi::new("/api/docs")
        .url("/api/v1/openapi.json", spec)
        .config(utoipa_swagger_ui::Config::default().validator_url("none"));
    Router::new()
        .merge(docs)
        .merge(http::health::router())
        .merge(http::metrics::router())
        .merge(crate::live::socket::router())
        .merge(api)
        // Counted by route template: only routes that matched (the app's pages and files are the fallback).
        .route_layer(middleware::from_fn(http::metrics::track))
        .merge(web)
        .with_state(state)
        .merge(bundle)
        .layer(middleware::from_fn(log_failures))
        // Outside in: bodies bounded, session cookies under their inside names, then refused unless the cookie
        // comes from this site's pages.
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            http::origin::own_pages_only,
        ))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            http::web::session_cookie_names,
        ))
        .layer(middleware::from_fn(http::limits::limit_bodies))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::map_response(envelope_for_timeouts))
        .layer(CatchPanicLayer::custom(|_| {
            Error::Internal(anyhow::anyhow!("a request handler panicked")).into_response()
        }))
        // Every answer, the refusals and failures above included: kept on this site, with the security headers.
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            http::redirects::stay_on_site,
        ))
        .layer(middleware::from_fn_with_state(
            shared,
            http::headers::security_headers,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
                let id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!(
                    "request",
                    request.id = %id,
                    method = %request.method(),
                    uri = %request.uri().path()
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([
            axum::http::header::AUTHORIZATION,
            axum::http::header::COOKIE,
        ]))
}

async fn method_not_allowed() -> Response {
    let mut response = Error::BadRequest {
        code: "method_not_allowed",
        detail: "Method not allowed.".to_owned(),
    }
    .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// The timeout layer answers 408 with an empty body: give it the error envelope like every other error.
async fn envelope_for_timeouts(response: Response) -> Response {
    if response.status() != StatusCode::REQUEST_TIMEOUT {
        return response;
    }
    let mut timed_out = Error::BadRequest {
        code: "timeout",
        detail: "The request took too long and was abandoned.".to_owned(),
    }
    .into_response();
    *timed_out.status_mut() = StatusCode::REQUEST_TIMEOUT;
    timed_out
}

/// Logs the cause of every 5xx once, here at the boundary, inside the request's span.
async fn log_failures(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(ErrorCause(cause)) = response.extensions().get::<ErrorCause>() {
        tracing::error!(error = %cause, status = response.status().as_u16(), "Request failed");
    }
    response
}

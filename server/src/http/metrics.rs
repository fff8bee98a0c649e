//! `/metrics`: Prometheus text — requests by route and status with latency histograms, open sockets, events
//! broadcast and frames sent by the live feed, and the database pool's use. Not for the public: behind the
//! shipped nginx only local scrapers reach it, and `METRICS_TOKEN` can require a bearer token as well.

use std::{sync::OnceLock, time::Instant};

use app::domain::Error;
use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret as _;

use crate::state::AppState;

/// The process-wide recorder (the `metrics` facade has one global recorder; every app in the process shares it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let seconds = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &seconds)
            .expect("the bucket list is not empty")
            .install_recorder()
            .expect("only this function installs the metrics recorder, once")
    })
}

/// `GET /metrics`.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render_metrics))
}

/// The metrics, to whoever shows `METRICS_TOKEN` as a bearer token when one is configured (401 otherwise).
async fn render_metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, given)| given.trim());
        if !given.is_some_and(|given| same_secret(given, token.expose_secret())) {
            return Error::NotAuthenticated.into_response();
        }
    }
    let idle = state.ctx.db.num_idle();
    let size = state.ctx.db.size() as usize;
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("db_pool_connections", "state" => "busy").set(size.saturating_sub(idle) as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
        .into_response()
}

/// Compares a presented token with the configured one without telling, by its timing, how much of it matched.
fn same_secret(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0_u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Counts every request by method, route template and status, and times it.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

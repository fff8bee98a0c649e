//! Operations endpoints: liveness and readiness.

use std::time::Duration;

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};

use crate::state::AppState;

/// `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(get_health))
        .route("/readyz", get(get_readiness))
}

/// The process is up.
async fn get_health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database and Redis answer within a second; 503 otherwise.
async fn get_readiness(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let limit = Duration::from_secs(1);
    let database = tokio::time::timeout(limit, sqlx::query("select 1").execute(&state.ctx.db))
        .await
        .is_ok_and(|r| r.is_ok());
    let mut redis = state.redis.clone();
    let redis_up =
        tokio::time::timeout(limit, redis::cmd("PING").query_async::<String>(&mut redis))
            .await
            .is_ok_and(|r| r.is_ok());
    let status = if database && redis_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |up: bool| if up { "ok" } else { "unavailable" };
    (
        status,
        Json(json!({ "database": word(database), "redis": word(redis_up) })),
    )
}

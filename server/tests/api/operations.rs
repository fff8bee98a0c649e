//! Operations: health, readiness, request ids, the reversible migrations and the server CLI.

use std::process::Command;

use sqlx::PgPool;

use crate::helpers::{spawn_app, spawn_app_with};

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn health_and_readiness_answer_and_every_response_carries_a_request_id(pool: PgPool) {
    let app = spawn_app(pool).await;

    let health = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("served");
    let ready = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("served");

    assert_eq!(health.status().as_u16(), 200);
    assert!(
        health
            .headers()
            .get("x-request-id")
            .is_some_and(|v| v.len() >= 32)
    );
    assert_eq!(ready.status().as_u16(), 200);
    let body: serde_json::Value = ready.json().await.expect("JSON");
    assert_eq!(body, serde_json::json!({"database": "ok", "redis": "ok"}));
    // A request id given by a proxy is kept.
    let tagged = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("served");
    assert_eq!(tagged.headers()["x-request-id"], "abc-123");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_server_does_not_start_without_redis(pool: PgPool) {
    // Nothing listens on port 1 of loopback.
    let mut config = crate::helpers::test_config();
    config.redis_url = "redis://127.0.0.1:1".to_owned();
    let options = leptos::prelude::LeptosOptions::builder()
        .output_name("task")
        .build();
    let refused = server::build_state(config, pool, options).await;
    assert!(refused.is_err(), "the server must not start without Redis");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_migration_reverts_and_applies_again(pool: PgPool) {
    server::MIGRATOR
        .undo(&pool, 0)
        .await
        .expect("every down migration runs");
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from pg_tables where schemaname = 'public' and tablename <> '_sqlx_migrations'",
    )
        .fetch_one(&pool)
        .await
        .expect("a count");
    assert_eq!(tables, 0, "the down migrations leave tables behind");
    server::MIGRATOR
        .run(&pool)
        .await
        .expect("the migrations apply again");
}

/// The URL of the test's own database.
pub fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests");
    let name = pool
        .connect_options()
        .get_database()
        .expect("a database name")
        .to_owned();
    let (server, query) = base
        .split_once('?')
        .map_or((base.as_str(), None), |(s, q)| (s, Some(q)));
    let server = server.rsplit_once('/').map_or(server, |(s, _)| s);
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

fn server_cli(pool: &PgPool, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .env("DATABASE_URL", database_url(pool))
        .env("ADMIN_PASSWORD", "a long admin password")
        .env_remove("JWT_SECRET")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the server binary runs")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_cli_creates_an_admin_and_seeds_demo_data_idempotently(pool: PgPool) {
    let created = server_cli(&pool, &["create-admin", "--username", "boss"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let again = server_cli(&pool, &["create-admin", "--username", "BOSS"]);
    assert!(!again.status.success(), "a duplicate admin was created");

    for _ in 0..2 {
        let seeded = server_cli(&pool, &["seed-demo"]);
        assert!(
            seeded.status.success(),
            "{}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        let out = String::from_utf8_lossy(&seeded.stdout);
        assert!(
            out.contains("admin-demo-2026") && out.contains("client-demo-2026"),
            "{out}"
        );
    }
    let roles: Vec<(String, i64)> =
        sqlx::query_as("select role, count(*) from users group by role order by role")
            .fetch_all(&pool)
            .await
            .expect("counts");
    assert_eq!(
        roles,
        [
            ("admin".to_owned(), 2),
            ("client".to_owned(), 1),
            ("worker".to_owned(), 2)
        ]
    );
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&pool)
        .await
        .expect("a count");
    assert_eq!(orders, 1);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn serve_refuses_to_start_without_a_jwt_secret(pool: PgPool) {
    let out = server_cli(&pool, &["serve"]);

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("JWT_SECRET") || stderr.contains("jwt-secret"),
        "{stderr}"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn metrics_count_requests_by_route_and_status_in_prometheus_format(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(app::models::Role::Client).await;
    app.get("/api/v1/orders/999999", &user.access)
        .await
        .expect(404);

    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("served");

    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("text");
    let counted = text.lines().any(|l| {
        l.starts_with("http_requests_total{")
            && l.contains(r#"route="/api/v1/orders/{id}""#)
            && l.contains(r#"status="404""#)
    });
    assert!(counted, "no counter for the 404 in:\n{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "no latency histogram"
    );
    assert!(
        text.contains("db_pool_connections{state=\"idle\"}"),
        "no pool gauge"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn metrics_ask_for_the_configured_bearer_token(pool: PgPool) {
    let app = spawn_app_with(pool, |c| {
        c.metrics_token = Some(secrecy::SecretString::from("scrape-0123456789"));
    })
    .await;
    let user = app.user(app::models::Role::Admin).await;
    let metrics = |authorization: Option<String>| {
        let mut request = app.http.get(format!("{}/metrics", app.base));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send()
    };

    for (authorization, what) in [
        (None, "no token"),
        (
            Some("Bearer scrape-012345678".to_owned()),
            "a shorter token",
        ),
        (Some("Bearer scrape-0123456780".to_owned()), "another token"),
        (
            Some("Basic c2NyYXBlLTAxMjM0NTY3ODk=".to_owned()),
            "the token as Basic",
        ),
        (
            Some(format!("Bearer {}", user.access)),
            "an admin's access token",
        ),
    ] {
        let response = metrics(authorization).await.expect("served");
        assert_eq!(response.status().as_u16(), 401, "{what}");
        let body: serde_json::Value = response.json().await.expect("the envelope");
        assert_eq!(body["code"], "not_authenticated", "{what}");
    }
    let response = metrics(Some("Bearer scrape-0123456789".to_owned()))
        .await
        .expect("served");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response
            .text()
            .await
            .expect("text")
            .contains("http_requests_total")
    );
}

#[test]
fn the_shipped_proxy_keeps_metrics_to_local_scrapers() {
    let conf = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/nginx/task.conf"
    ))
    .expect("the nginx configuration");
    let block = conf
        .split("location = /metrics {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("a location of its own for /metrics");
    let rules: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("allow") || l.starts_with("deny"))
        .collect();
    assert_eq!(
        rules,
        ["allow 127.0.0.1;", "allow ::1;", "deny all;"],
        "/metrics is for local scrapers only"
    );
}

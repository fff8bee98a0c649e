//! Sign-up, sign-in, refresh rotation, sign-out, `/me`, cookies and the login rate limit.

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{spawn_app, spawn_app_with};
use app::models::Role;

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn register_creates_an_active_client_and_never_shows_a_password_hash(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let body = json!({"username": "Aziza", "password": "long enough pw", "email": "aziza@example.uz",
                      "full_name": "Aziza K", "phone": "+998901234567"});

    // Act
    let answer = app
        .call(Method::POST, "/api/v1/auth/register", None, Some(body))
        .await;

    // Assert
    let user = answer.expect(201);
    assert_eq!(user["role"], "client");
    assert_eq!(user["username"], "Aziza");
    assert_eq!(user["is_active"], true);
    let keys: Vec<&String> = user.as_object().expect("an object").keys().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "full_name",
            "id",
            "is_active",
            "phone",
            "role",
            "username"
        ]
    );
    assert!(!user.to_string().contains("argon2"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn register_refuses_to_take_a_role_from_the_body(pool: PgPool) {
    let app = spawn_app(pool).await;
    let before = app.row_counts().await;

    let answer = app
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"username": "mallory", "password": "long enough pw", "role": "admin"})),
        )
        .await;

    answer.expect(400);
    assert!(answer.body["errors"]["role"].is_array(), "{}", answer.body);
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn register_refuses_a_username_taken_in_any_case(pool: PgPool) {
    let app = spawn_app(pool).await;
    let first = json!({"username": "Bobur", "password": "long enough pw"});
    app.call(Method::POST, "/api/v1/auth/register", None, Some(first))
        .await
        .expect(201);

    let answer = app
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"username": "bOBUR", "password": "other long pw"})),
        )
        .await;

    answer.expect(409);
    assert_eq!(answer.code(), "conflict");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn register_validates_every_field_and_writes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let before = app.row_counts().await;
    let cases = [
        (
            json!({"username": "ab", "password": "long enough pw"}),
            "username",
            "too short a username",
        ),
        (
            json!({"username": "bad name!", "password": "long enough pw"}),
            "username",
            "spaces and symbols",
        ),
        (
            json!({"username": "charlie", "password": "short"}),
            "password",
            "a password under 8 characters",
        ),
        (
            json!({"username": "charlie1", "password": "Charlie1"}),
            "password",
            "the username as password",
        ),
        (
            json!({"username": "charlie", "password": "long enough pw", "email": "nope"}),
            "email",
            "a bad e-mail",
        ),
        (
            json!({"username": "charlie", "password": "long enough pw", "phone": "12ab"}),
            "phone",
            "a bad phone",
        ),
        (
            json!({"password": "long enough pw"}),
            "username",
            "a missing username",
        ),
    ];
    for (body, field, description) in cases {
        let answer = app
            .call(Method::POST, "/api/v1/auth/register", None, Some(body))
            .await;
        assert_eq!(answer.status, 400, "{description}: {}", answer.body);
        assert_eq!(answer.code(), "invalid", "{description}");
        assert!(
            answer.body["errors"][field].is_array(),
            "{description}: no error on {field}: {}",
            answer.body
        );
    }
    assert_eq!(app.row_counts().await, before);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn login_answers_the_same_for_an_unknown_user_and_a_wrong_password(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;

    let unknown = app.login("ghost", "whatever1").await;
    let wrong = app.login(&user.username, "wrong pw 1").await;

    assert_eq!((unknown.status, unknown.code()), (401, "bad_credentials"));
    assert_eq!((wrong.status, wrong.code()), (401, "bad_credentials"));
    assert_eq!(unknown.body, wrong.body);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn login_returns_tokens_the_user_and_http_only_cookies(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Worker).await;

    let answer = app
        .login(user.username.to_uppercase(), &user.password)
        .await;

    let body = answer.expect(200);
    assert_eq!(body["user"]["id"], user.id);
    assert_eq!(body["user"]["role"], "worker");
    let cookies: Vec<&str> = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("task_access=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("task_refresh=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_token_alias_returns_only_the_pair(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;

    let answer = app
        .call(
            Method::POST,
            "/api/v1/auth/token",
            None,
            Some(json!({"username": user.username, "password": user.password})),
        )
        .await;

    let body = answer.expect(200);
    let keys: Vec<&String> = body.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["access", "refresh"]);
    app.get("/api/v1/me", body["access"].as_str().expect("a token"))
        .await
        .expect(200);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_refresh_token_rotates_and_works_only_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;

    let first = app.refresh(&user.refresh).await;
    let pair = first.expect(200).clone();
    let again = app.refresh(&user.refresh).await;

    assert_ne!(pair["refresh"], user.refresh.as_str());
    app.get("/api/v1/me", pair["access"].as_str().expect("a token"))
        .await
        .expect(200);
    assert_eq!((again.status, again.code()), (401, "token_invalid"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn logout_ends_the_session_of_the_refresh_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;

    app.call(
        Method::POST,
        "/api/v1/auth/logout",
        None,
        Some(json!({"refresh": user.refresh})),
    )
    .await
    .expect(204);
    let refresh = app.refresh(&user.refresh).await;
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh": "not-a-token"})),
        )
        .await;

    assert_eq!((refresh.status, refresh.code()), (401, "token_invalid"));
    assert_eq!((unknown.status, unknown.code()), (401, "token_invalid"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn me_can_change_profile_fields_but_not_role_or_id(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;

    let changed = app
        .patch(
            "/api/v1/me",
            &user.access,
            json!({"full_name": "New Name", "email": "new@example.uz", "phone": null}),
        )
        .await;
    let role = app
        .patch("/api/v1/me", &user.access, json!({"role": "admin"}))
        .await;
    let id = app
        .patch("/api/v1/me", &user.access, json!({"id": 1}))
        .await;

    let body = changed.expect(200);
    assert_eq!(body["full_name"], "New Name");
    assert_eq!(body["email"], "new@example.uz");
    assert_eq!(body["phone"], serde_json::Value::Null);
    assert_eq!(role.status, 400);
    assert_eq!(id.status, 400);
    assert_eq!(
        app.get("/api/v1/me", &user.access).await.expect(200)["role"],
        "client"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn changing_the_password_ends_other_sessions_and_the_new_one_works(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;

    app.patch(
        "/api/v1/me",
        &user.access,
        json!({"password": "a brand new secret", "current_password": user.password}),
    )
    .await
    .expect(200);

    let refresh = app.refresh(&user.refresh).await;
    assert_eq!(refresh.status, 401);
    let old = app.login(&user.username, &user.password).await;
    assert_eq!(old.status, 401);
    app.login(&user.username, "a brand new secret")
        .await
        .expect(200);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_access_cookie_authenticates_like_the_bearer_header(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;

    let response = app
        .http
        .get(format!("{}/api/v1/me", app.base))
        .header("cookie", format!("theme=dark; task_access={}", user.access))
        .send()
        .await
        .expect("the server answers");

    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["id"], user.id);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn login_is_rate_limited_with_retry_after(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.login_rate_limit = 3).await;
    let body = json!({"username": "someone", "password": "wrong password"});

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            app.call(Method::POST, "/api/v1/auth/login", None, Some(body.clone()))
                .await,
        );
    }

    let codes: Vec<u16> = statuses.iter().map(|a| a.status).collect();
    assert_eq!(codes, [401, 401, 401, 429]);
    let last = &statuses[3];
    assert_eq!(last.code(), "throttled");
    let retry: u64 = last.headers["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

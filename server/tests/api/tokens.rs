//! The token rules: expiry, signature, `alg: none`, token type, refresh reuse, deactivation.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;
use app::models::Role;

fn sign(secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signs")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_malformed_or_foreign_token_is_refused_as_token_invalid(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;
    let sub = user.id.to_string();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(
            json!({"sub": sub, "typ": "access", "iat": now(), "exp": now() + 600}).to_string()
        )
    );
    let cases = [
        (
            sign(
                &app.jwt_secret,
                json!({"sub": sub, "typ": "access", "iat": now() - 1000, "exp": now() - 10}),
            ),
            "expired",
        ),
        (
            sign(
                "another secret that is long enough!!",
                json!({"sub": sub, "typ": "access", "iat": now(), "exp": now() + 600}),
            ),
            "wrong signature",
        ),
        (unsigned, "alg none"),
        (
            sign(
                &app.jwt_secret,
                json!({"sub": sub, "typ": "refresh", "iat": now(), "exp": now() + 600}),
            ),
            "wrong token type",
        ),
        (
            sign(
                &app.jwt_secret,
                json!({"sub": sub, "iat": now(), "exp": now() + 600}),
            ),
            "no token type",
        ),
        (
            sign(
                &app.jwt_secret,
                json!({"sub": "999999", "typ": "access", "iat": now(), "exp": now() + 600}),
            ),
            "unknown user",
        ),
        (user.refresh.clone(), "a refresh token used as access"),
        ("garbage".to_owned(), "not a JWT"),
    ];
    for (token, description) in cases {
        let answer = app
            .call(Method::GET, "/api/v1/me", Some(&token), None)
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (401, "token_invalid"),
            "{description}"
        );
        assert_eq!(
            answer.headers["www-authenticate"], "Bearer",
            "{description}"
        );
    }
    // The control: a well-formed token of ours is accepted.
    let good = sign(
        &app.jwt_secret,
        json!({"sub": sub, "typ": "access", "iat": now(), "exp": now() + 600}),
    );
    app.get("/api/v1/me", &good).await.expect(200);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn no_credentials_is_not_authenticated(pool: PgPool) {
    let app = spawn_app(pool).await;

    let answer = app.call(Method::GET, "/api/v1/orders", None, None).await;

    assert_eq!((answer.status, answer.code()), (401, "not_authenticated"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_session(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;
    let rotated = app.refresh(&user.refresh).await;
    let newest = rotated.expect(200)["refresh"]
        .as_str()
        .expect("a token")
        .to_owned();

    // Someone replays the old token: refused, and the legitimate newest token dies with it.
    let replay = app.refresh(&user.refresh).await;
    let after = app.refresh(&newest).await;

    assert_eq!((replay.status, replay.code()), (401, "token_invalid"));
    assert_eq!((after.status, after.code()), (401, "token_invalid"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_deactivated_user_loses_access_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let user = app.user(Role::Worker).await;
    app.get("/api/v1/me", &user.access).await.expect(200);

    app.delete(&format!("/api/v1/users/{}", user.id), &admin.access)
        .await
        .expect(204);

    let access = app
        .call(Method::GET, "/api/v1/me", Some(&user.access), None)
        .await;
    let refresh = app.refresh(&user.refresh).await;
    let login = app.login(&user.username, &user.password).await;
    assert_eq!((access.status, access.code()), (401, "token_invalid"));
    assert_eq!((refresh.status, refresh.code()), (401, "token_invalid"));
    assert_eq!((login.status, login.code()), (401, "bad_credentials"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn refresh_tokens_expired_for_a_day_are_pruned_and_the_rest_kept(pool: PgPool) {
    // Arrange: three sessions; one token expired two days ago, one an hour ago, one still valid.
    let app = spawn_app(pool.clone()).await;
    let (old, recent, live) = (
        app.user(Role::Client).await,
        app.user(Role::Client).await,
        app.user(Role::Client).await,
    );
    for (user, age) in [(&old, "2 days"), (&recent, "1 hour")] {
        sqlx::query(
            "update refresh_tokens set expires_at = now() - $2::interval where user_id = $1",
        )
        .bind(user.id)
        .bind(age)
        .execute(&pool)
        .await
        .expect("aged");
    }
    let tokens_of = |id: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select count(*) from refresh_tokens where user_id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("counted")
        }
    };
    let before = (
        tokens_of(old.id).await,
        tokens_of(recent.id).await,
        tokens_of(live.id).await,
    );
    assert!(before.0 > 0 && before.1 > 0 && before.2 > 0, "{before:?}");

    // Act: batches of one, so the loop runs more than once.
    let pruned =
        app::domain::tokens::prune_expired(&pool, std::time::Duration::from_secs(24 * 60 * 60), 1)
            .await
            .expect("pruned");

    // Assert: only the day-old ones went; the others still answer as before.
    assert_eq!(pruned, u64::try_from(before.0).expect("a count"));
    assert_eq!(
        (
            tokens_of(old.id).await,
            tokens_of(recent.id).await,
            tokens_of(live.id).await
        ),
        (0, before.1, before.2)
    );
    let gone = app.refresh(&old.refresh).await;
    assert_eq!((gone.status, gone.code()), (401, "token_invalid"));
    let expired = app.refresh(&recent.refresh).await;
    assert_eq!((expired.status, expired.code()), (401, "token_invalid"));
    app.refresh(&live.refresh).await.expect(200);
}

//! Ending sessions: a password change needs the current password; a password change, a new role or a deactivation
//! ends every session of the user at once on every instance (refresh tokens, access tokens issued before, open
//! sockets), the session that changed its own password going on with a fresh pair; and the grace that lets two
//! tabs renew one expired session at the same moment.

use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _};

use crate::helpers::{Answer, TestApp, TestUser, spawn_app, spawn_app_with};
use app::models::Role;

/// The value a `Set-Cookie` header of `answer` gives cookie `name`.
fn cookie(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .map(str::to_owned)
}

/// A second session of `user`: signs in again.
async fn another_session(app: &TestApp, user: &TestUser) -> (String, String) {
    let body = app
        .login(&user.username, &user.password)
        .await
        .expect(200)
        .clone();
    (token(&body, "access"), token(&body, "refresh"))
}

fn token(body: &Value, name: &str) -> String {
    body[name].as_str().expect("a token").to_owned()
}

/// The status and code `GET /me` answers with `access`.
async fn me(app: &TestApp, access: &str) -> (u16, String) {
    let answer = app
        .call(Method::GET, "/api/v1/me", Some(access), None)
        .await;
    (answer.status, answer.code().to_owned())
}

/// Waits for a live socket to close and returns its close code (`None`: closed without one).
async fn close_code(app: &TestApp, access: &str) -> impl Future<Output = Option<u16>> + use<> {
    let mut request = format!("{}/ws/notifications", app.ws_base())
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {access}").parse().expect("a header value"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens");
    // The hello frame: the socket is joined before the change is made.
    let hello = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    assert!(matches!(hello, Ok(Some(Ok(Message::Text(_))))), "{hello:?}");
    async move {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("the socket closes within 10 s")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_new_password_needs_the_current_one_and_without_it_nothing_changes(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;
    let before = app.fingerprint().await;
    let cases = [
        (
            json!({"password": "a brand new secret"}),
            "no current password",
        ),
        (
            json!({"password": "a brand new secret", "current_password": ""}),
            "an empty current password",
        ),
        (
            json!({"password": "a brand new secret", "current_password": "not the password"}),
            "a wrong current password",
        ),
        (
            json!({"password": "a brand new secret", "current_password": null}),
            "a null current password",
        ),
        (
            json!({"password": "a brand new secret", "full_name": "Changed", "current_password": "nope nope"}),
            "a wrong current password with another field",
        ),
    ];

    for (body, description) in cases {
        // Act
        let answer = app.patch("/api/v1/me", &user.access, body).await;

        // Assert
        assert_eq!(
            (answer.status, answer.code()),
            (400, "invalid"),
            "{description}: {}",
            answer.body
        );
        assert!(
            answer.body["errors"]["current_password"].is_array(),
            "{description}: no error on current_password: {}",
            answer.body
        );
        assert_eq!(
            app.fingerprint().await,
            before,
            "{description} changed something"
        );
    }
    assert_eq!(me(&app, &user.access).await, (200, String::new()));
    app.login(&user.username, &user.password).await.expect(200);
    // Other fields need no current password.
    let renamed = app
        .patch("/api/v1/me", &user.access, json!({"full_name": "Renamed"}))
        .await;
    assert_eq!(renamed.expect(200)["full_name"], "Renamed");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn wrong_current_passwords_are_throttled_like_failed_sign_ins(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.login_rate_limit = 3).await;
    let user = app.user(Role::Client).await;
    let wrong = json!({"password": "a brand new secret", "current_password": "a guess"});

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.patch("/api/v1/me", &user.access, wrong.clone()).await);
    }

    let codes: Vec<(u16, &str)> = statuses.iter().map(|a| (a.status, a.code())).collect();
    assert_eq!(
        codes,
        [
            (400, "invalid"),
            (400, "invalid"),
            (400, "invalid"),
            (429, "throttled")
        ]
    );
    assert!(statuses[3].headers.contains_key("retry-after"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_password_change_ends_every_session_on_every_instance_but_the_changing_one_goes_on(
    pool: PgPool,
) {
    // Arrange: two sessions of one user, both known to both instances (the second caches the user).
    let a = spawn_app(pool).await;
    let b = a.second_instance().await;
    let user = a.user(Role::Client).await;
    let (other_access, other_refresh) = another_session(&a, &user).await;
    for (app, access) in [(&a, &user.access), (&b, &user.access), (&b, &other_access)] {
        assert_eq!(me(app, access).await.0, 200);
    }
    let socket = close_code(&b, &other_access).await;

    // Act
    let changed = a
        .patch(
            "/api/v1/me",
            &user.access,
            json!({"password": "a brand new secret", "current_password": user.password}),
        )
        .await;

    // Assert: every earlier token is refused everywhere, and the socket was closed as revoked.
    changed.expect(200);
    for (app, access, description) in [
        (&a, &user.access, "the changing session's old token on A"),
        (&b, &user.access, "the changing session's old token on B"),
        (&a, &other_access, "the other session on A"),
        (&b, &other_access, "the other session on B"),
    ] {
        assert_eq!(
            me(app, access).await,
            (401, "token_invalid".to_owned()),
            "{description}"
        );
    }
    for refresh in [&user.refresh, &other_refresh] {
        let answer = a.refresh(refresh).await;
        assert_eq!((answer.status, answer.code()), (401, "token_invalid"));
    }
    assert_eq!(socket.await, Some(4001));
    // The session that made the change goes on with the pair in its cookies, on every instance.
    let access = cookie(&changed, "task_access").expect("a new access cookie");
    let refresh = cookie(&changed, "task_refresh").expect("a new refresh cookie");
    assert_eq!(me(&a, &access).await.0, 200);
    assert_eq!(me(&b, &access).await.0, 200);
    b.refresh(&refresh).await.expect(200);
    a.login(&user.username, "a brand new secret")
        .await
        .expect(200);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_new_role_or_a_deactivation_refuses_every_access_token_issued_before(pool: PgPool) {
    let a = spawn_app(pool).await;
    let b = a.second_instance().await;
    let admin = a.user(Role::Admin).await;
    let cases = [
        (vec![json!({"role": "worker"})], "a new role"),
        (
            vec![json!({"is_active": false}), json!({"is_active": true})],
            "a deactivation, even undone",
        ),
        (
            vec![json!({"password": "set by the admin"})],
            "a password set by an admin",
        ),
    ];
    for (changes, description) in cases {
        // Arrange: the user's token is accepted (and the user cached) on both instances.
        let user = a.user(Role::Client).await;
        assert_eq!(me(&a, &user.access).await.0, 200, "{description}");
        assert_eq!(me(&b, &user.access).await.0, 200, "{description}");

        // Act
        for change in changes {
            a.patch(&format!("/api/v1/users/{}", user.id), &admin.access, change)
                .await
                .expect(200);
        }

        // Assert
        for app in [&a, &b] {
            assert_eq!(
                me(app, &user.access).await,
                (401, "token_invalid".to_owned()),
                "{description}"
            );
        }
        let refresh = b.refresh(&user.refresh).await;
        assert_eq!(refresh.status, 401, "{description}");
    }
    // An unrelated change (a name) ends nothing.
    let user = a.user(Role::Client).await;
    a.patch(
        &format!("/api/v1/users/{}", user.id),
        &admin.access,
        json!({"full_name": "Just a name", "role": "client"}),
    )
    .await
    .expect(200);
    assert_eq!(me(&b, &user.access).await.0, 200);
    a.refresh(&user.refresh).await.expect(200);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn two_tabs_renewing_one_expired_session_at_once_both_stay_signed_in(pool: PgPool) {
    // Arrange: the default grace; two tabs hold the same refresh cookie and no access cookie.
    let app = spawn_app_with(pool, |c| c.refresh_reuse_grace_secs = 10).await;
    let user = app.user(Role::Client).await;
    let tab = || {
        app.http
            .get(format!("{}/orders", app.base))
            .header("accept", "text/html")
            .header("cookie", format!("task_refresh={}", user.refresh))
            .send()
    };

    // Act
    let (first, second) = tokio::join!(tab(), tab());

    // Assert: both pages are the signed-in user's, each with a working pair of the same session.
    let mut refreshes = Vec::new();
    for response in [first, second] {
        let response = response.expect("the server answers");
        let cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let html = response.text().await.expect("a page");
        assert!(
            html.contains("My orders"),
            "a tab was signed out: {cookies:?}"
        );
        let access = cookies
            .iter()
            .find_map(|c| c.strip_prefix("task_access="))
            .and_then(|c| c.split(';').next())
            .expect("an access cookie");
        assert!(
            !access.is_empty(),
            "a tab's cookies were cleared: {cookies:?}"
        );
        assert_eq!(me(&app, access).await.0, 200);
        let refresh = cookies
            .iter()
            .find_map(|c| c.strip_prefix("task_refresh="))
            .and_then(|c| c.split(';').next())
            .expect("a refresh cookie");
        refreshes.push(refresh.to_owned());
    }
    assert_ne!(refreshes[0], refreshes[1]);
    // One session: signing out with either pair ends the other too.
    app.call(
        Method::POST,
        "/api/v1/auth/logout",
        None,
        Some(json!({"refresh": refreshes[0]})),
    )
    .await
    .expect(204);
    assert_eq!(app.refresh(&refreshes[1]).await.status, 401);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_rotated_refresh_token_gets_a_pair_within_the_grace_and_revokes_the_session_after_it(
    pool: PgPool,
) {
    let app = spawn_app_with(pool, |c| c.refresh_reuse_grace_secs = 10).await;
    let user = app.user(Role::Client).await;
    let first = app.refresh(&user.refresh).await.expect(200).clone();

    // Within the grace: a fresh pair of the same session.
    let again = app.refresh(&user.refresh).await.expect(200).clone();
    assert_ne!(again["refresh"], first["refresh"]);
    assert_eq!(me(&app, &token(&again, "access")).await.0, 200);

    // After it (the rotation moved 11 s into the past): theft, and the whole session ends.
    sqlx::query("update refresh_tokens set used_at = used_at - interval '11 seconds' where used_at is not null")
        .execute(&app.db)
        .await
        .expect("the clock moves");
    let late = app.refresh(&user.refresh).await;
    assert_eq!((late.status, late.code()), (401, "token_invalid"));
    for pair in [&first, &again] {
        let answer = app.refresh(token(pair, "refresh")).await;
        assert_eq!((answer.status, answer.code()), (401, "token_invalid"));
    }
}

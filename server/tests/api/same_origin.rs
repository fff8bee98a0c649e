//! The session cookie works only from this site's own pages (API.md, "Requests authenticated by the cookie"):
//! every unsafe request and every socket upgrade authenticated by the cookie must say it comes from this origin
//! (`Sec-Fetch-Site: same-origin`, else an `Origin` of this site), on every route and every way in (REST, server
//! functions, the sandbox, the live feed), with or without a body; otherwise 403 and nothing changes. Bearer
//! clients are not affected.

use app::models::Role;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest as _};

use crate::helpers::{TestApp, World, server_functions, spawn_app, unsafe_routes};

/// What a page elsewhere (another site, a sibling subdomain, a sandboxed frame), or a browser saying nothing,
/// sends along with the user's cookie.
fn foreign(app: &TestApp) -> Vec<Vec<(&'static str, String)>> {
    let host = app.base.trim_start_matches("http://");
    vec![
        vec![],
        vec![("sec-fetch-site", "cross-site".to_owned())],
        vec![("sec-fetch-site", "same-site".to_owned())],
        vec![("sec-fetch-site", "none".to_owned())],
        vec![("origin", "http://evil.example".to_owned())],
        vec![("origin", format!("http://shop.{host}"))],
        vec![("origin", format!("https://{host}.evil.example"))],
        vec![("origin", "null".to_owned())],
        // A browser's word for another origin wins over an `Origin` that names this one.
        vec![
            ("sec-fetch-site", "same-site".to_owned()),
            ("origin", app.base.clone()),
        ],
    ]
}

/// Sends `method path` with `cookie`, the `headers` and a body (JSON, a form, or none).
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, String)],
    body: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.base))
        .header("cookie", cookie);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    if let Some((content_type, body)) = body {
        request = request
            .header("content-type", content_type)
            .body(body.to_owned());
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn cookie_requests_from_elsewhere_are_refused_on_every_route_and_change_nothing(
    pool: PgPool,
) {
    // Arrange: an admin (who may do almost anything) signed in through the cookie, and every unsafe route.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut routes: Vec<(Method, String)> = unsafe_routes(&app, &w)
        .await
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    routes.extend(
        server_functions()
            .into_iter()
            .map(|path| (Method::POST, path)),
    );
    routes.push((Method::POST, format!("/sandbox/payme/{}", w.order_a)));
    let cookies = [
        format!("task_access={}", w.admin.access),
        // The refresh cookie alone renews the session: it authenticates as much as the access cookie.
        format!("i18n_pref_locale=en; task_refresh={}", w.admin.refresh),
    ];
    let before = app.fingerprint().await;

    // Act and assert
    for (method, path) in &routes {
        for cookie in &cookies {
            for headers in foreign(&app) {
                for body in [
                    None,
                    Some(("application/json", "{}")),
                    Some((
                        "application/x-www-form-urlencoded",
                        "action=pay&language=uz",
                    )),
                ] {
                    let (status, answer) =
                        send(&app, method.clone(), path, cookie, &headers, body).await;
                    assert_eq!(
                        (status, answer["code"].as_str()),
                        (403, Some("permission_denied")),
                        "{method} {path} with {headers:?} and {body:?}: {answer}"
                    );
                }
            }
        }
    }
    assert_eq!(
        app.fingerprint().await,
        before,
        "a refused request changed something"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn cookie_requests_from_this_sites_pages_and_bearer_clients_go_through(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let cookie = format!("task_access={}", w.client_a.access);
    let unread = || async {
        app.get("/api/v1/notifications/unread-count", &w.client_a.access)
            .await
            .expect(200)["count"]
            .as_i64()
            .expect("a count")
    };
    let ours = [
        vec![("sec-fetch-site", "same-origin".to_owned())],
        vec![("origin", app.base.clone())],
        vec![
            ("sec-fetch-site", "same-origin".to_owned()),
            ("origin", app.base.clone()),
        ],
    ];
    for headers in ours {
        // A new notification to mark read, then the body-less read-all with only the cookie.
        app.post(
            &format!("/api/v1/orders/{}/messages", w.order_a),
            &w.worker_a.access,
            json!({"text": "hello"}),
        )
        .await
        .expect(201);
        assert!(unread().await > 0);
        let (status, answer) = send(
            &app,
            Method::POST,
            "/api/v1/notifications/read-all",
            &cookie,
            &headers,
            None,
        )
        .await;
        assert_eq!(status, 200, "{headers:?}: {answer}");
        assert_eq!(unread().await, 0, "{headers:?}");
    }

    // A bearer client sends what it likes: the cookie rules do not concern it.
    app.post(
        &format!("/api/v1/orders/{}/messages", w.order_a),
        &w.worker_a.access,
        json!({"text": "again"}),
    )
    .await
    .expect(201);
    let response = app
        .http
        .post(format!("{}/api/v1/notifications/read-all", app.base))
        .bearer_auth(&w.client_a.access)
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(unread().await, 0);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_sign_in_form_posted_from_another_site_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;
    let form = format!("username={}&password={}", user.username, user.password);
    for headers in foreign(&app).into_iter().skip(1) {
        let (status, answer) = send(
            &app,
            Method::POST,
            "/_fn/login",
            "",
            &headers,
            Some(("application/x-www-form-urlencoded", &form)),
        )
        .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("permission_denied")),
            "{headers:?}"
        );
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_live_feed_opens_with_the_cookie_only_from_this_sites_pages(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;
    let open =
        |cookie: Option<String>, bearer: Option<&str>, headers: Vec<(&'static str, String)>| {
            let mut request = format!("{}/ws/notifications", app.ws_base())
                .into_client_request()
                .expect("a request");
            if let Some(cookie) = cookie {
                request
                    .headers_mut()
                    .insert("cookie", cookie.parse().expect("a header value"));
            }
            if let Some(token) = bearer {
                request.headers_mut().insert(
                    "authorization",
                    format!("Bearer {token}").parse().expect("a header value"),
                );
            }
            for (name, value) in headers {
                request
                    .headers_mut()
                    .insert(name, value.parse().expect("a header value"));
            }
            tokio_tungstenite::connect_async(request)
        };
    let cookie = || Some(format!("task_access={}", user.access));

    for headers in foreign(&app) {
        match open(cookie(), None, headers.clone()).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 403, "{headers:?}")
            }
            Ok(_) => panic!("{headers:?}: the socket opened"),
            Err(e) => panic!("{headers:?}: {e}"),
        }
    }
    for headers in [
        vec![("origin", app.base.clone())],
        vec![("sec-fetch-site", "same-origin".to_owned())],
    ] {
        open(cookie(), None, headers.clone())
            .await
            .unwrap_or_else(|e| panic!("{headers:?}: {e}"));
    }
    // An integrator's client with its token: no origin asked.
    open(
        None,
        Some(&user.access),
        vec![("origin", "http://evil.example".to_owned())],
    )
    .await
    .expect("a bearer client's socket opens");
}

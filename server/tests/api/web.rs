//! The browser app's server side: pages rendered in the reader's language and session, the session renewed from
//! the refresh cookie, server functions answering the error envelope, notification sentences in the caller's
//! language over REST, and the payment sandbox's banner on every page.

use app::models::Role;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{TestApp, TestUser, World, spawn_app, spawn_app_with};

/// A page's HTML and its `Set-Cookie` headers, fetched with `cookies` and `Accept-Language`.
async fn page(
    app: &TestApp,
    path: &str,
    cookies: &str,
    accept: &str,
) -> (u16, String, Vec<String>) {
    // As a browser asks for a page.
    let mut request = app
        .http
        .get(format!("{}{path}", app.base))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8");
    if !cookies.is_empty() {
        request = request.header("cookie", cookies);
    }
    if !accept.is_empty() {
        request = request.header("accept-language", accept);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let set_cookies = set_cookies(&response);
    (status, response.text().await.expect("a body"), set_cookies)
}

/// An answer's `Set-Cookie` headers.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// A REST answer's JSON, fetched with a bearer token and `Accept-Language`.
async fn get_json(app: &TestApp, path: &str, token: &str, accept: &str) -> Value {
    app.http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("accept-language", accept)
        .send()
        .await
        .expect("the server answers")
        .json::<Value>()
        .await
        .expect("JSON")
}

/// Calls a server function with form fields, signed in as `user` through the session cookie, from the site's
/// own page (as the browser says in `Sec-Fetch-Site`).
async fn server_fn(
    app: &TestApp,
    name: &str,
    user: &TestUser,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let body = serde_urlencoded::to_string(form).expect("a form encodes");
    let response = app
        .http
        .post(format!("{}/_fn/{name}", app.base))
        .header("cookie", format!("task_access={}", user.access))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn pages_render_on_the_server_in_the_readers_language(pool: PgPool) {
    let app = spawn_app(pool).await;

    let (status, html, _) = page(&app, "/signin", "", "uz-UZ,uz;q=0.9,ru;q=0.5").await;
    assert_eq!(status, 200);
    assert!(html.contains("lang=\"uz\""), "the document is marked Uzbek");
    assert!(
        html.contains("Kirish"),
        "the sign-in page is in Uzbek: {html}"
    );
    assert!(
        html.contains("name=\"username\""),
        "the form is in the HTML, before any script"
    );

    // The language cookie beats the header.
    let (_, html, _) = page(&app, "/signin", "i18n_pref_locale=ru", "uz").await;
    assert!(html.contains("lang=\"ru\""));
    assert!(html.contains("Вход"), "the sign-in page is in Russian");

    let (_, html, _) = page(&app, "/", "", "de").await;
    assert!(
        html.contains("lang=\"en\""),
        "an unsupported language falls back to English"
    );
    assert!(html.contains("Order services, follow them live"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_signed_in_page_shows_the_users_data_without_javascript(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;

    let cookie = format!("task_access={}; i18n_pref_locale=en", w.client_a.access);
    let (status, html, _) = page(&app, "/orders", &cookie, "").await;
    assert_eq!(status, 200);
    assert!(html.contains("My orders"));
    assert!(
        html.contains(&format!("data-order=\"{}\"", w.order_a)),
        "the client's order is listed"
    );
    assert!(
        !html.contains(&format!("data-order=\"{}\"", w.order_b)),
        "another client's order is not"
    );
    assert!(html.contains("id=\"unread-badge\""));

    let (_, html, _) = page(&app, &format!("/orders/{}", w.order_a), &cookie, "").await;
    assert!(
        html.contains(&format!("New order #{}", w.order_a)),
        "the timeline is rendered"
    );

    // Another client's order page is refused, in the page.
    let (status, html, _) = page(&app, &format!("/orders/{}", w.order_b), &cookie, "").await;
    assert!(html.contains("Nothing here."));
    assert_eq!(status, 404, "the page's status says so too");

    // Admin pages are for admins.
    let (_, html, _) = page(&app, "/admin/users", &cookie, "").await;
    assert!(html.contains("You may not open this page."));
    let admin = format!("task_access={}", w.admin.access);
    let (_, html, _) = page(&app, "/admin", &admin, "en").await;
    assert!(
        html.contains("Orders by status") && html.contains("<svg"),
        "the dashboard draws its charts"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_expired_access_cookie_is_renewed_from_the_refresh_cookie(pool: PgPool) {
    let app = spawn_app(pool).await;
    let client = app.user(Role::Client).await;

    let (_, html, set) = page(
        &app,
        "/orders",
        &format!("task_refresh={}", client.refresh),
        "en",
    )
    .await;
    assert!(
        html.contains("My orders"),
        "the page is rendered for the user"
    );
    assert!(
        set.iter()
            .any(|c| c.starts_with("task_access=") && c.contains("HttpOnly"))
    );
    assert!(
        set.iter()
            .any(|c| c.starts_with("task_refresh=") && !c.contains(&client.refresh))
    );

    // The old refresh token was used up: presenting it again signs the browser out and clears the cookies.
    let (_, html, set) = page(
        &app,
        "/orders",
        &format!("task_refresh={}", client.refresh),
        "en",
    )
    .await;
    assert!(html.contains("Sign in to see this page."));
    assert!(
        set.iter()
            .any(|c| c.starts_with("task_access=;") && c.contains("Max-Age=0"))
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn server_functions_use_the_domain_and_answer_the_envelope(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;

    // A worker may not order: the domain's 403, in the envelope.
    let service = w.service.to_string();
    let form = [
        ("service_id", service.as_str()),
        ("worker_id", ""),
        ("description", "x"),
    ];
    let (status, body) = server_fn(&app, "create_order", &w.worker_a, &form).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "permission_denied");

    // A client orders; the order and its event are in the REST API.
    let (status, body) = server_fn(&app, "create_order", &w.client_a, &form).await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_i64().expect("an order id");
    app.get(&format!("/api/v1/orders/{id}"), &w.client_a.access)
        .await
        .expect(200);

    // A bad field: 400 with the field named.
    let form = [
        ("service_id", service.as_str()),
        ("worker_id", "abc"),
        ("description", ""),
    ];
    let (status, body) = server_fn(&app, "create_order", &w.client_a, &form).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["worker_id"].is_array(), "{body}");

    // Signed out: 401.
    let response = app
        .http
        .post(format!("{}/_fn/list_orders", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("page=1")
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 401);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn notification_messages_follow_the_callers_language(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let first = |body: &Value| {
        body["results"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    let english = app.get("/api/v1/notifications", &w.client_a.access).await;
    assert_eq!(first(&english.body), format!("New order #{}", w.order_a));

    let russian = get_json(
        &app,
        "/api/v1/notifications",
        &w.client_a.access,
        "ru-RU,ru;q=0.9",
    )
    .await;
    assert_eq!(first(&russian), format!("Новый заказ №{}", w.order_a));

    // A language chosen in the UI is remembered for the user and beats the header.
    let (status, _) = server_fn(&app, "update_language", &w.client_a, &[("language", "uz")]).await;
    assert_eq!(status, 200);
    let (status, body) =
        server_fn(&app, "update_language", &w.client_a, &[("language", "fr")]).await;
    assert_eq!(status, 400, "{body}");
    let timeline = get_json(
        &app,
        &format!("/api/v1/orders/{}/timeline", w.order_a),
        &w.client_a.access,
        "ru",
    )
    .await;
    assert!(first(&timeline).contains(&format!("#{}", w.order_a)));
    assert!(
        first(&timeline).starts_with("Yangi buyurtma"),
        "{}",
        first(&timeline)
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_old_notification_page_address_leads_to_the_live_page(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .get(format!("{}/api/v1/notification-page/", app.base))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers()["location"], "/notifications");
}

/// Posts a form as a page of the site does without scripts (it accepts HTML, names its page in `Referer`, and the
/// browser says it comes from the same origin), signed in through `cookie`; the redirect is returned, not followed.
async fn post_form(
    app: &TestApp,
    name: &str,
    cookie: &str,
    from: &str,
    form: &[(&str, &str)],
) -> (u16, String, Vec<String>) {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(format!("{}/_fn/{name}", app.base))
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin")
        .header("accept", "text/html,application/xhtml+xml")
        .header("referer", format!("{}{from}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).expect("a form encodes"))
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location, set_cookies(&response))
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn plain_form_posts_go_on_to_the_next_page_or_back_with_the_error(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let cookie = format!("task_access={}; i18n_pref_locale=en", w.client_a.access);
    let service = w.service.to_string();

    // An order placed from the catalogue opens its page.
    let form = [
        ("service_id", service.as_str()),
        ("worker_id", ""),
        ("description", "Evenings"),
    ];
    let (status, location, _) = post_form(&app, "create_order", &cookie, "/services", &form).await;
    assert_eq!(status, 302);
    let id: i64 = location
        .strip_prefix("/orders/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("redirected to the new order, not {location}"));
    let order = app
        .get(&format!("/api/v1/orders/{id}"), &w.client_a.access)
        .await;
    order.expect(200);
    assert_eq!(order.body["description"], "Evenings");

    // A refused one comes back to the catalogue, which shows why; nothing was created.
    let before: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.db)
        .await
        .expect("a count");
    let form = [
        ("service_id", service.as_str()),
        ("worker_id", "abc"),
        ("description", ""),
    ];
    let (status, location, _) = post_form(&app, "create_order", &cookie, "/services", &form).await;
    assert_eq!(status, 302, "a redirect, not an error page");
    assert!(
        location.contains("/services?") && location.contains("__err="),
        "{location}"
    );
    let after: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&app.db)
        .await
        .expect("a count");
    assert_eq!(before, after);
    let path = location.trim_start_matches(&app.base);
    let (_, html, _) = page(&app, path, &cookie, "").await;
    assert!(
        html.contains("Not a valid id."),
        "the page shows the field's error"
    );

    // A status change returns to the order page, which shows the new status.
    let admin = format!("task_access={}; i18n_pref_locale=en", w.admin.access);
    let from = format!("/orders/{id}");
    let form = [
        ("id", from.trim_start_matches("/orders/")),
        ("status", "canceled"),
    ];
    let (status, location, _) = post_form(&app, "update_order_status", &admin, &from, &form).await;
    assert_eq!(
        (status, location.trim_start_matches(&app.base)),
        (302, from.as_str())
    );
    let (_, html, _) = page(&app, &from, &admin, "").await;
    assert!(html.contains("data-status=\"canceled\""));

    // Saving a service's workers (none ticked: a form sends no field) returns to the page, saying so.
    let form = [("id", service.as_str())];
    let (status, location, _) = post_form(
        &app,
        "set_service_workers",
        &admin,
        "/admin/services?page=1",
        &form,
    )
    .await;
    assert_eq!(status, 302);
    assert_eq!(
        location,
        format!("/admin/services?page=1&saved={}", w.service)
    );
    let workers = app
        .get(
            &format!("/api/v1/services/{}/workers", w.service),
            &w.admin.access,
        )
        .await;
    assert_eq!(workers.body, serde_json::json!([]), "{:?}", workers.body);

    // A service's fiscal codes are set from its card; a bad code changes nothing and says why.
    let fiscal = |ikpu: &'static str| {
        [
            ("id", service.as_str()),
            ("ikpu_code", ikpu),
            ("package_code", "1545633"),
            ("vat_percent", "12"),
        ]
    };
    let (status, location, _) = post_form(
        &app,
        "set_service_fiscal",
        &admin,
        "/admin/services?page=1",
        &fiscal("10305008001000000"),
    )
    .await;
    assert_eq!(
        (status, location),
        (302, format!("/admin/services?page=1&saved={}", w.service))
    );
    let saved = app
        .get(&format!("/api/v1/services/{}", w.service), &w.admin.access)
        .await;
    assert_eq!(
        (
            &saved.body["ikpu_code"],
            &saved.body["package_code"],
            &saved.body["vat_percent"]
        ),
        (
            &serde_json::json!("10305008001000000"),
            &serde_json::json!("1545633"),
            &serde_json::json!(12)
        )
    );
    let (status, _, _) = post_form(
        &app,
        "set_service_fiscal",
        &admin,
        "/admin/services?page=1",
        &fiscal("123"),
    )
    .await;
    assert_eq!(status, 302, "a failed form post returns to its page");
    let kept = app
        .get(&format!("/api/v1/services/{}", w.service), &w.admin.access)
        .await;
    assert_eq!(kept.body, saved.body, "a bad code changed nothing");

    // A worker's PINFL is set on the users page, which shows it; a malformed one changes nothing; blank clears it.
    let worker = w.worker_a.id.to_string();
    let tax_id_of = || async {
        sqlx::query_scalar::<_, Option<String>>("select tax_id from users where id = $1")
            .bind(w.worker_a.id)
            .fetch_one(&app.db)
            .await
            .expect("the worker")
    };
    for (typed, stored) in [
        (" 31234567890123 ", Some("31234567890123")),
        ("12345", Some("31234567890123")),
        ("", None),
    ] {
        let form = [("id", worker.as_str()), ("tax_id", typed)];
        let (status, _, _) = post_form(&app, "set_tax_id", &admin, "/admin/users", &form).await;
        assert_eq!(status, 302, "{typed:?}");
        assert_eq!(tax_id_of().await.as_deref(), stored, "{typed:?}");
        if stored.is_some() {
            let (_, html, _) = page(&app, "/admin/users?role=worker", &admin, "").await;
            assert!(
                html.contains("value=\"31234567890123\""),
                "{typed:?}: the users page shows it"
            );
        }
    }

    // A visitor's language switch is remembered in the cookie and returns to the page.
    let (status, location, set) = post_form(
        &app,
        "update_language",
        "",
        "/signin",
        &[("language", "ru")],
    )
    .await;
    assert_eq!(
        (status, location.trim_start_matches(&app.base)),
        (302, "/signin")
    );
    assert!(
        set.iter().any(|c| c.starts_with("i18n_pref_locale=ru")),
        "{set:?}"
    );

    // A wrong password comes back to the sign-in page with the error; no session cookie is set.
    let (status, location, set) = post_form(
        &app,
        "login",
        "",
        "/signin",
        &[("username", "nobody"), ("password", "wrong-password")],
    )
    .await;
    assert_eq!(status, 302);
    assert!(location.contains("__err="), "{location}");
    assert!(
        !set.iter()
            .any(|c| c.starts_with("task_access=") && !c.starts_with("task_access=;"))
    );
    let (_, html, _) = page(&app, location.trim_start_matches(&app.base), "", "en").await;
    assert!(
        html.contains("role=\"alert\""),
        "the sign-in page shows the error"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn server_functions_and_page_errors_belong_to_this_sites_pages(pool: PgPool) {
    let app = spawn_app(pool).await;
    let client = app.user(Role::Client).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let host = app.base.trim_start_matches("http://").to_owned();
    let post = |origin: Option<&str>, site: Option<&str>| {
        let mut request = no_redirects
            .post(format!("{}/_fn/update_language", app.base))
            .header("cookie", format!("task_access={}", client.access))
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("language=uz");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    let language = || async {
        sqlx::query_scalar::<_, Option<String>>("select language from users where id = $1")
            .bind(client.id)
            .fetch_one(&app.db)
            .await
            .expect("the user")
    };

    // From another origin (a sibling subdomain is the same site, so SameSite cookies would not stop it): 403, and
    // nothing changes.
    for (origin, site) in [
        (Some("http://evil.example"), None),
        (Some(format!("http://{host}").as_str()), Some("same-site")),
        (None, Some("cross-site")),
    ] {
        let response = post(origin, site).await.expect("the server answers");
        assert_eq!(response.status().as_u16(), 403, "{origin:?} {site:?}");
        let body: Value = response.json().await.expect("the error envelope");
        assert_eq!(body["code"], "permission_denied");
    }
    assert_eq!(language().await, None);

    // From this site's own page: done.
    let response = post(Some(&format!("http://{host}")), Some("same-origin"))
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(language().await.as_deref(), Some("uz"));

    // A page address carrying a form error, followed from elsewhere, loses the error.
    let response = no_redirects
        .get(format!(
            "{}/signin?next=1&__err=Zm9yZ2Vk&__path=%2F_fn%2Fsign_in",
            app.base
        ))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/signin?next=1");

    // A form's way back never leaves the site, whatever the Referer says.
    let cookie = format!("task_access={}", app.user(Role::Admin).await.access);
    let (status, location, _) = post_form(
        &app,
        "create_service",
        &cookie,
        "//evil.example/x",
        &[
            ("name", "Gardening"),
            ("description", ""),
            ("price", "1000"),
        ],
    )
    .await;
    assert_eq!((status, location.as_str()), (302, "/admin/services"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_page_says_so_while_the_payment_sandbox_is_on(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = app.jwt_secret.clone();
    let production = spawn_app_with(app.db.clone(), move |c| {
        c.payments.payment_sandbox = false;
        c.jwt_secret = secrecy::SecretString::from(secret);
    })
    .await;
    let user = app.user(Role::Client).await;
    let cookie = format!("task_access={}; i18n_pref_locale=en", user.access);
    for path in ["/", "/signin", "/orders", "/no/such/page"] {
        let (_, html, _) = page(&app, path, &cookie, "").await;
        assert!(
            html.contains("class=\"sandbox-banner\""),
            "{path}: no banner"
        );
        assert!(html.contains("No money moves."), "{path}");
        let (_, html, _) = page(&production, path, &cookie, "").await;
        assert!(
            !html.contains("sandbox-banner"),
            "{path}: a banner in production"
        );
    }
}

/// Calls a server function taking JSON, signed in as `user` through the session cookie, from the site's own page.
async fn server_fn_json(app: &TestApp, name: &str, user: &TestUser, input: Value) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/_fn/{name}", app.base))
        .header("cookie", format!("task_access={}", user.access))
        .header("sec-fetch-site", "same-origin")
        .json(&input)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_live_parts_read_one_row_each_and_only_what_the_caller_may_see(pool: PgPool) {
    // Arrange: a message on client A's order, and a payment of it.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let order = w.order_a;
    let message = app
        .post(
            &format!("/api/v1/orders/{order}/messages"),
            &w.admin.access,
            serde_json::json!({ "text": "An admin asks." }),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .expect("a message id");
    let checkout = app
        .post(
            "/api/v1/payments",
            &w.client_a.access,
            serde_json::json!({ "order_id": order, "provider": "payme" }),
        )
        .await
        .expect(201)
        .clone();
    let txn = checkout["transaction_id"]
        .as_i64()
        .expect("a transaction id");
    let cases = [
        ("get_order_row", serde_json::json!({ "id": order })),
        (
            "get_order_message",
            serde_json::json!({ "order_id": order, "id": message }),
        ),
        ("get_transaction", serde_json::json!({ "id": txn })),
    ];

    for (name, input) in cases {
        // Act and assert: the order's client reads the row; another client is told it does not exist.
        let (status, body) = server_fn_json(&app, name, &w.client_a, input.clone()).await;
        assert_eq!(status, 200, "{name} for the order's client: {body}");
        assert!(body["id"].is_i64(), "{name} answers one row: {body}");
        let (status, body) = server_fn_json(&app, name, &w.client_b, input).await;
        assert_eq!(status, 404, "{name} for another client: {body}");
    }
    let (_, row) = server_fn_json(
        &app,
        "get_order_row",
        &w.worker_a,
        serde_json::json!({ "id": order }),
    )
    .await;
    assert_eq!(row["worker"]["id"], w.worker_a.id, "{row}");
    let (_, m) = server_fn_json(
        &app,
        "get_order_message",
        &w.worker_a,
        serde_json::json!({ "order_id": order, "id": message }),
    )
    .await;
    assert_eq!(m["sender"]["id"], w.admin.id, "{m}");
    assert_eq!(m["text"], "An admin asks.", "{m}");
    // A message is read only through its own order.
    let (status, _) = server_fn_json(
        &app,
        "get_order_message",
        &w.client_b,
        serde_json::json!({ "order_id": w.order_b, "id": message }),
    )
    .await;
    assert_eq!(status, 404, "a message read through another order");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn live_pages_carry_what_their_island_needs_to_follow_the_frames(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let cookie = |u: &TestUser| format!("task_access={}", u.access);

    let order_page = format!("/orders/{}", w.order_a);
    let order_marker = format!(r#"id="order-status" data-order="{}""#, w.order_a);
    let cases = [
        (
            "/orders?status=pending",
            &w.admin,
            r#"data-live="orders" data-page="1" data-status="pending""#,
        ),
        (
            "/notifications?kind=order_created",
            &w.client_a,
            r#"data-live="feed" data-page="1" data-kind="order_created""#,
        ),
        (order_page.as_str(), &w.client_a, order_marker.as_str()),
        ("/admin", &w.admin, r#"data-live="figures" data-figures=""#),
        (
            "/admin/transactions",
            &w.admin,
            r#"data-live="transactions" data-page="1""#,
        ),
    ];
    for (path, user, marker) in cases {
        let (status, html, _) = page(&app, path, &cookie(user), "en").await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains(marker), "{path} lacks `{marker}`");
    }
}

/// Arranges a confirmed payment of `order` through `provider` with its fiscal state (and receipt URL); returns its id.
async fn paid_with_fiscal_state(
    app: &TestApp,
    order: i64,
    provider: &str,
    fiscal: &str,
    url: Option<&str>,
) -> i64 {
    let id: i64 = sqlx::query_scalar(
        "insert into transactions (order_id, provider, amount, status, state, provider_transaction_id, \
         click_paydoc_id, reserved_at, performed_at, fiscal_status, receipt_url) \
         values ($1, $2, 100000, 'confirmed', 2, $1::text || $2, 77, now(), now(), $3, $4) returning id",
    )
    .bind(order)
    .bind(provider)
    .bind(fiscal)
    .bind(url)
    .fetch_one(&app.db)
    .await
    .expect("arranged");
    sqlx::query("insert into fiscal_submissions (transaction_id, attempts) values ($1, 12)")
        .bind(id)
        .execute(&app.db)
        .await
        .expect("arranged");
    id
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_order_page_links_the_fiscal_receipt_and_the_admin_retries_a_failed_one(pool: PgPool) {
    // Arrange: order A's receipt is issued; order B's Click submission failed.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let url = "https://ofd.soliq.uz/check?t=EP1&amp;r=5";
    let raw_url = "https://ofd.soliq.uz/check?t=EP1&r=5";
    paid_with_fiscal_state(&app, w.order_a, "payme", "submitted", Some(raw_url)).await;
    let failed = paid_with_fiscal_state(&app, w.order_b, "click", "failed", None).await;
    let client_a = format!("task_access={}", w.client_a.access);
    let admin = format!("task_access={}", w.admin.access);

    // Act
    let (status, order_page, _) =
        page(&app, &format!("/orders/{}", w.order_a), &client_a, "en").await;
    let (_, other_page, _) = page(
        &app,
        &format!("/orders/{}", w.order_b),
        &format!("task_access={}", w.client_b.access),
        "en",
    )
    .await;
    let (_, admin_page, _) = page(&app, "/admin/transactions", &admin, "en").await;

    // Assert: the client's order page links the receipt; the admin sees each state and may retry the failed one.
    assert_eq!(status, 200);
    let link =
        format!(r#"<a href="{url}" target="_blank" rel="noopener noreferrer" class="receipt">"#);
    assert!(order_page.contains(&link), "{order_page}");
    assert!(
        !other_page.contains(r#"class="receipt""#),
        "no receipt link before one is known"
    );
    assert!(
        admin_page.contains("fiscal-submitted") && admin_page.contains("fiscal-failed"),
        "{admin_page}"
    );
    assert!(admin_page.contains(url), "{admin_page}");
    assert_eq!(
        admin_page.matches("/_fn/retry_fiscal").count(),
        1,
        "{admin_page}"
    );
    let (status, location, _) = post_form(
        &app,
        "retry_fiscal",
        &admin,
        "/admin/transactions",
        &[("id", &failed.to_string())],
    )
    .await;
    assert!(matches!(status, 302 | 303), "{status}");
    assert!(location.ends_with("/admin/transactions"), "{location}");
    let now: String = sqlx::query_scalar("select fiscal_status from transactions where id = $1")
        .bind(failed)
        .fetch_one(&app.db)
        .await
        .expect("read");
    assert_eq!(now, "pending");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_notification_settings_page_works_without_javascript(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let cookie = |user: &TestUser, lang: &str| {
        format!("task_access={}; i18n_pref_locale={lang}", user.access)
    };
    let worker = cookie(&w.worker_a, "en");
    // Whether the page's checkbox of `value` is ticked.
    let ticked = |html: &str, value: &str| {
        html.split('<')
            .find(|tag| tag.starts_with("input") && tag.contains(&format!("value=\"{value}\"")))
            .is_some_and(|tag| tag.contains("checked"))
    };

    // The worker's defaults show: new orders, assignments and messages on every channel.
    let (status, html, _) = page(&app, "/settings", &worker, "").await;
    assert_eq!(status, 200);
    for route in [
        "order_created:telegram",
        "order_assigned:email",
        "order_message:web_push",
    ] {
        assert!(ticked(&html, route), "{route} is on by default");
    }
    assert!(!ticked(&html, "payment_confirmed:email"));
    assert!(html.contains("id=\"send-test\""), "the test button");
    for (lang, title) in [
        ("ru", "Уведомления вне сайта"),
        ("uz", "Saytdan tashqari bildirishnomalar"),
    ] {
        let (_, html, _) = page(&app, "/settings", &cookie(&w.worker_a, lang), "").await;
        assert!(html.contains(title), "{lang}");
    }

    // Act: the form is posted as the page sends it.
    let form = [
        ("channels[]", "email"),
        ("routes[]", "order_created:email"),
        ("routes[]", "order_message:email"),
        ("quiet", "on"),
        ("quiet_from", "23:00"),
        ("quiet_to", "07:00"),
        ("digest_minutes", "15"),
    ];
    let (status, location, _) = post_form(
        &app,
        "update_notification_settings",
        &worker,
        "/settings",
        &form,
    )
    .await;

    // Assert: back on the page, saying so; REST reads what the form saved.
    assert_eq!((status, location.as_str()), (302, "/settings?saved=1"));
    let saved = app
        .get("/api/v1/me/notification-settings", &w.worker_a.access)
        .await;
    assert_eq!(saved.body["channels"]["email"]["enabled"], true);
    assert_eq!(saved.body["channels"]["telegram"]["enabled"], false);
    assert_eq!(
        saved.body["kinds"]["order_created"],
        serde_json::json!(["email"])
    );
    assert_eq!(saved.body["kinds"]["order_assigned"], serde_json::json!([]));
    assert_eq!(
        saved.body["quiet_hours"],
        serde_json::json!({ "from": "23:00", "to": "07:00" })
    );
    assert_eq!(saved.body["digest_minutes"], 15);
    let (_, html, _) = page(&app, "/settings", &worker, "").await;
    assert!(ticked(&html, "order_created:email") && !ticked(&html, "order_created:telegram"));
    assert!(html.contains("value=\"23:00\""));

    // A bad interval changes nothing and comes back to the page.
    let bad = [("digest_minutes", "5")];
    let (status, _, _) = post_form(
        &app,
        "update_notification_settings",
        &worker,
        "/settings",
        &bad,
    )
    .await;
    assert_eq!(status, 302);
    let kept = app
        .get("/api/v1/me/notification-settings", &w.worker_a.access)
        .await;
    assert_eq!(kept.body, saved.body, "a refused form changed nothing");

    // The test button queues a message for each channel that is on and has somewhere to go.
    let (status, location, _) =
        post_form(&app, "send_test_notification", &worker, "/settings", &[]).await;
    assert_eq!(status, 302);
    assert!(location.starts_with("/settings?tested="), "{location}");

    // The delivery log is the admins' page.
    sqlx::query("insert into deliveries (user_id, channel, status, last_error) values ($1, 'email', 'failed', 'boom')")
        .bind(w.worker_a.id)
        .execute(&app.db)
        .await
        .expect("a failed delivery");
    let (status, html, _) = page(
        &app,
        "/admin/deliveries?status=failed",
        &cookie(&w.admin, "en"),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("data-status=\"failed\"") && html.contains("boom"),
        "the failed delivery is listed"
    );
    let (_, html, _) = page(&app, "/admin/deliveries", &worker, "").await;
    assert!(!html.contains("boom"), "not for a worker");
}

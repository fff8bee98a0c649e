//! The security headers of every page and API answer: a Content-Security-Policy that the pages satisfy (every
//! inline script and style carries the response's nonce, no inline event handlers), `nosniff`, a referrer policy,
//! no framing, HSTS with secure cookies; and session cookies named `__Host-` when secure.

use app::models::Role;
use reqwest::header::HeaderMap;
use sqlx::PgPool;

use crate::helpers::{TestApp, World, spawn_app, spawn_app_with};

/// The policy's directives, by name.
fn directives(csp: &str) -> Vec<(String, Vec<String>)> {
    csp.split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let mut words = d.split_whitespace().map(str::to_owned);
            (words.next().unwrap_or_default(), words.collect())
        })
        .collect()
}

/// Asserts the headers every answer carries, and returns the CSP's nonce (if its scripts have one).
#[track_caller]
fn assert_secure_headers(headers: &HeaderMap, what: &str) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_owned()
    };
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert!(
        [
            "strict-origin-when-cross-origin",
            "same-origin",
            "no-referrer",
            "strict-origin"
        ]
        .contains(&header("referrer-policy").as_str()),
        "{what}"
    );
    let csp = directives(&header("content-security-policy"));
    let directive = |name: &str| {
        csp.iter()
            .find(|(n, _)| n == name)
            .map(|(_, values)| values.clone())
            .unwrap_or_else(|| panic!("{what}: the policy has no {name}: {csp:?}"))
    };
    assert_eq!(directive("frame-ancestors"), ["'none'"], "{what}");
    assert_eq!(directive("object-src"), ["'none'"], "{what}");
    assert_eq!(directive("base-uri"), ["'none'"], "{what}");
    let scripts = directive("script-src");
    assert!(
        scripts.contains(&"'self'".to_owned()),
        "{what}: {scripts:?}"
    );
    for unsafe_source in [
        "'unsafe-inline'",
        "'unsafe-eval'",
        "*",
        "data:",
        "http:",
        "https:",
    ] {
        assert!(
            !scripts.iter().any(|s| s == unsafe_source),
            "{what}: script-src allows {unsafe_source}"
        );
    }
    scripts
        .iter()
        .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
        .map(str::to_owned)
}

/// Every `<name ...>…</name>` element in `html`: its opening tag and its content.
fn elements<'a>(html: &'a str, name: &str) -> Vec<(&'a str, &'a str)> {
    let (open, close) = (format!("<{name}"), format!("</{name}>"));
    html.match_indices(&open)
        .filter(|(i, _)| {
            html[i + open.len()..]
                .chars()
                .next()
                .is_some_and(|c| c == '>' || c.is_whitespace())
        })
        .map(|(i, _)| {
            let rest = &html[i..];
            let tag_end = rest.find('>').map_or(rest.len(), |end| end + 1);
            let content = &rest[tag_end..];
            (
                &rest[..tag_end],
                &content[..content.find(&close).unwrap_or(content.len())],
            )
        })
        .collect()
}

/// Asserts that `html` runs under the policy with `nonce`: every inline script and style carries the nonce (an
/// empty script, as `leptos_i18n` leaves one, never runs, so browsers do not check it), no element has an inline
/// event handler, an inline style or a `javascript:` address.
#[track_caller]
fn assert_satisfies_policy(html: &str, nonce: &str, what: &str) {
    let inline: Vec<(&str, &str)> = elements(html, "script")
        .into_iter()
        .chain(elements(html, "style"))
        .filter(|(tag, content)| !tag.contains(" src=") && !content.trim().is_empty())
        .collect();
    assert!(
        !inline.is_empty(),
        "{what}: the page has scripts or styles to check"
    );
    for (tag, _) in inline {
        assert!(
            tag.contains(&format!("nonce=\"{nonce}\"")),
            "{what}: {tag} runs without the response's nonce {nonce}: {html}"
        );
    }
    let lower = html.to_ascii_lowercase();
    for handler in [
        " onclick=",
        " onchange=",
        " onsubmit=",
        " onload=",
        " oninput=",
        " onerror=",
    ] {
        assert!(
            !lower.contains(handler),
            "{what}: an inline handler ({handler})"
        );
    }
    assert!(
        !lower.contains("javascript:"),
        "{what}: a javascript: address"
    );
    assert!(
        !lower.contains(" style=\""),
        "{what}: an inline style attribute"
    );
}

/// Fetches `path` as a browser would, with `cookie`; returns the status, headers and HTML.
async fn fetch(app: &TestApp, path: &str, cookie: &str) -> (u16, HeaderMap, String) {
    let mut request = app
        .http
        .get(format!("{}{path}", app.base))
        .header("accept", "text/html");
    if !cookie.is_empty() {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("the server answers");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.text().await.unwrap_or_default())
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_page_carries_a_policy_its_inline_scripts_satisfy(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let client = format!("task_access={}", w.client_a.access);
    let admin = format!("task_access={}", w.admin.access);
    let pages = [
        ("/", ""),
        ("/signin", ""),
        ("/signup", ""),
        ("/signin?__err=x&__path=%2F_fn%2Flogin", ""),
        ("/no/such/page", ""),
        ("/", client.as_str()),
        ("/services", client.as_str()),
        ("/orders", client.as_str()),
        (&format!("/orders/{}", w.order_a), client.as_str()),
        ("/notifications", client.as_str()),
        ("/admin", admin.as_str()),
        ("/admin/users", admin.as_str()),
        ("/admin/services", admin.as_str()),
        ("/admin/transactions", admin.as_str()),
        (&format!("/sandbox/payme/{}", w.order_a), client.as_str()),
    ];
    let mut nonces = Vec::new();
    for (path, cookie) in pages {
        let (status, headers, html) = fetch(&app, path, cookie).await;
        assert!(status < 500, "{path}: {status}");
        let nonce = assert_secure_headers(&headers, path)
            .unwrap_or_else(|| panic!("{path}: the policy names no nonce"));
        assert!(nonce.len() >= 22, "{path}: a short nonce {nonce}");
        assert_satisfies_policy(&html, &nonce, path);
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(
        nonces.len(),
        pages.len(),
        "every response has a nonce of its own"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_api_answer_and_file_carries_the_security_headers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let user = app.user(Role::Client).await;
    let answers = [
        app.http
            .get(format!("{}/api/v1/me", app.base))
            .bearer_auth(&user.access),
        app.http.get(format!("{}/api/v1/me", app.base)),
        app.http
            .post(format!("{}/api/v1/auth/login", app.base))
            .body("{"),
        app.http.get(format!("{}/api/v1/no-such-route", app.base)),
        app.http.get(format!("{}/api/v1/openapi.json", app.base)),
        app.http
            .post(format!("{}/api/v1/payment/payme", app.base))
            .body("{}"),
        app.http.post(format!("{}/_fn/get_unread_count", app.base)),
        app.http.get(format!("{}/healthz", app.base)),
        app.http.get(format!("{}/metrics", app.base)),
        app.http.get(format!("{}/ws/notifications", app.base)),
        app.http.get(format!("{}/pkg/none.js", app.base)),
        app.http.get(format!("{}/favicon.svg", app.base)),
    ];
    for request in answers {
        let request = request.build().expect("a request");
        let what = format!("{} {}", request.method(), request.url().path());
        let response = app.http.execute(request).await.expect("the server answers");
        assert_secure_headers(response.headers(), &what);
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "{what}: HSTS over plain HTTP (cookies not secure)"
        );
    }

    // The interactive docs: Swagger UI's own files only, no script from elsewhere, no third-party validator.
    let (status, headers, html) = fetch(&app, "/api/docs/", "").await;
    assert_eq!(status, 200);
    assert_secure_headers(&headers, "/api/docs/");
    let scripts = elements(&html, "script");
    assert!(!scripts.is_empty());
    for (tag, content) in scripts {
        assert!(
            tag.contains(" src=\"./") && content.trim().is_empty(),
            "the docs load {tag}"
        );
    }
    let initializer = app
        .http
        .get(format!("{}/api/docs/swagger-initializer.js", app.base))
        .send()
        .await
        .expect("the server answers");
    assert_secure_headers(initializer.headers(), "the docs' initializer");
    let initializer = initializer.text().await.expect("text");
    let compact: String = initializer.split_whitespace().collect();
    assert!(
        compact.contains("\"validatorUrl\":\"none\""),
        "{initializer}"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn secure_cookies_bring_hsts_and_host_only_session_cookies(pool: PgPool) {
    let app = spawn_app_with(pool, |c| c.cookie_secure = true).await;
    let user = app.user(Role::Client).await;

    let login = app
        .http
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&serde_json::json!({"username": user.username, "password": user.password}))
        .send()
        .await
        .expect("the server answers");
    assert_secure_headers(login.headers(), "login");
    assert!(
        login.headers()["strict-transport-security"]
            .to_str()
            .is_ok_and(|v| v.starts_with("max-age=") && v != "max-age=0"),
        "HSTS with secure cookies"
    );
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    for name in ["__Host-task_access=", "__Host-task_refresh="] {
        let cookie = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {cookies:?}"));
        // What the prefix requires of the cookie, or browsers drop it.
        assert!(
            cookie.contains("; Secure") && cookie.contains("; Path=/"),
            "{cookie}"
        );
        assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    }
    assert!(
        !cookies.iter().any(|c| c.starts_with("task_")),
        "no unprefixed session cookie: {cookies:?}"
    );

    // Only the prefixed cookie is read: one of the plain name may have been planted by a sibling subdomain.
    let me = |cookie: String| {
        app.http
            .get(format!("{}/api/v1/me", app.base))
            .header("cookie", cookie)
            .send()
    };
    let prefixed = me(format!("theme=dark; __Host-task_access={}", user.access))
        .await
        .expect("the server answers");
    assert_eq!(prefixed.status().as_u16(), 200);
    let plain = me(format!("task_access={}", user.access))
        .await
        .expect("the server answers");
    assert_eq!(plain.status().as_u16(), 401);

    // A page renews the session from the prefixed refresh cookie, and sets prefixed cookies again.
    let (status, headers, html) = fetch(
        &app,
        "/orders",
        &format!("__Host-task_refresh={}", user.refresh),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("My orders"), "the page is the user's");
    let renewed: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        renewed.iter().any(|c| c.starts_with("__Host-task_access=") && !c.starts_with("__Host-task_access=;")),
        "{renewed:?}"
    );
}

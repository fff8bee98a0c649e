//! No answer redirects to another site, whatever the request's path, its parameters or the page it names in
//! `Referer` (API.md, "Requests authenticated by the cookie"): every `Location` leads, as a browser reads it (tabs
//! and newlines dropped, backslashes as slashes), to this site. Only paying leads on purpose to the provider.

use app::models::Role;
use reqwest::Url;
use sqlx::PgPool;

use crate::helpers::{TestApp, TestUser, World, raw_request, spawn_app, spawn_app_with};

/// Paths that name another host once they are a `Location` if passed through as they are.
const PATHS: &[&str] = &[
    "//evil.example",
    "///evil.example",
    "//evil.example/a/b",
    "//evil.example:8080",
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%5C%5Cevil.example",
    "/%09/evil.example",
    "/%0d%0a//evil.example",
    "/.//evil.example",
    "/./\\evil.example",
    "//%65vil.example",
    "//evil.example%2F..",
    "/signin//evil.example",
];

/// Asserts that a browser at `base` following `location` stays on `base`'s host.
#[track_caller]
fn assert_on_site(base: &str, location: &str, what: &str) {
    let base = Url::parse(base).expect("the base is a URL");
    let followed = base
        .join(location)
        .unwrap_or_else(|e| panic!("{what}: {location:?} is no address ({e})"));
    assert_eq!(
        (followed.host_str(), followed.port_or_known_default()),
        (base.host_str(), base.port_or_known_default()),
        "{what}: {location:?} leads to {followed}"
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn a_page_address_with_a_form_error_never_redirects_elsewhere(pool: PgPool) {
    let app = spawn_app(pool).await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut redirected = 0;
    for path in PATHS
        .iter()
        .copied()
        .chain(["/\t/evil.example", "/ /evil.example"])
    {
        for query in [
            "__err=Zm9yZ2Vk&__path=%2F_fn%2Flogin",
            "next=%2F%2Fevil.example&__err=x",
        ] {
            // Followed from another site, so the error is scrubbed from the address by a redirect.
            let head = format!(
                "GET {path}?{query} HTTP/1.1\r\nHost: {host}\r\nSec-Fetch-Site: cross-site\r\n\
                 Connection: close\r\n\r\n"
            );
            let answer = raw_request(&app.base, head, Vec::new()).await;
            assert!(answer.status < 500, "{path:?}: {}", answer.status);
            if let Some(location) = answer.header("location") {
                redirected += 1;
                assert_on_site(&app.base, location, path);
                assert!(!location.contains("__err"), "{path:?}: {location}");
            }
        }
    }
    assert!(
        redirected >= PATHS.len(),
        "the scrub redirected only {redirected} times"
    );

    // The case the issue reported, exactly.
    let head = format!(
        "GET //other.site?__err=x HTTP/1.1\r\nHost: {host}\r\nSec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n"
    );
    let answer = raw_request(&app.base, head, Vec::new()).await;
    assert_eq!(
        (answer.status, answer.header("location")),
        (303, Some("/other.site"))
    );
}

/// A form's fields.
type Form<'a> = &'a [(&'a str, &'a str)];

/// Posts `form` to server function `name` from this site's page, naming `referer` as that page; returns the
/// status and the `Location`.
async fn post_from(
    app: &TestApp,
    name: &str,
    cookie: &str,
    referer: &str,
    form: &[(&str, &str)],
) -> (u16, Option<String>) {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .post(format!("{}/_fn/{name}", app.base))
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin")
        .header("accept", "text/html")
        .header("referer", referer)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).expect("a form encodes"))
        .send()
        .await
        .expect("the server answers");
    let location = response
        .headers()
        .get("location")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    (response.status().as_u16(), location)
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn form_posts_go_back_only_to_this_sites_pages_whatever_the_referer(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.user(Role::Admin).await;
    let admin_cookie = format!("task_access={}", admin.access);
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut referers: Vec<String> = vec![
        "https://evil.example/x".to_owned(),
        "//evil.example/x".to_owned(),
        "javascript:alert(1)".to_owned(),
        "evil.example".to_owned(),
        format!("http://{host}@evil.example/x"),
        format!("http://{host}.evil.example/x"),
    ];
    referers.extend(PATHS.iter().map(|path| format!("http://{host}{path}")));
    referers.push(format!("http://{host}/\t/evil.example"));

    // Every way a server function answers a form: done (back to the page), refused (back with the error), signed
    // out (the error), and on to another page.
    let cases: [(&str, &str, Form<'_>); 5] = [
        ("update_language", "", &[("language", "ru")]),
        ("update_language", "", &[("language", "xx")]),
        (
            "login",
            "",
            &[("username", "nobody"), ("password", "wrong-password")],
        ),
        (
            "create_service",
            &admin_cookie,
            &[
                ("name", "Gardening"),
                ("description", ""),
                ("price", "1000"),
            ],
        ),
        (
            "create_service",
            &admin_cookie,
            &[("name", ""), ("description", ""), ("price", "x")],
        ),
    ];
    let mut redirects = 0;
    for referer in &referers {
        for (name, cookie, form) in cases {
            let (status, location) = post_from(&app, name, cookie, referer, form).await;
            assert!(status < 500, "{name} from {referer:?}: {status}");
            if let Some(location) = location {
                redirects += 1;
                assert_on_site(&app.base, &location, &format!("{name} from {referer:?}"));
            }
        }
    }
    assert_eq!(redirects, referers.len() * 5, "every form post redirects");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn paying_leads_to_the_providers_checkout_page_and_the_sandbox_stays_on_this_site(
    pool: PgPool,
) {
    // Arrange: the same orders on a server with the sandbox and one without.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let secret = app.jwt_secret.clone();
    let production = spawn_app_with(app.db.clone(), move |c| {
        c.payments.payment_sandbox = false;
        c.jwt_secret = secrecy::SecretString::from(secret);
    })
    .await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let pay = |server: &TestApp, client: &TestUser, provider: &str, order: i64| {
        no_redirects
            .post(format!("{}/_fn/create_payment", server.base))
            .header("cookie", format!("task_access={}", client.access))
            .header("sec-fetch-site", "same-origin")
            .header("accept", "text/html")
            .header("referer", format!("{}/orders/{order}", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("order_id={order}&provider={provider}"))
            .send()
    };
    let location = |response: &reqwest::Response| {
        response.headers()["location"]
            .to_str()
            .expect("text")
            .to_owned()
    };

    // Act and assert: on purpose, and only there, a redirect leaves the site.
    let paid = pay(&production, &w.client_a, "payme", w.order_a)
        .await
        .expect("the server answers");
    assert_eq!(paid.status().as_u16(), 302);
    assert!(
        location(&paid).starts_with("https://checkout.paycom.uz/"),
        "{}",
        location(&paid)
    );
    let paid = pay(&app, &w.client_b, "click", w.order_b)
        .await
        .expect("the server answers");
    assert_eq!(paid.status().as_u16(), 302);
    assert_eq!(location(&paid), format!("/sandbox/click/{}", w.order_b));
}

//! Every route has a body limit (64 KiB; API.md, "Requests authenticated by the cookie"): a larger body, declared
//! or chunked, is answered 413 `payload_too_large` in the envelope, never a 5xx, on every way in — REST, the server
//! functions' form posts, the sandbox's buttons, pages — and a declared one without being read. The payment
//! webhooks, which must always answer HTTP 200, refuse it in their provider's format.

use reqwest::Method;
use sqlx::PgPool;

use crate::helpers::{RawAnswer, World, raw_request, server_functions, spawn_app, unsafe_routes};

/// 64 KiB, as the contract says.
const LIMIT: usize = 64 * 1024;

/// Asserts the envelope's 413.
#[track_caller]
fn assert_too_large(answer: &RawAnswer, what: &str) {
    let body = answer.json();
    assert_eq!(
        (answer.status, body["code"].as_str()),
        (413, Some("payload_too_large")),
        "{what}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn bodies_over_the_limit_are_refused_with_413_on_every_route(pool: PgPool) {
    // Arrange: every way in, authenticated as it would be (so that each reaches the point of reading its body).
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let bearer = format!("Authorization: Bearer {}\r\n", w.admin.access);
    let cookie = format!(
        "Cookie: task_access={}\r\nSec-Fetch-Site: same-origin\r\n",
        w.client_a.access
    );
    let mut routes: Vec<(Method, String, &str)> = unsafe_routes(&app, &w)
        .await
        .into_iter()
        .filter(|(_, path, _)| !path.starts_with("/api/v1/payment/"))
        .map(|(method, path, _)| (method, path, bearer.as_str()))
        .collect();
    routes.extend(
        server_functions()
            .into_iter()
            .map(|path| (Method::POST, path, cookie.as_str())),
    );
    routes.push((
        Method::POST,
        format!("/sandbox/click/{}", w.order_a),
        cookie.as_str(),
    ));
    routes.push((Method::POST, "/orders".to_owned(), cookie.as_str()));
    routes.push((Method::PUT, "/no/such/page".to_owned(), ""));

    for (method, path, auth) in &routes {
        // Declared: refused at once, before a byte of the 8 MiB is sent.
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            8 * 1024 * 1024
        );
        let answer = raw_request(&app.base, head, Vec::new()).await;
        assert_too_large(&answer, &format!("{method} {path}, declared"));

        // Chunked: no length given, read up to the limit and refused there.
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "a".repeat(16 * 1024)).into_bytes();
        let mut chunks = vec![chunk; 64];
        chunks.push(b"0\r\n\r\n".to_vec());
        let answer = raw_request(&app.base, head, chunks).await;
        assert_too_large(&answer, &format!("{method} {path}, chunked"));
    }

    // The webhooks: HTTP 200, and the provider's own error for a request it cannot read.
    for (path, error) in [
        ("/api/v1/payment/payme", "/error/code"),
        ("/api/v1/payment/click", "/error"),
    ] {
        for framing in [
            format!("Content-Length: {}", 8 * 1024 * 1024),
            "Transfer-Encoding: chunked".to_owned(),
        ] {
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{framing}\r\n\
                 Connection: close\r\n\r\n"
            );
            let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, " ".repeat(16 * 1024)).into_bytes();
            let answer = raw_request(&app.base, head, vec![chunk; 8]).await;
            let body = answer.json();
            let code = body.pointer(error).and_then(serde_json::Value::as_i64);
            assert_eq!(answer.status, 200, "{path} with {framing}: {body}");
            assert!(
                matches!(code, Some(-32700 | -8)),
                "{path} with {framing}: {body}"
            );
        }
    }

    // Just at the limit a body is read (and judged on what it says, not its size).
    let head = format!(
        "POST /_fn/update_language HTTP/1.1\r\nHost: {host}\r\n{cookie}\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let body = format!(
        "language=uz&pad={}",
        "a".repeat(LIMIT - "language=uz&pad=".len())
    );
    let chunks = vec![
        format!("{:x}\r\n{body}\r\n", body.len()).into_bytes(),
        b"0\r\n\r\n".to_vec(),
    ];
    let answer = raw_request(&app.base, head, chunks).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
}

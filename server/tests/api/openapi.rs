//! The OpenAPI document is served, is 3.1, lists every REST route of the router, and documents the errors they
//! share once, under the status each belongs to.

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::spawn_app;

/// Every REST route, as API.md lists them, plus the fiscal receipt and its retry.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/token/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/me"),
    ("patch", "/api/v1/me"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/stats"),
    ("get", "/api/v1/users/{id}"),
    ("patch", "/api/v1/users/{id}"),
    ("delete", "/api/v1/users/{id}"),
    ("get", "/api/v1/services"),
    ("post", "/api/v1/services"),
    ("get", "/api/v1/services/{id}"),
    ("patch", "/api/v1/services/{id}"),
    ("delete", "/api/v1/services/{id}"),
    ("get", "/api/v1/services/{id}/workers"),
    ("put", "/api/v1/services/{id}/workers"),
    ("get", "/api/v1/orders"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders/{id}"),
    ("patch", "/api/v1/orders/{id}/status"),
    ("post", "/api/v1/orders/{id}/assign"),
    ("get", "/api/v1/orders/{id}/timeline"),
    ("get", "/api/v1/orders/{id}/messages"),
    ("post", "/api/v1/orders/{id}/messages"),
    ("get", "/api/v1/notifications"),
    ("get", "/api/v1/notifications/unread-count"),
    ("post", "/api/v1/notifications/{id}/read"),
    ("post", "/api/v1/notifications/read-all"),
    ("get", "/api/v1/transactions"),
    ("get", "/api/v1/transactions/{id}"),
    ("get", "/api/v1/transactions/{id}/receipt"),
    ("post", "/api/v1/transactions/{id}/fiscal/retry"),
    ("post", "/api/v1/payments"),
    ("post", "/api/v1/payment/payme"),
    ("post", "/api/v1/payment/click"),
    ("get", "/api/v1/me/notification-settings"),
    ("put", "/api/v1/me/notification-settings"),
    ("post", "/api/v1/me/notification-settings/test"),
    ("post", "/api/v1/me/telegram/link"),
    ("delete", "/api/v1/me/telegram"),
    ("post", "/api/v1/telegram/webhook"),
    ("get", "/api/v1/push/vapid-public-key"),
    ("post", "/api/v1/me/push-subscriptions"),
    ("delete", "/api/v1/me/push-subscriptions"),
    ("get", "/api/v1/deliveries"),
];

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_openapi_document_lists_every_route_and_documents_its_errors(pool: PgPool) {
    let app = spawn_app(pool).await;

    let doc: Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .expect("served")
        .json()
        .await
        .expect("JSON");

    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let mut listed: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flat_map(|ops| ops.keys().map(|m| (m.clone(), path.clone())))
        })
        .filter(|(method, _)| ["get", "post", "put", "patch", "delete"].contains(&method.as_str()))
        .collect();
    listed.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    for (method, path) in ROUTES {
        let operation = &doc["paths"][path][method];
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
        let secured = operation["security"].is_array();
        // Click signs its requests instead of authenticating (`shared/PAYMENTS.md` §2.4).
        let public = path.starts_with("/api/v1/auth/")
            || *path == "/api/v1/payment/click"
            || *path == "/api/v1/push/vapid-public-key";
        assert_eq!(
            secured, !public,
            "{method} {path}: security is {}",
            operation["security"]
        );
    }
    for schema in [
        "ErrorBody",
        "Order",
        "Notification",
        "User",
        "Service",
        "Transaction",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} is missing"
        );
    }
}

/// The shared answers of `components/responses` and the one status each may be given under.
const SHARED: &[(&str, &str)] = &[
    ("InvalidInput", "400"),
    ("Unauthorized", "401"),
    ("Forbidden", "403"),
    ("NotFound", "404"),
    ("Conflict", "409"),
    ("PayloadTooLarge", "413"),
    ("UnsupportedMediaType", "415"),
    ("RateLimited", "429"),
];

#[test]
fn the_shared_error_answers_are_described_once_and_given_where_they_apply() {
    // Act
    let (_, spec) = server::router::api();
    let doc = serde_json::to_value(&spec).expect("the document serializes");

    // Assert
    let components = doc["components"]["responses"]
        .as_object()
        .expect("components/responses");
    let mut names: Vec<&str> = components.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut declared: Vec<&str> = SHARED.iter().map(|(name, _)| *name).collect();
    declared.sort_unstable();
    assert_eq!(names, declared);
    let shared_descriptions: Vec<&str> = components
        .values()
        .map(|r| r["description"].as_str().expect("a description"))
        .collect();

    for (method, path) in ROUTES {
        let operation = &doc["paths"][path][method];
        let responses = operation["responses"].as_object().expect("responses");
        let statuses: Vec<&str> = responses.keys().map(String::as_str).collect();
        // The webhooks answer 200 and nothing else.
        if path.starts_with("/api/v1/payment/") {
            assert_eq!(statuses, ["200"], "{method} {path}");
            continue;
        }
        for (status, response) in responses {
            match response["$ref"].as_str() {
                Some(reference) => {
                    let name = reference
                        .strip_prefix("#/components/responses/")
                        .unwrap_or_else(|| panic!("{method} {path} {status}: {reference}"));
                    let (_, expected) = SHARED
                        .iter()
                        .find(|(shared, _)| *shared == name)
                        .unwrap_or_else(|| panic!("{method} {path} {status}: no answer {name}"));
                    assert_eq!(status, expected, "{method} {path}: {name} under {status}");
                }
                None => {
                    let description = response["description"].as_str().unwrap_or_default();
                    assert!(
                        !shared_descriptions.contains(&description),
                        "{method} {path} {status} repeats a shared answer: {description}"
                    );
                }
            }
        }
        let bearer = operation["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let body = operation["requestBody"].is_object();
        let params = operation["parameters"]
            .as_array()
            .is_some_and(|p| !p.is_empty());
        let mut expected = Vec::new();
        if bearer {
            expected.push("401");
        }
        if body || params {
            expected.push("400");
        }
        if body {
            expected.extend(["413", "415"]);
        }
        for status in expected {
            assert!(
                statuses.contains(&status),
                "{method} {path} does not document {status}"
            );
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_interactive_docs_are_served_from_the_binary(pool: PgPool) {
    let app = spawn_app(pool).await;

    let page = app
        .http
        .get(format!("{}/api/docs/", app.base))
        .send()
        .await
        .expect("served");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("text");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("cdn."), "the docs page loads from a CDN");
    let script = app
        .http
        .get(format!("{}/api/docs/swagger-ui-bundle.js", app.base))
        .send()
        .await
        .expect("served");
    assert_eq!(script.status().as_u16(), 200);
}

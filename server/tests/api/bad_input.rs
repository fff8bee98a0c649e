//! Bad input on every write route: malformed JSON, wrong types, missing fields, unknown fields, oversized bodies,
//! huge numbers, unknown enum values, a wrong content type. Each is a 4xx in the envelope and writes nothing.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{World, spawn_app};

/// A write route, a body it accepts, and what kinds of field it has.
struct Route {
    method: Method,
    path: String,
    valid: Value,
    required: &'static [&'static str],
    numbers: &'static [&'static str],
    enums: &'static [&'static str],
}

fn routes(w: &World) -> Vec<Route> {
    let route = |method: Method, path: String, valid: Value, required, numbers, enums| Route {
        method,
        path,
        valid,
        required,
        numbers,
        enums,
    };
    let (o, s, u) = (w.order_a, w.service, w.client_b.id);
    vec![
        route(
            Method::POST,
            "/api/v1/auth/register".into(),
            json!({"username": "newcomer", "password": "long enough pw"}),
            &["username", "password"],
            &[],
            &[],
        ),
        route(
            Method::POST,
            "/api/v1/auth/login".into(),
            json!({"username": "x", "password": "y"}),
            &["username", "password"],
            &[],
            &[],
        ),
        route(
            Method::POST,
            "/api/v1/auth/token".into(),
            json!({"username": "x", "password": "y"}),
            &["username", "password"],
            &[],
            &[],
        ),
        route(
            Method::POST,
            "/api/v1/auth/token/refresh".into(),
            json!({"refresh": "x"}),
            &["refresh"],
            &[],
            &[],
        ),
        route(
            Method::POST,
            "/api/v1/auth/logout".into(),
            json!({"refresh": "x"}),
            &["refresh"],
            &[],
            &[],
        ),
        route(
            Method::PATCH,
            "/api/v1/me".into(),
            json!({"full_name": "Name"}),
            &[],
            &[],
            &[],
        ),
        route(
            Method::POST,
            "/api/v1/users".into(),
            json!({"username": "made", "password": "long enough pw", "role": "worker"}),
            &["username", "password", "role"],
            &[],
            &["role"],
        ),
        route(
            Method::PATCH,
            format!("/api/v1/users/{u}"),
            json!({"role": "worker", "is_active": true}),
            &[],
            &[],
            &["role"],
        ),
        route(
            Method::POST,
            "/api/v1/services".into(),
            json!({"name": "Fresh", "price": 100}),
            &["name", "price"],
            &["price"],
            &[],
        ),
        route(
            Method::PATCH,
            format!("/api/v1/services/{s}"),
            json!({"price": 100}),
            &[],
            &["price"],
            &[],
        ),
        route(
            Method::PUT,
            format!("/api/v1/services/{s}/workers"),
            json!({"worker_ids": [w.worker_a.id]}),
            &["worker_ids"],
            &[],
            &[],
        ),
        route(
            Method::POST,
            "/api/v1/orders".into(),
            json!({"service_id": s}),
            &["service_id"],
            &["service_id", "worker_id"],
            &[],
        ),
        route(
            Method::PATCH,
            format!("/api/v1/orders/{o}/status"),
            json!({"status": "canceled"}),
            &["status"],
            &[],
            &["status"],
        ),
        route(
            Method::POST,
            format!("/api/v1/orders/{o}/assign"),
            json!({"worker_id": w.worker_b.id}),
            &["worker_id"],
            &["worker_id"],
            &[],
        ),
        route(
            Method::POST,
            format!("/api/v1/orders/{o}/messages"),
            json!({"text": "hello"}),
            &["text"],
            &[],
            &[],
        ),
    ]
}

fn with(valid: &Value, field: &str, value: Value) -> Value {
    let mut body = valid.clone();
    body[field] = value;
    body
}

fn without(valid: &Value, field: &str) -> Value {
    let mut body = valid.clone();
    body.as_object_mut().expect("an object").remove(field);
    body
}

/// (raw body, content type, expected status, description)
fn cases(route: &Route) -> Vec<(Vec<u8>, &'static str, u16, String)> {
    let json_case = |body: Value, description: String| {
        (
            body.to_string().into_bytes(),
            "application/json",
            400,
            description,
        )
    };
    let mut cases = vec![
        (
            b"{\"username\": ".to_vec(),
            "application/json",
            400,
            "malformed JSON".to_owned(),
        ),
        (
            b"[]".to_vec(),
            "application/json",
            400,
            "an array instead of an object".to_owned(),
        ),
        (
            b"\"text\"".to_vec(),
            "application/json",
            400,
            "a string instead of an object".to_owned(),
        ),
        (
            with(&route.valid, "surprise", json!(1))
                .to_string()
                .into_bytes(),
            "application/json",
            400,
            "an unknown field".to_owned(),
        ),
        (
            format!("{{\"x\": \"{}\"}}", "a".repeat(70 * 1024)).into_bytes(),
            "application/json",
            413,
            "a 70 KiB body".to_owned(),
        ),
        (
            route.valid.to_string().into_bytes(),
            "text/plain",
            415,
            "a text/plain body".to_owned(),
        ),
    ];
    // PostgreSQL's text cannot hold NUL: refused up front, never a 500 from the database.
    if let Some(fields) = route.valid.as_object() {
        for (name, value) in fields {
            if value.is_string() {
                cases.push(json_case(
                    with(&route.valid, name, json!("a\u{0}b")),
                    format!("a NUL character in {name}"),
                ));
            }
        }
    }
    for field in route.valid.as_object().expect("an object").keys() {
        cases.push(json_case(
            with(&route.valid, field, json!({"nested": true})),
            format!("an object for {field}"),
        ));
    }
    for field in route.required {
        cases.push(json_case(
            without(&route.valid, field),
            format!("a missing {field}"),
        ));
        cases.push(json_case(
            with(&route.valid, field, Value::Null),
            format!("a null {field}"),
        ));
    }
    for field in route.numbers {
        for huge in ["99999999999999999999", "1e400", "-1e30", "1.5"] {
            // Spliced in as raw text: these numbers cannot be built as a `serde_json::Value`.
            let mut rest = route.valid.clone();
            rest.as_object_mut().expect("an object").remove(*field);
            let rest = rest.to_string();
            let body = if rest == "{}" {
                format!("{{\"{field}\":{huge}}}")
            } else {
                format!("{{\"{field}\":{huge},{}", &rest[1..])
            };
            cases.push((
                body.into_bytes(),
                "application/json",
                400,
                format!("{huge} for {field}"),
            ));
        }
    }
    for field in route.enums {
        cases.push(json_case(
            with(&route.valid, field, json!("superuser")),
            format!("an unknown {field}"),
        ));
        cases.push(json_case(
            with(&route.valid, field, json!("PENDING")),
            format!("a wrongly cased {field}"),
        ));
    }
    cases
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_write_route_refuses_bad_input_and_writes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;

    for route in routes(&w) {
        for (body, content_type, expected, description) in cases(&route) {
            // Arrange
            let before = app.fingerprint().await;

            // Act
            let answer = app
                .raw(
                    route.method.clone(),
                    &route.path,
                    Some(&w.admin.access),
                    Some(content_type),
                    body,
                )
                .await;

            // Assert
            let case = format!("{} {} with {description}", route.method, route.path);
            assert_eq!(answer.status, expected, "{case}: {}", answer.body);
            assert_eq!(
                app.fingerprint().await,
                before,
                "{case}: something was written"
            );
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn prices_out_of_range_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let before = app.fingerprint().await;

    for price in [0_i64, -100, 100_000_000_000_001, i64::MAX] {
        let create = app
            .post(
                "/api/v1/services",
                &w.admin.access,
                json!({"name": "Priced", "price": price}),
            )
            .await;
        assert_eq!(
            (create.status, create.code()),
            (400, "invalid"),
            "price {price}"
        );
        assert!(create.body["errors"]["price"].is_array());
        let update = app
            .patch(
                &format!("/api/v1/services/{}", w.service),
                &w.admin.access,
                json!({"price": price}),
            )
            .await;
        assert_eq!(
            (update.status, update.code()),
            (400, "invalid"),
            "price {price}"
        );
    }
    for limit in ["0", "-1", "abc"] {
        let answer = app
            .get(&format!("/api/v1/orders?limit={limit}"), &w.admin.access)
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "invalid"),
            "limit {limit}"
        );
    }
    let capped = app.get("/api/v1/orders?limit=1000", &w.admin.access).await;
    assert_eq!(
        capped.expect(200)["results"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(app.fingerprint().await, before);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn unknown_routes_and_ids_answer_in_the_envelope(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;

    let unknown = app.get("/api/v1/nothing-here", &w.admin.access).await;
    let not_a_number = app.get("/api/v1/orders/abc", &w.admin.access).await;
    let overflow = app
        .get("/api/v1/orders/99999999999999999999", &w.admin.access)
        .await;
    let wrong_method = app
        .call(
            Method::DELETE,
            "/api/v1/orders",
            Some(&w.admin.access),
            None,
        )
        .await;

    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    assert_eq!(
        (not_a_number.status, not_a_number.code()),
        (404, "not_found")
    );
    assert_eq!((overflow.status, overflow.code()), (404, "not_found"));
    assert_eq!(wrong_method.status, 405);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn nul_characters_in_a_query_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    for path in [
        "/api/v1/users?search=a%00b",
        "/api/v1/orders?status=%00",
        "/api/v1/notifications?kind=paid%00",
    ] {
        let answer = app.get(path, &w.admin.access).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "invalid"),
            "{path}: {}",
            answer.body
        );
    }
    // An escaped backslash before `u0000` is plain text, not NUL.
    let answer = app
        .post(
            &format!("/api/v1/orders/{}/messages", w.order_a),
            &w.client_a.access,
            json!({ "text": "C:\\u0000 is a path" }),
        )
        .await;
    assert_eq!(answer.expect(201)["text"], "C:\\u0000 is a path");
}

//! Numbers at their extremes in every integer query and path parameter of every operation of the OpenAPI
//! document: generated values (the edges of `i64`, negative, huge offsets and limits, numbers too big for `i64`,
//! and random ones) never produce a 5xx, and a page is never longer than the largest page.

use proptest::{
    prelude::*,
    strategy::ValueTree as _,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{World, spawn_app};

/// Cases generated per operation.
const CASES: usize = 12;

/// A value for an integer parameter: the edges first among equals, then anything.
fn integer() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(i64::MAX.to_string()),
        Just((i64::MAX - 5).to_string()),
        Just(i64::MIN.to_string()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("1000000000".to_owned()),
        Just("1000000001".to_owned()),
        Just("9223372036854775808".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("-0".to_owned()),
        Just("1e3".to_owned()),
        Just(String::new()),
        any::<i64>().prop_map(|n| n.to_string()),
        (0_i64..2_000).prop_map(|n| n.to_string()),
    ]
}

/// One operation's integer parameters: `(name, in path?)`.
struct Operation {
    method: Method,
    path: String,
    integers: Vec<(String, bool)>,
}

/// Every operation of the document with at least one integer parameter (the payment webhooks excepted: they take
/// no parameters and are tested with their own protocols).
fn operations(spec: &Value) -> Vec<Operation> {
    let mut found = Vec::new();
    let paths = spec["paths"].as_object().expect("the document has paths");
    for (path, item) in paths {
        let item = item.as_object().expect("a path item");
        for (method, operation) in item {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let integers: Vec<(String, bool)> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| {
                    p["schema"]["type"] == "integer"
                        || p["schema"]["type"] == json!(["integer", "null"])
                })
                .map(|p| {
                    let name = p["name"].as_str().expect("a parameter name").to_owned();
                    (name, p["in"] == "path")
                })
                .collect();
            if !integers.is_empty() {
                found.push(Operation {
                    method,
                    path: path.clone(),
                    integers,
                });
            }
        }
    }
    found
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn integers_at_their_extremes_never_make_a_server_error(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let spec = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let operations = operations(spec.expect(200));
    assert!(
        operations
            .iter()
            .filter(|o| o.method == Method::GET)
            .count()
            >= 8,
        "the document's list and detail routes were found"
    );
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    // Act and assert: each operation, as an admin (who sees everything) and as a client, with generated values.
    for operation in &operations {
        for token in [&w.admin.access, &w.client_a.access] {
            for _ in 0..CASES {
                let mut path = format!("/api/v1{}", operation.path);
                let mut query = Vec::new();
                for (name, in_path) in &operation.integers {
                    let value = integer()
                        .new_tree(&mut runner)
                        .expect("a generated value")
                        .current();
                    if *in_path {
                        path = path.replace(&format!("{{{name}}}"), &value);
                    } else {
                        query.push(format!("{name}={value}"));
                    }
                }
                if !query.is_empty() {
                    path = format!("{path}?{}", query.join("&"));
                }
                let body = (operation.method != Method::GET && operation.method != Method::DELETE)
                    .then(|| json!({}));
                // `call` fails the test on any 5xx and on an error outside the envelope.
                let answer = app
                    .call(operation.method.clone(), &path, Some(token), body)
                    .await;
                if let Some(results) = answer.body["results"].as_array() {
                    assert!(
                        results.len() <= 100,
                        "{} {path} answered a page of {} rows",
                        operation.method,
                        results.len()
                    );
                }
            }
        }
    }
}

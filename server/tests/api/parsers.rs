//! Every parser of outside input under generated input, through the real endpoints: Click's form (signed, so the
//! amount and numeric fields reach the checks past the signature), Payme's JSON-RPC envelope, the query strings of
//! every list route, and the live socket's client frames. Whatever comes in, nothing panics and nothing answers a
//! 5xx; what must be echoed is echoed.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use proptest::{
    prelude::*,
    strategy::ValueTree as _,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _};

use crate::{
    helpers::{PAYME_KEY, World, spawn_app},
    payments::common::{basic, click, click_raw, payme_raw},
};

/// Cases generated per parser.
const CASES: usize = 64;

/// A deterministic generator, so a failure names a case that fails again.
fn runner() -> TestRunner {
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[42; 32]),
    )
}

/// One generated value.
fn generate<S: Strategy>(strategy: &S, runner: &mut TestRunner) -> S::Value {
    strategy
        .new_tree(runner)
        .expect("a generated value")
        .current()
}

/// Text a number field might carry: numbers in every spelling, and anything else.
fn numberish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| format!("{n}0")),
        (0_u32..1_000_000, 0_u32..1_000).prop_map(|(a, b)| format!("{a}.{b}")),
        "[+-]?0*[0-9]{1,25}(\\.[0-9]{0,5})?",
        "[0-9a-fA-FxX.eE+ -]{0,12}",
        ".{0,12}",
    ]
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn clicks_form_never_breaks_the_webhook(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut runner = runner();
    let field_names = [
        "click_trans_id",
        "service_id",
        "click_paydoc_id",
        "merchant_trans_id",
        "merchant_prepare_id",
        "amount",
        "action",
        "error",
        "sign_time",
    ];
    for case in 0..CASES {
        // A signed request whose fields are generated: it passes the signature and reaches every later check.
        let mut fields: Vec<(&str, String)> = field_names
            .iter()
            .map(|name| (*name, generate(&numberish(), &mut runner)))
            .collect();
        if case % 2 == 0 {
            // Half the cases name a real order, so the checks after the order's lookup run too.
            for (name, value) in &mut fields {
                if *name == "merchant_trans_id" {
                    *value = w.order_a.to_string();
                }
            }
        }
        // Act: signed, then raw bytes of anything.
        let signed = click(&app, &fields).await;
        let raw: Vec<u8> = generate(&proptest::collection::vec(any::<u8>(), 0..300), &mut runner);
        let unsigned = click_raw(&app, raw).await;
        // Assert: both are Click answers (HTTP 200 is asserted by the helpers), refusals with Click's codes.
        for answer in [&signed, &unsigned] {
            let code = answer["error"]
                .as_i64()
                .unwrap_or_else(|| panic!("case {case}: no error code in {answer}"));
            assert!(code <= 0, "case {case}: {answer}");
            assert!(answer["error_note"].is_string(), "case {case}: {answer}");
        }
    }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn paymes_envelope_never_breaks_the_webhook_and_echoes_the_id(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let mut runner = runner();
    let auth = basic("Paycom", PAYME_KEY);
    let methods = prop_oneof![
        Just("CheckPerformTransaction".to_owned()),
        Just("CreateTransaction".to_owned()),
        Just("PerformTransaction".to_owned()),
        Just("CancelTransaction".to_owned()),
        Just("CheckTransaction".to_owned()),
        Just("GetStatement".to_owned()),
        ".{0,20}",
    ];
    for case in 0..CASES {
        let id = generate(
            &prop_oneof![
                any::<i64>().prop_map(Value::from),
                "[a-z0-9]{1,12}".prop_map(Value::from)
            ],
            &mut runner,
        );
        let method = generate(&methods, &mut runner);
        let params = generate(&json_value(), &mut runner);
        let body = json!({ "id": id, "method": method, "params": params });
        // Act: an authenticated envelope of generated parts, and generated bytes.
        let answer = payme_raw(&app, Some(&auth), body.to_string()).await;
        let bytes: Vec<u8> = generate(&proptest::collection::vec(any::<u8>(), 0..200), &mut runner);
        let raw = payme_raw(&app, Some(&auth), bytes).await;
        // Assert: JSON-RPC answers; the id of a well-formed envelope is echoed (the round trip Payme relies on).
        assert_eq!(answer["id"], id, "case {case}: {body} → {answer}");
        for answer in [&answer, &raw] {
            assert_eq!(answer["jsonrpc"], "2.0", "case {case}: {answer}");
            assert!(
                answer.get("result").is_some() != answer.get("error").is_some(),
                "case {case}: a result or an error: {answer}"
            );
            if let Some(code) = answer["error"]["code"].as_i64() {
                assert!(code < 0, "case {case}: {answer}");
            }
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn every_list_route_takes_any_query_string(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut runner = runner();
    let routes = [
        "/api/v1/orders",
        "/api/v1/notifications",
        "/api/v1/transactions",
        "/api/v1/users",
        "/api/v1/services",
        &format!("/api/v1/orders/{}/timeline", w.order_a),
        &format!("/api/v1/orders/{}/messages", w.order_a),
    ]
    .map(str::to_owned);
    let keys = prop_oneof![
        Just("limit".to_owned()),
        Just("offset".to_owned()),
        Just("status".to_owned()),
        Just("kind".to_owned()),
        Just("unread".to_owned()),
        Just("after_id".to_owned()),
        Just("order_id".to_owned()),
        Just("role".to_owned()),
        Just("provider".to_owned()),
        Just("is_active".to_owned()),
        "[a-z_%\\[\\]]{1,8}",
    ];
    let values = prop_oneof![numberish(), "[a-z_]{0,10}", "%[0-9A-F]{2}", ".{0,8}"];
    for route in &routes {
        for case in 0..CASES / 4 {
            let pairs: Vec<(String, String)> = generate(
                &proptest::collection::vec((keys.clone(), values.clone()), 0..4),
                &mut runner,
            );
            let query = pairs
                .iter()
                .map(|(k, v)| format!("{k}={}", v.replace(['&', '#'], "")))
                .collect::<Vec<_>>()
                .join("&");
            // Act and assert: `call` fails on any 5xx and on an error outside the envelope.
            let answer = app
                .call(
                    Method::GET,
                    &format!("{route}?{query}"),
                    Some(&w.admin.access),
                    None,
                )
                .await;
            assert!(
                [200, 400, 403, 404].contains(&answer.status),
                "case {case}: {route}?{query} answered {}: {}",
                answer.status,
                answer.body
            );
        }
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_socket_answers_any_client_frame_and_stays_open(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let mut request = format!("{}/ws/notifications", app.ws_base())
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", w.client_a.access)
            .parse()
            .expect("a header value"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens");
    let mut runner = runner();
    let frames = prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        json_value().prop_map(|v| json!({ "type": "mark_read", "ids": v }).to_string()),
        proptest::collection::vec(any::<i64>(), 0..5)
            .prop_map(|ids| json!({ "type": "mark_read", "ids": ids }).to_string()),
        Just(json!({ "type": "ping" }).to_string()),
        ".{0,40}",
    ];
    // A socket may send 50 frames per 10 s: two a case stays under the budget.
    for case in 0..24 {
        let text = generate(&frames, &mut runner);
        // Act
        ws.send(Message::Text(text.clone().into()))
            .await
            .expect("sent");
        ws.send(Message::Text(json!({ "type": "ping" }).to_string().into()))
            .await
            .expect("sent");
        // Assert: every frame up to the pong is JSON (errors in the envelope of frames), and the socket is open.
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .unwrap_or_else(|_| panic!("case {case}: an answer within 10 s to {text:?}"));
            match message {
                Some(Ok(Message::Text(frame))) => {
                    let frame: Value = serde_json::from_str(&frame)
                        .unwrap_or_else(|e| panic!("case {case}: JSON frames ({e}): {frame}"));
                    if frame["type"] == "error" {
                        assert_ne!(
                            frame["code"], "server_error",
                            "case {case}: {text:?} → {frame}"
                        );
                    }
                    if frame["type"] == "pong" {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                other => panic!("case {case}: the socket closed on {text:?}: {other:?}"),
            }
        }
    }
}

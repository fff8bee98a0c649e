//! The gateway sandbox: the `server sandbox` command plays Payme and Click against a running server, and the
//! sandbox page plays them for the order's client (and is not there in production).

use std::process::Output;

use serde_json::{Value, json};
use sqlx::PgPool;

use super::common::{PAID_KINDS, assert_seen, checkout, order_status};
use crate::helpers::{
    CLICK_MERCHANT_USER, CLICK_SECRET, CLICK_SERVICE, PAYME_KEY, PAYME_MERCHANT, TestApp, World,
    spawn_app, spawn_app_with,
};

/// The database URL of the test's own database (for the CLI).
async fn database_url(app: &TestApp) -> String {
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&app.db)
        .await
        .expect("a name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests");
    let (server, _) = base.rsplit_once('/').expect("a database URL with a path");
    format!("{server}/{name}")
}

/// Runs `server sandbox <provider> --order <order> --action <action>` against `app`.
async fn sandbox_cli(app: &TestApp, provider: &str, order: i64, action: &str) -> Output {
    let order = order.to_string();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["sandbox", provider, "--order", &order, "--action", action])
        .env("DATABASE_URL", database_url(app).await)
        .env("SANDBOX_TARGET_URL", &app.base)
        .env("PAYME_MERCHANT_ID", PAYME_MERCHANT)
        .env("PAYME_KEY", PAYME_KEY)
        .env("CLICK_SERVICE_ID", CLICK_SERVICE.to_string())
        .env("CLICK_MERCHANT_ID", "777")
        .env("CLICK_MERCHANT_USER_ID", CLICK_MERCHANT_USER.to_string())
        .env("CLICK_SECRET_KEY", CLICK_SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the CLI runs")
}

/// Runs the sandbox command, asserts it succeeded and returns what it printed.
async fn sandbox_cli_ok(app: &TestApp, provider: &str, order: i64, action: &str) -> String {
    let out = sandbox_cli(app, provider, order, action).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{provider} {action} of order {order}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_sandbox_cli_pays_an_order_end_to_end(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let (a, b) = (w.order_a, w.order_b);

    // Payme through the CLI pays order A, and everyone involved sees it.
    let stdout = sandbox_cli_ok(&app, "payme", a, "pay").await;
    assert!(stdout.contains("PerformTransaction"), "{stdout}");
    assert!(
        stdout.contains(&format!("Order #{a} is now paid.")),
        "{stdout}"
    );
    assert_eq!(order_status(&app, a).await, "paid");
    assert_seen(&app, &[&w.client_a, &w.worker_a, &w.admin], a, PAID_KINDS).await;

    // Paying again fails visibly; a refund through the sandbox cancels the order.
    assert!(!sandbox_cli(&app, "payme", a, "pay").await.status.success());
    sandbox_cli_ok(&app, "payme", a, "refund").await;
    assert_eq!(order_status(&app, a).await, "canceled");

    // Click through the CLI: a decline leaves the order payable, then a payment goes through.
    for (action, status) in [("decline", "pending"), ("pay", "paid")] {
        sandbox_cli_ok(&app, "click", b, action).await;
        assert_eq!(
            order_status(&app, b).await,
            status,
            "after Click's {action}"
        );
    }
    let kinds = [
        "order_created",
        "payment_canceled",
        "payment_confirmed",
        "order_status_changed",
    ];
    assert_seen(&app, &[&w.worker_b], b, &kinds).await;
}

/// `GET url` as `token`'s user.
async fn get_page(app: &TestApp, url: &str, token: &str) -> reqwest::Response {
    app.http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer")
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_sandbox_page_plays_the_provider_for_the_orders_client(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let url = format!("{}/sandbox/click/{}", app.base, w.order_a);
    let page = get_page(&app, &url, &w.client_a.access).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("HTML");
    assert!(
        html.contains(r#"<strong id="status">pending</strong>"#),
        "{html}"
    );

    // Act
    let paid = app
        .http
        .post(&url)
        .bearer_auth(&w.client_a.access)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("action=pay")
        .send()
        .await
        .expect("an answer");

    // Assert
    let html = paid.text().await.expect("HTML");
    assert!(
        html.contains(r#"<strong id="status">paid</strong>"#),
        "{html}"
    );
    assert!(html.contains("Click Complete"), "{html}");
    assert_eq!(order_status(&app, w.order_a).await, "paid");
    // Other clients and workers are refused; without the sandbox switch there is no page at all.
    for (user, status, what) in [
        (&w.client_b, 404, "another client"),
        (&w.worker_a, 403, "a worker"),
    ] {
        let answer = get_page(&app, &url, &user.access).await;
        assert_eq!(answer.status(), status, "{what}");
    }
    let secret = app.jwt_secret.clone();
    let production = spawn_app_with(app.db.clone(), move |c| {
        c.payments.payment_sandbox = false;
        c.jwt_secret = secrecy::SecretString::from(secret);
    })
    .await;
    let url = format!("{}/sandbox/click/{}", production.base, w.order_a);
    assert_ne!(
        get_page(&production, &url, &w.client_a.access)
            .await
            .status(),
        200
    );
    let answer = checkout(&production, &w.client_b, w.order_b, "click").await;
    assert_eq!(answer.expect(201)["sandbox_url"], Value::Null);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn the_sandbox_page_escapes_the_service_name(pool: PgPool) {
    // Arrange: the admin names the ordered service with markup.
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let name = "<script>alert(1)</script> & <b>Co</b>";
    app.patch(
        &format!("/api/v1/services/{}", w.service),
        &w.admin.access,
        json!({ "name": name }),
    )
    .await
    .expect(200);

    // Act: the order's client opens the sandbox page for the order.
    let page = app
        .http
        .get(format!("{}/sandbox/payme/{}", app.base, w.order_a))
        .bearer_auth(&w.client_a.access)
        .send()
        .await
        .expect("an answer");

    // Assert: the name is on the page as text, never as markup.
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("HTML");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
}

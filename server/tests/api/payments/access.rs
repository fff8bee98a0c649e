//! Who may call the webhooks: Payme's test key only while the test mode is on, and the optional source-address
//! lists of both providers, refusing others as unauthenticated callers in the provider's own format.

use serde_json::json;
use sqlx::PgPool;

use super::common::{
    PRICE, account, basic, click, click_error, click_fields, error_code, payme_raw, result,
};
use crate::helpers::{PAYME_KEY, World, spawn_app_with};

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn paymes_test_key_opens_the_cashbox_only_in_test_mode(pool: PgPool) {
    let test_key = "test-key-of-the-paycom-sandbox-0123";
    let production = spawn_app_with(pool.clone(), |c| {
        c.payments.payme_test_key = Some(secrecy::SecretString::from(test_key));
    })
    .await;
    let testing = spawn_app_with(pool, |c| {
        c.payments.payme_test_key = Some(secrecy::SecretString::from(test_key));
        c.payments.payme_test_mode = true;
    })
    .await;
    let w = World::new(&production).await;
    let check = json!({
        "id": 1, "method": "CheckPerformTransaction",
        "params": { "amount": PRICE, "account": account(w.order_a) },
    })
    .to_string();

    let refused = payme_raw(&production, Some(&basic("Paycom", test_key)), check.clone()).await;
    assert_eq!(error_code(&refused), -32504, "{refused}");
    let live = payme_raw(
        &production,
        Some(&basic("Paycom", PAYME_KEY)),
        check.clone(),
    )
    .await;
    assert_eq!(result(&live)["allow"], true, "{live}");
    let tested = payme_raw(&testing, Some(&basic("Paycom", test_key)), check).await;
    assert_eq!(result(&tested)["allow"], true, "{tested}");
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn webhooks_refuse_callers_outside_their_address_lists_in_the_providers_format(pool: PgPool) {
    // Arrange: one server whose lists leave out this machine, one whose lists hold it.
    let elsewhere = spawn_app_with(pool.clone(), |c| {
        c.payments.payme_allowed_ips =
            Some("185.234.113.1/32, 2001:db8::/32".parse().expect("a list"));
        c.payments.click_allowed_ips = Some("10.0.0.0/8".parse().expect("a list"));
    })
    .await;
    let here = spawn_app_with(pool, |c| {
        c.payments.payme_allowed_ips = Some("127.0.0.0/8, ::1".parse().expect("a list"));
        c.payments.click_allowed_ips = Some("127.0.0.1".parse().expect("a list"));
    })
    .await;
    let w = World::new(&elsewhere).await;
    let before = elsewhere.fingerprint().await;
    let check = json!({
        "id": 3, "method": "CheckPerformTransaction",
        "params": { "amount": PRICE, "account": account(w.order_a) },
    })
    .to_string();

    // Act and assert: refused with HTTP 200, as each provider expects an unauthenticated call to be.
    let payme_answer =
        payme_raw(&elsewhere, Some(&basic("Paycom", PAYME_KEY)), check.clone()).await;
    assert_eq!(error_code(&payme_answer), -32504, "{payme_answer}");
    assert_eq!(payme_answer["id"], 3);
    let prepare = click_fields(7_000_000_001, w.order_a, 0, None);
    let click_answer = click(&elsewhere, &prepare).await;
    assert_eq!(click_error(&click_answer), -1, "{click_answer}");
    assert_eq!(click_answer["error_note"], "SIGN CHECK FAILED!");
    assert_eq!(
        elsewhere.fingerprint().await,
        before,
        "a refused call changed something"
    );

    let payme_answer = payme_raw(&here, Some(&basic("Paycom", PAYME_KEY)), check).await;
    assert_eq!(result(&payme_answer)["allow"], true, "{payme_answer}");
    let click_answer = click(&here, &prepare).await;
    assert_eq!(click_error(&click_answer), 0, "{click_answer}");
}

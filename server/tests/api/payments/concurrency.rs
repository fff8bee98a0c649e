//! Identical provider requests sent at once: one transaction, one payment, one notification, the same answer.

use sqlx::PgPool;

use super::common::{
    Call, PENDING, Scenario, all_alike, at_once, click_error, count_kind, now_ms, order_status,
    result, transactions_of,
};
use crate::helpers::{TestApp, World, spawn_app};

/// Asserts that `order` is paid, and that its payment and its status change were each notified once.
async fn assert_paid_once(app: &TestApp, order: i64) {
    assert_eq!(order_status(app, order).await, "paid");
    for kind in ["payment_confirmed", "order_status_changed"] {
        assert_eq!(count_kind(app, order, kind).await, 1, "{kind}");
    }
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn fifty_concurrent_identical_performs_pay_once_and_notify_once(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let id = "c0c0c0c0c0c0c0c0c0c0c0c0";
    let order = w.order_a;

    // Act and assert: 50 identical creates at once make one transaction, with one answer.
    let creates = at_once(&app, 50, &Call::create(id, order, now_ms(&app)), None).await;
    result(all_alike(&creates, "every create answers identically"));
    assert_eq!(transactions_of(&app, order).await, 1);

    // Act and assert: 50 identical performs at once pay once and notify once.
    let performs = at_once(&app, 50, &Call::perform(id), None).await;
    result(all_alike(&performs, "every perform answers identically"));
    assert_paid_once(&app, order).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn fifty_concurrent_identical_click_completes_confirm_once(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let (attempt, order) = (4_000_000_001, w.order_a);
    let mut sc = Scenario::new(&app);
    sc.step((Call::prepare(attempt, order), 0, PENDING, "prepared"))
        .await;

    // Act
    let complete = Call::complete(attempt, order);
    let answers = at_once(&app, 50, &complete, Some(sc.prepare_id(attempt))).await;

    // Assert
    let mut codes: Vec<i64> = answers.iter().map(click_error).collect();
    codes.sort_unstable();
    assert_eq!(codes.iter().filter(|&&c| c == 0).count(), 1, "{codes:?}");
    assert_eq!(
        codes.iter().filter(|&&c| c == -4).count(),
        49,
        "the repeats are 'already paid': {codes:?}"
    );
    assert_paid_once(&app, order).await;
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn concurrent_identical_cancels_and_prepares_act_once(pool: PgPool) {
    // Arrange
    let app = spawn_app(pool).await;
    let w = World::new(&app).await;
    let id = "cacacacacacacacacacacaca";
    let reserve = Call::create(id, w.order_a, now_ms(&app));
    Scenario::new(&app)
        .step((reserve, 0, PENDING, "reserved"))
        .await;

    // Act and assert: 20 identical cancels at once cancel once.
    let cancels = at_once(&app, 20, &Call::cancel(id, 3), None).await;
    result(all_alike(&cancels, "every cancel answers identically"));
    assert_eq!(count_kind(&app, w.order_a, "payment_canceled").await, 1);

    // Act and assert: 20 identical Prepares at once prepare one attempt.
    let prepares = at_once(&app, 20, &Call::prepare(9_100_000_001, w.order_b), None).await;
    let prepared = all_alike(&prepares, "every prepare answers identically");
    assert_eq!(click_error(prepared), 0);
    assert_eq!(
        transactions_of(&app, w.order_b).await,
        1,
        "one prepared attempt"
    );
}

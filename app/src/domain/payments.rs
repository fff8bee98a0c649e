//! Payments through Payme and Click: the checkout link, the effects of a payment on its order, and the expiry of
//! reservations, written once for both providers' webhooks ([`payme`], [`click`]), the REST API and the sandbox.
//!
//! The rules (`shared/PAYMENTS.md`, the decisions at its top):
//! - a live Payme transaction (state 1) or a prepared Click attempt (status `processing`) *reserves* its order: no
//!   transaction of the other provider may start, and nobody but a payment may move the order meanwhile;
//! - a perform / a successful complete confirms the transaction and moves the order `pending → paid`;
//! - a cancel before perform releases the order (it stays `pending`, payable again);
//! - a cancel after perform (a Payme refund) cancels a `paid` order, and is refused once work started;
//! - every change happens under the order's row lock, in one database transaction with its notifications.

pub mod click;
pub mod fiscal;
pub mod payme;
mod settings;

use settings::from_ms;
pub use settings::{
    AddressList, ClickSettings, Clock, DEFAULT_FISCAL_UNIT, FiscalSettings, PaymeSettings, Settings,
};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};

use super::{
    Actor, Error, Result,
    context::Context,
    events::EventSink,
    notifications::{self, NewEvent},
    orders::{self, LockedOrder},
};
use crate::models::{
    CreatePaymentInput, NotificationKind, OrderStatus, PaymentCheckout, PaymentProvider, Role,
    TransactionStatus, status::Party,
};

/// Payme cancels a transaction that was not performed within 12 hours of its creation (`shared/PAYMENTS.md` §1.8).
pub const PAYME_TIMEOUT_MS: i64 = 43_200_000;

/// How long a webhook call may take before it is answered with the provider's "try again" error (Payme -32400,
/// Click -7), well inside the server's request timeout, so the providers always get an HTTP 200 answer.
pub const WEBHOOK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// The cancel reason of a timeout (Payme's reason 4; also used for stale Click preparations).
pub const REASON_TIMEOUT: i32 = 4;

/// Milliseconds of an optional time, `0` when unset (Payme's convention).
fn ms(time: Option<DateTime<Utc>>) -> i64 {
    time.map_or(0, |t| t.timestamp_millis())
}

/// A transaction row as the webhooks need it.
#[derive(Debug, Clone)]
pub(crate) struct TxnRow {
    pub id: i64,
    pub order_id: i64,
    pub provider: String,
    pub amount: i64,
    pub status: String,
    pub provider_transaction_id: Option<String>,
    pub state: i32,
    pub reason: Option<i32>,
    pub provider_time: Option<i64>,
    pub reserved_at: Option<DateTime<Utc>>,
    pub performed_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
}

impl TxnRow {
    /// Whether this reservation has run out at `now_ms` (Payme: 12 h from Payme's `time`; Click: the prepare TTL).
    fn expired(&self, settings: &Settings, now_ms: i64) -> bool {
        if self.status != TransactionStatus::Processing.as_str() {
            return false;
        }
        if self.provider == PaymentProvider::Payme.as_str() {
            self.provider_time
                .is_some_and(|t| now_ms.saturating_sub(t) > PAYME_TIMEOUT_MS)
        } else {
            ms(self.reserved_at).saturating_add(settings.click_ttl_ms()) < now_ms
        }
    }
}

/// The transaction a provider knows by `provider_id` (Payme's `params.id`, Click's `click_trans_id`).
pub(crate) async fn find(
    db: impl sqlx::PgExecutor<'_>,
    provider: PaymentProvider,
    provider_id: &str,
) -> Result<Option<TxnRow>> {
    Ok(sqlx::query_as!(
        TxnRow,
        r#"
        select id, order_id, provider, amount, status, provider_transaction_id, state, reason, provider_time,
               reserved_at, performed_at, canceled_at
        from transactions where provider = $1 and provider_transaction_id = $2
        "#,
        provider.as_str(),
        provider_id
    )
    .fetch_optional(db)
    .await?)
}

/// Opens a database transaction and locks an order, then one of its transactions: always in that order, so two
/// calls on the same payment queue up instead of deadlocking. The transaction row is read under the lock.
pub(crate) async fn lock_with_order(
    db: &PgPool,
    order_id: i64,
    txn_id: i64,
) -> Result<(Transaction<'static, Postgres>, LockedOrder, TxnRow)> {
    let mut tx = db.begin().await?;
    let order = orders::lock(&mut tx, None, order_id).await?;
    let txn = sqlx::query_as!(
        TxnRow,
        r#"
        select id, order_id, provider, amount, status, provider_transaction_id, state, reason, provider_time,
               reserved_at, performed_at, canceled_at
        from transactions where id = $1 for update
        "#,
        txn_id
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok((tx, order, txn))
}

/// Releases a locked order's expired reservations and commits: the request that found them is refused, but the
/// release stands.
pub(crate) async fn commit_expiry(
    mut tx: Transaction<'_, Postgres>,
    events: &dyn EventSink,
    settings: &Settings,
    order: &LockedOrder,
) -> Result<()> {
    release_expired(&mut tx, settings, order).await?;
    tx.commit().await?;
    events.committed(Vec::new());
    Ok(())
}

/// The transactions of an order that reserve or paid it (status `processing` or `confirmed`).
async fn holding(db: impl sqlx::PgExecutor<'_>, order_id: i64) -> Result<Vec<TxnRow>> {
    Ok(sqlx::query_as!(
        TxnRow,
        r#"
        select id, order_id, provider, amount, status, provider_transaction_id, state, reason, provider_time,
               reserved_at, performed_at, canceled_at
        from transactions where order_id = $1 and status in ('processing', 'confirmed') order by id
        "#,
        order_id
    )
    .fetch_all(db)
    .await?)
}

/// The live holders of an order at `now_ms` (expired reservations do not count).
async fn live_holders(
    db: impl sqlx::PgExecutor<'_>,
    settings: &Settings,
    order_id: i64,
) -> Result<Vec<TxnRow>> {
    let now = settings.clock.now_ms();
    Ok(holding(db, order_id)
        .await?
        .into_iter()
        .filter(|t| !t.expired(settings, now))
        .collect())
}

/// A provider's attempt to pay an order, as it reserves the order (Payme CreateTransaction, Click Prepare).
pub(crate) struct Attempt<'a> {
    pub provider: PaymentProvider,
    /// Payme's `params.id` or Click's `click_trans_id`.
    pub provider_transaction_id: &'a str,
    /// Tiyin.
    pub amount: i64,
    /// Payme's `time` of CreateTransaction, in milliseconds.
    pub provider_time: Option<i64>,
    /// Click's payment id (`click_paydoc_id`).
    pub click_paydoc_id: Option<i64>,
    pub reserved_at: DateTime<Utc>,
}

/// Records an attempt on a locked order as a reservation (`processing`, state 1). The checkout link's `waiting`
/// transaction of the same provider (the newest, if several) becomes the attempt; without one, a new row is the
/// attempt. The caller has checked that the order may be reserved.
pub(crate) async fn reserve(
    tx: &mut Transaction<'_, Postgres>,
    order: &LockedOrder,
    attempt: Attempt<'_>,
) -> Result<TxnRow> {
    Ok(sqlx::query_as!(
        TxnRow,
        r#"
        with adopted as (
            update transactions set status = 'processing', state = 1, provider_transaction_id = $3,
                   provider_time = $4, click_paydoc_id = $5, reserved_at = $6
            where id = (select id from transactions
                        where order_id = $1 and provider = $2 and status = 'waiting'
                        order by id desc limit 1)
            returning *
        ), inserted as (
            insert into transactions (order_id, provider, amount, status, state, provider_transaction_id,
                                      provider_time, click_paydoc_id, reserved_at)
            select $1, $2, $7, 'processing', 1, $3, $4, $5, $6 where not exists (select 1 from adopted)
            returning *
        )
        select id as "id!", order_id as "order_id!", provider as "provider!", amount as "amount!",
               status as "status!", provider_transaction_id, state as "state!", reason, provider_time,
               reserved_at, performed_at, canceled_at
        from (select * from adopted union all select * from inserted) as t
        "#,
        order.id,
        attempt.provider.as_str(),
        attempt.provider_transaction_id,
        attempt.provider_time,
        attempt.click_paydoc_id,
        attempt.reserved_at,
        attempt.amount
    )
    .fetch_one(&mut **tx)
    .await?)
}

fn payment_data(txn: &TxnRow) -> serde_json::Value {
    json!({ "transaction_id": txn.id, "provider": txn.provider, "amount": txn.amount })
}

/// Confirms a reserving transaction and moves its `pending` order to `paid`, with both events; a payment with
/// fiscal codes is due its receipt ([`fiscal::on_confirmed`]).
async fn confirm(
    tx: &mut Transaction<'_, Postgres>,
    settings: &Settings,
    order: &LockedOrder,
    txn: &TxnRow,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        r#"update transactions set status = 'confirmed', state = 2, performed_at = $2 where id = $1"#,
        txn.id,
        now
    )
    .execute(&mut **tx)
    .await?;
    fiscal::on_confirmed(tx, settings, txn, now).await?;
    count_outcome(txn, "confirmed");
    notifications::record(
        tx,
        NewEvent {
            order_id: order.id,
            kind: NotificationKind::PaymentConfirmed,
            actor_id: None,
            client_id: order.client_id,
            worker_id: order.worker_id,
            data: payment_data(txn),
        },
    )
    .await?;
    orders::transition(tx, order, OrderStatus::Paid, Party::Payment, None).await?;
    Ok(())
}

/// Cancels a transaction: before perform (`state` -1, the order stays payable) or after it (`state` -2, a refund:
/// a `paid` order is canceled). Records the events.
async fn cancel(
    tx: &mut Transaction<'_, Postgres>,
    order: &LockedOrder,
    txn: &TxnRow,
    state: i32,
    reason: Option<i32>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        r#"update transactions set status = 'canceled', state = $2, reason = $3, canceled_at = $4 where id = $1"#,
        txn.id,
        state,
        reason,
        now
    )
    .execute(&mut **tx)
    .await?;
    count_outcome(
        txn,
        match (state, reason) {
            (-2, _) => "refunded",
            (_, Some(REASON_TIMEOUT)) => "expired",
            _ => "canceled",
        },
    );
    let mut data = payment_data(txn);
    data["reason"] = json!(reason);
    data["refund"] = json!(state == -2);
    notifications::record(
        tx,
        NewEvent {
            order_id: order.id,
            kind: NotificationKind::PaymentCanceled,
            actor_id: None,
            client_id: order.client_id,
            worker_id: order.worker_id,
            data,
        },
    )
    .await?;
    if state == -2 && order.status == OrderStatus::Paid {
        orders::transition(tx, order, OrderStatus::Canceled, Party::Payment, None).await?;
    }
    Ok(())
}

/// Counts a payment outcome on `/metrics` (`task_payments_total{provider, outcome}`; counted when written, so a
/// rolled-back change may be counted too: these are rates for dashboards, the table is the record).
fn count_outcome(txn: &TxnRow, outcome: &'static str) {
    metrics::counter!("task_payments_total", "provider" => txn.provider.clone(), "outcome" => outcome)
        .increment(1);
}

/// Cancels the expired reservations of a locked order (reason 4), with their events. Returns how many.
async fn release_expired(
    tx: &mut Transaction<'_, Postgres>,
    settings: &Settings,
    order: &LockedOrder,
) -> Result<usize> {
    let now_ms = settings.clock.now_ms();
    let mut released = 0;
    for txn in holding(&mut **tx, order.id).await? {
        if txn.expired(settings, now_ms) {
            cancel(tx, order, &txn, -1, Some(REASON_TIMEOUT), from_ms(now_ms)).await?;
            tracing::info!(
                transaction.id = txn.id,
                order.id = order.id,
                "Payment {} for order {} timed out",
                txn.id,
                order.id
            );
            released += 1;
        }
    }
    Ok(released)
}

/// Cancels every expired reservation (run periodically, so an abandoned payment does not hold its order).
pub async fn sweep(ctx: &Context) -> Result<usize> {
    let (db, events, settings) = (&ctx.db, ctx.events.as_ref(), &*ctx.payments);
    let now_ms = settings.clock.now_ms();
    let click_before = from_ms(now_ms.saturating_sub(settings.click_ttl_ms()));
    let orders = sqlx::query_scalar!(
        r#"
        select distinct order_id as "order_id!" from transactions
        where status = 'processing'
          and ((provider = 'payme' and provider_time < $1) or (provider = 'click' and reserved_at < $2))
        limit 500
        "#,
        now_ms - PAYME_TIMEOUT_MS,
        click_before
    )
    .fetch_all(db)
    .await?;
    let mut released = 0;
    for order_id in orders {
        let mut tx = db.begin().await?;
        let order = orders::lock(&mut tx, None, order_id).await?;
        released += release_expired(&mut tx, settings, &order).await?;
        tx.commit().await?;
    }
    if released > 0 {
        events.committed(Vec::new());
    }
    Ok(released)
}

/// `POST /api/v1/payments`: the order's client starts paying for a `pending` order. Returns a transaction in
/// `waiting` (reused while one is open for the same provider) with the provider's checkout link and, in a demo,
/// the sandbox's.
pub async fn checkout(
    ctx: &Context,
    actor: &Actor,
    input: CreatePaymentInput,
) -> Result<PaymentCheckout> {
    let (db, settings) = (&ctx.db, &*ctx.payments);
    actor.require(Role::Client)?;
    if !settings.enabled(input.provider) {
        return Err(Error::field(
            "provider",
            "This payment provider is not enabled on this server.",
        ));
    }
    let mut tx = db.begin().await?;
    let order = orders::lock(&mut tx, Some(actor), input.order_id).await?;
    if order.status != OrderStatus::Pending {
        return Err(Error::Conflict(format!(
            "Only a pending order can be paid; this one is {}.",
            crate::lang::status(crate::i18n::Locale::en, order.status)
        )));
    }
    if !live_holders(&mut *tx, settings, order.id).await?.is_empty() {
        return Err(Error::Conflict(
            "A payment for this order is already in progress.".to_owned(),
        ));
    }
    if !fiscal::payable(&mut *tx, settings, order.id).await? {
        return Err(Error::Conflict(
            "This service has no fiscal codes yet, so it cannot be paid online.".to_owned(),
        ));
    }
    // Checked first, written after: the release of expired reservations commits with the new checkout.
    let released = release_expired(&mut tx, settings, &order).await?;
    let provider = input.provider.as_str();
    let existing = sqlx::query_scalar!(
        r#"
        select id from transactions where order_id = $1 and provider = $2 and status = 'waiting'
        order by id desc limit 1
        "#,
        order.id,
        provider
    )
    .fetch_optional(&mut *tx)
    .await?;
    let transaction_id = match existing {
        Some(id) => id,
        None => {
            sqlx::query_scalar!(
                r#"insert into transactions (order_id, provider, amount) values ($1, $2, $3) returning id"#,
                order.id,
                provider,
                order.price
            )
            .fetch_one(&mut *tx)
            .await?
        }
    };
    tx.commit().await?;
    if released > 0 {
        ctx.events.committed(Vec::new());
    }
    let return_url = format!("{}/orders/{}", settings.public_url, order.id);
    let payment_url = match input.provider {
        PaymentProvider::Payme => {
            let payme = settings.payme.as_ref().ok_or(Error::NotFound)?;
            payme_checkout_url(payme, order.id, order.price, &return_url)
        }
        PaymentProvider::Click => {
            let click = settings.click.as_ref().ok_or(Error::NotFound)?;
            click_checkout_url(click, order.id, order.price, &return_url)
        }
    };
    let sandbox_url = settings
        .sandbox
        .then(|| format!("{}/sandbox/{provider}/{}", settings.public_url, order.id));
    Ok(PaymentCheckout {
        transaction_id,
        payment_url,
        sandbox_url,
    })
}

/// Payme's checkout link: its base URL and base64 of `m=<merchant>;ac.order_id=<order>;a=<tiyin>;c=<return url>`.
pub fn payme_checkout_url(
    payme: &PaymeSettings,
    order_id: i64,
    amount: i64,
    return_url: &str,
) -> String {
    let params = format!(
        "m={};ac.order_id={order_id};a={amount};c={return_url}",
        payme.merchant_id
    );
    format!(
        "{}/{}",
        payme.checkout_url.trim_end_matches('/'),
        base64::engine::general_purpose::STANDARD.encode(params)
    )
}

/// Click's pay link: `services/pay?service_id=…&merchant_id=…&amount=<so'm>&transaction_param=<order>&return_url=…`.
pub fn click_checkout_url(
    click: &ClickSettings,
    order_id: i64,
    amount: i64,
    return_url: &str,
) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("service_id", &click.service_id.to_string())
        .append_pair("merchant_id", &click.merchant_id.to_string())
        .append_pair("amount", &click::format_sum(amount))
        .append_pair("transaction_param", &order_id.to_string())
        .append_pair("return_url", return_url)
        .finish();
    format!("{}?{query}", click.checkout_url)
}

/// Compares two secrets in constant time (for equal lengths; a length mismatch is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

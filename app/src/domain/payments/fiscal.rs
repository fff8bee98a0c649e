//! Fiscal receipts, as the law asks of every online payment (`shared/PAYMENTS.md` §4): the receipt line of an
//! order, whether a service may be paid without fiscal codes, Payme's `detail` and `SetFiscalData`, and the Click
//! receipts this server submits (`submit_items`) from a background step, retried with backoff, once per payment.
//!
//! One receipt line per order: the service's name, count 1, the order's price, the VAT contained in that price
//! (`price * vat / (100 + vat)`, rounded half up to the tiyin), the service's IKPU and package codes, and the
//! seller: the order's worker when they have a PINFL/TIN (sold on their behalf), else the merchant's TIN.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{Postgres, Transaction};

use super::{ClickSettings, Settings, TxnRow};
use crate::{
    domain::{Actor, Error, Result, context::Context, transactions},
    models::{FiscalStatus, PaymentProvider, Transaction as Txn},
};

/// After this many refused or unanswered submissions a Click receipt is `failed` until an admin retries it.
pub const MAX_ATTEMPTS: i32 = 12;

/// The wait before the submission after `attempts` failed ones: 30 s, doubling, at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 7)).unwrap_or(0);
    Duration::from_secs(30u64.saturating_mul(1 << doublings)).min(Duration::from_secs(3600))
}

/// The VAT contained in `price` at `vat_percent`: `price * vat / (100 + vat)`, rounded half up to the tiyin.
pub fn vat_contained(price: i64, vat_percent: i32) -> i64 {
    let (price, vat) = (i128::from(price), i128::from(vat_percent.clamp(0, 100)));
    let divisor = 100 + vat;
    let vat = (2 * price * vat + divisor) / (2 * divisor);
    i64::try_from(vat).unwrap_or(i64::MAX)
}

/// Who sells the service, as the receipt's commission info names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seller {
    /// A TIN (9 digits): the merchant's, or a worker's.
    Tin(String),
    /// A worker's PINFL (14 digits).
    Pinfl(String),
}

/// The one line of an order's receipt, as paid (kept with the payment in `transactions.fiscal_item`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub title: String,
    /// Tiyin, per unit (the count is always 1).
    pub price: i64,
    /// The IKPU code.
    pub code: String,
    pub package_code: Option<String>,
    pub vat_percent: i32,
    /// The VAT contained in the price, in tiyin.
    pub vat: i64,
    pub seller: Option<Seller>,
}

/// What an order's receipt line is made of, read from its service and worker.
struct Source {
    title: String,
    price: i64,
    code: Option<String>,
    package_code: Option<String>,
    vat_percent: i32,
    worker_tax_id: Option<String>,
}

/// The receipt line of order `order_id`; `None` when its service has no IKPU code (or there is no such order).
pub(crate) async fn line_of(
    db: impl sqlx::PgExecutor<'_>,
    settings: &Settings,
    order_id: i64,
) -> Result<Option<Line>> {
    let source = sqlx::query_as!(
        Source,
        r#"
        select s.name as title, o.price, s.ikpu_code as code, s.package_code, s.vat_percent,
               u.tax_id as "worker_tax_id?"
        from orders o join services s on s.id = o.service_id left join users u on u.id = o.worker_id
        where o.id = $1
        "#,
        order_id
    )
    .fetch_optional(db)
    .await?;
    Ok(source.and_then(|s| {
        let seller = match s.worker_tax_id {
            Some(id) if id.len() == 14 => Some(Seller::Pinfl(id)),
            Some(id) => Some(Seller::Tin(id)),
            None => settings.fiscal.merchant_tin.clone().map(Seller::Tin),
        };
        Some(Line {
            vat: vat_contained(s.price, s.vat_percent),
            code: s.code?,
            title: format!("{} ({})", s.title, settings.fiscal.unit),
            price: s.price,
            package_code: s.package_code,
            vat_percent: s.vat_percent,
            seller,
        })
    }))
}

/// Whether order `order_id` may be paid online: always with `FISCAL_RECEIPTS=optional`; with `required`, only
/// when its service has an IKPU code (`shared/PAYMENTS.md` §4). Refusals: checkout 409, Payme -31050, Click -5.
pub(crate) async fn payable(
    db: impl sqlx::PgExecutor<'_>,
    settings: &Settings,
    order_id: i64,
) -> Result<bool> {
    if !settings.fiscal.required {
        return Ok(true);
    }
    Ok(line_of(db, settings, order_id).await?.is_some())
}

/// The `detail` of Payme's `CheckPerformTransaction` for `line`: Payme issues the receipt from it.
pub fn payme_detail(line: &Line) -> Value {
    let mut item = json!({
        "title": line.title,
        "price": line.price,
        "count": 1,
        "code": line.code,
        "vat_percent": line.vat_percent,
    });
    if let Some(package) = &line.package_code {
        item["package_code"] = json!(package);
    }
    json!({ "receipt_type": 0, "items": [item] })
}

/// The body of Click's `submit_items` for `line`, paid `amount` tiyin as Click's payment `payment_id`. Every
/// amount is in tiyin (unlike the SHOP API's so'm).
pub fn click_items(click: &ClickSettings, line: &Line, payment_id: i64, amount: i64) -> Value {
    let mut item = json!({
        "Name": line.title,
        "SPIC": line.code,
        "Price": line.price,
        "Amount": 1,
        "VAT": line.vat,
        "VATPercent": line.vat_percent,
    });
    if let Some(package) = &line.package_code {
        item["PackageCode"] = json!(package);
    }
    match &line.seller {
        Some(Seller::Tin(tin)) => item["CommissionInfo"] = json!({ "TIN": tin }),
        Some(Seller::Pinfl(pinfl)) => item["CommissionInfo"] = json!({ "PINFL": pinfl }),
        None => {}
    }
    json!({
        "service_id": click.service_id,
        "payment_id": payment_id,
        "items": [item],
        "received_ecash": amount,
        "received_cash": 0,
        "received_card": 0,
    })
}

/// Counts a fiscal outcome on `/metrics` (`task_fiscal_submissions_total{provider, outcome}`).
fn count(provider: PaymentProvider, outcome: &'static str) {
    metrics::counter!("task_fiscal_submissions_total", "provider" => provider.as_str(), "outcome" => outcome)
        .increment(1);
}

/// Called as a payment is confirmed, in its database transaction: a payment whose service has an IKPU code keeps
/// its receipt line and is `pending`; a Click one is queued for submission at `now`. Otherwise nothing changes
/// (`not_required`).
pub(crate) async fn on_confirmed(
    tx: &mut Transaction<'_, Postgres>,
    settings: &Settings,
    txn: &TxnRow,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(line) = line_of(&mut **tx, settings, txn.order_id).await? else {
        return Ok(());
    };
    let item = serde_json::to_value(&line).map_err(|e| Error::Internal(e.into()))?;
    sqlx::query!(
        r#"update transactions set fiscal_status = 'pending', fiscal_item = $2 where id = $1"#,
        txn.id,
        item
    )
    .execute(&mut **tx)
    .await?;
    if txn.provider == PaymentProvider::Click.as_str() {
        sqlx::query!(
            r#"
            insert into fiscal_submissions (transaction_id, next_attempt_at) values ($1, $2)
            on conflict do nothing
            "#,
            txn.id,
            now
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A Click receipt claimed for submission.
struct Due {
    transaction_id: i64,
    attempts: i32,
    /// Whether an earlier claim's lease ran out unrecorded: its instance died (or lost the database) mid-send.
    recovered: bool,
    click_paydoc_id: Option<i64>,
    amount: i64,
    fiscal_item: Option<Value>,
}

/// How long a claimed receipt is its submitter's: far longer than Click may take to answer
/// (`CLICK_API_TIMEOUT_SECS`), so only a submitter that died mid-send loses it.
pub const LEASE: Duration = Duration::from_secs(5 * 60);

/// Submits the Click receipts that are due (the background step; several instances may run it at once). Each is
/// claimed with `for update skip locked` under a lease committed before Click is asked, so no two submitters send
/// the same receipt; the outcome is recorded only under the lease that was taken. An accepted one is `submitted`
/// and its receipt URL is then asked for; a refused or unanswered one is tried again after [`backoff`], and is
/// `failed` after [`MAX_ATTEMPTS`]. The payment itself is never touched. Returns how many were accepted.
///
/// **The one duplicate window:** Click accepted a receipt and the submitter died before recording it. The receipt
/// is claimed again when its lease runs out and submitted again; every such re-claim is counted
/// (`fiscal_submissions.recoveries`, and `outcome="recovered"` on `/metrics`), so duplicates are at most that count.
pub async fn submit_due(ctx: &Context) -> Result<usize> {
    let Some(click) = ctx.payments.click.as_ref() else {
        return Ok(0);
    };
    let lease_for = chrono::Duration::from_std(LEASE).unwrap_or_default();
    let mut accepted = 0;
    // A bounded round: what is left is taken by the next one.
    for _ in 0..50 {
        let now = ctx.payments.clock.now();
        let lease = uuid::Uuid::new_v4();
        let Some(due) = sqlx::query_as!(
            Due,
            r#"
            with due as (
                select f.transaction_id, f.lease is not null as recovered
                from fiscal_submissions f join transactions t on t.id = f.transaction_id
                where f.submitted_at is null and f.next_attempt_at <= $1 and t.fiscal_status = 'pending'
                  and (f.leased_until is null or f.leased_until <= $1)
                order by f.next_attempt_at, f.transaction_id
                limit 1
                for update of f skip locked
            )
            update fiscal_submissions f
            set lease = $2, leased_until = $3, recoveries = f.recoveries + due.recovered::int
            from due join transactions t on t.id = due.transaction_id
            where f.transaction_id = due.transaction_id
            returning f.transaction_id, f.attempts, due.recovered as "recovered!", t.click_paydoc_id, t.amount,
                      t.fiscal_item
            "#,
            now,
            lease,
            now + lease_for
        )
        .fetch_optional(&ctx.db)
        .await?
        else {
            break;
        };
        if due.recovered {
            count(PaymentProvider::Click, "recovered");
            tracing::warn!(
                transaction.id = due.transaction_id,
                "The fiscal receipt of transaction {} is submitted again: its last submitter stopped mid-send \
                 (Click may already have it)",
                due.transaction_id
            );
        }
        let line = due
            .fiscal_item
            .clone()
            .and_then(|item| serde_json::from_value::<Line>(item).ok());
        let outcome = match (line, due.click_paydoc_id) {
            (Some(line), Some(payment_id)) => {
                let body = click_items(click, &line, payment_id, due.amount);
                ctx.click.submit_items(click, &body).await
            }
            _ => Err(crate::domain::context::SubmitFailure::Refused(
                "the payment has no receipt line or Click payment id".to_owned(),
            )),
        };
        let now = ctx.payments.clock.now();
        let mut tx = ctx.db.begin().await?;
        match outcome {
            Ok(()) => {
                let recorded = sqlx::query!(
                    r#"
                    update fiscal_submissions
                    set submitted_at = $2, attempts = attempts + 1, last_error = null, lease = null,
                        leased_until = null
                    where transaction_id = $1 and lease = $3
                    "#,
                    due.transaction_id,
                    now,
                    lease
                )
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !recorded {
                    // The lease ran out meanwhile: whoever holds it now records the receipt.
                    continue;
                }
                set_status(&mut tx, due.transaction_id, FiscalStatus::Submitted).await?;
                tx.commit().await?;
                count(PaymentProvider::Click, "accepted");
                tracing::info!(
                    transaction.id = due.transaction_id,
                    "Click accepted the fiscal receipt of transaction {}",
                    due.transaction_id
                );
                accepted += 1;
                if let Some(payment_id) = due.click_paydoc_id {
                    fetch_receipt_url(ctx, click, due.transaction_id, payment_id).await;
                }
            }
            Err(failure) => {
                let attempts = due.attempts.saturating_add(1);
                let wait = chrono::Duration::from_std(backoff(attempts)).unwrap_or_default();
                let recorded = sqlx::query!(
                    r#"
                    update fiscal_submissions
                    set attempts = $2, next_attempt_at = $3, last_error = $4, lease = null, leased_until = null
                    where transaction_id = $1 and lease = $5
                    "#,
                    due.transaction_id,
                    attempts,
                    now + wait,
                    failure.detail(),
                    lease
                )
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !recorded {
                    continue;
                }
                let gave_up = attempts >= MAX_ATTEMPTS;
                if gave_up {
                    set_status(&mut tx, due.transaction_id, FiscalStatus::Failed).await?;
                }
                tx.commit().await?;
                count(PaymentProvider::Click, failure.outcome());
                tracing::warn!(
                    transaction.id = due.transaction_id,
                    attempts,
                    gave_up,
                    "Click did not take the fiscal receipt of transaction {} ({}): {}",
                    due.transaction_id,
                    failure.outcome(),
                    failure.detail()
                );
            }
        }
    }
    if accepted > 0 {
        ctx.events.committed(Vec::new());
    }
    Ok(accepted)
}

async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    status: FiscalStatus,
) -> Result<()> {
    sqlx::query!(
        r#"update transactions set fiscal_status = $2 where id = $1"#,
        id,
        status.as_str()
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Asks Click for the receipt URL of an accepted submission and keeps it; a failure is only logged (the receipt
/// endpoint asks again when someone wants it).
async fn fetch_receipt_url(ctx: &Context, click: &ClickSettings, id: i64, payment_id: i64) {
    match ctx.click.receipt_url(click, payment_id).await {
        Ok(url) => {
            let saved = sqlx::query!(
                r#"update transactions set receipt_url = $2 where id = $1 and receipt_url is null"#,
                id,
                url
            )
            .execute(&ctx.db)
            .await;
            if let Err(e) = saved {
                tracing::warn!(error = %e, transaction.id = id, "Failed to keep the receipt URL of transaction {id}");
            }
        }
        Err(e) => {
            tracing::info!(error = %e, transaction.id = id, "No receipt URL for transaction {id} yet");
        }
    }
}

/// An admin puts a `failed` Click receipt back in the queue, due at once (409 for any other transaction).
pub async fn retry(ctx: &Context, actor: &Actor, id: i64) -> Result<Txn> {
    actor.require_admin()?;
    let mut tx = ctx.db.begin().await?;
    let row = sqlx::query!(
        r#"select provider, fiscal_status from transactions where id = $1 for update"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound)?;
    if row.provider != PaymentProvider::Click.as_str()
        || row.fiscal_status != FiscalStatus::Failed.as_str()
    {
        return Err(Error::Conflict(
            "Only a failed Click fiscal submission can be retried.".to_owned(),
        ));
    }
    sqlx::query!(
        r#"
        update fiscal_submissions set attempts = 0, next_attempt_at = $2, last_error = null
        where transaction_id = $1 and submitted_at is null
        "#,
        id,
        ctx.payments.clock.now()
    )
    .execute(&mut *tx)
    .await?;
    set_status(&mut tx, id, FiscalStatus::Pending).await?;
    tx.commit().await?;
    ctx.events.committed(Vec::new());
    tracing::info!(
        transaction.id = id,
        admin.id = actor.id,
        "Fiscal submission of transaction {id} queued again"
    );
    transactions::get(ctx, actor, id).await
}

/// Payme's `SetFiscalData` types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptType {
    Perform,
    Cancel,
}

impl ReceiptType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Perform => "PERFORM",
            Self::Cancel => "CANCEL",
        }
    }
}

/// Keeps Payme's receipt of transaction `txn` and `kind`: the first one of each type stays, a repeat changes
/// nothing. A `PERFORM` receipt marks the payment `submitted` with its receipt URL (`failed` when Payme reports a
/// non-zero `status_code`).
pub(crate) async fn store_payme(
    db: &sqlx::PgPool,
    txn: &TxnRow,
    kind: ReceiptType,
    data: &Value,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let stored = sqlx::query_scalar!(
        r#"
        insert into payme_fiscal_data (transaction_id, type, fiscal_data) values ($1, $2, $3)
        on conflict do nothing returning transaction_id
        "#,
        txn.id,
        kind.as_str(),
        data
    )
    .fetch_optional(&mut *tx)
    .await?;
    if stored.is_none() {
        return Ok(());
    }
    let ok = data.get("status_code").and_then(Value::as_i64) == Some(0);
    if kind == ReceiptType::Perform {
        let url = data
            .get("qr_code_url")
            .and_then(Value::as_str)
            .filter(|u| ok && (u.starts_with("https://") || u.starts_with("http://")));
        let status = if ok {
            FiscalStatus::Submitted
        } else {
            FiscalStatus::Failed
        };
        sqlx::query!(
            r#"
            update transactions set fiscal_status = $2, receipt_url = coalesce($3, receipt_url) where id = $1
            "#,
            txn.id,
            status.as_str(),
            url
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    count(
        PaymentProvider::Payme,
        match (kind, ok) {
            (ReceiptType::Perform, true) => "received",
            (ReceiptType::Cancel, true) => "received_cancel",
            (_, false) => "failed",
        },
    );
    tracing::info!(
        transaction.id = txn.id,
        "Payme sent the {} receipt of transaction {}",
        kind.as_str(),
        txn.id
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vat_is_the_part_of_the_price_rounded_half_up_to_the_tiyin() {
        for (price, vat, contained) in [
            (100_000, 12, 10_714),  // 10 714.2857…
            (112_000, 12, 12_000),  // exact
            (100_000, 0, 0),        // not a VAT payer
            (100_000, 15, 13_043),  // 13 043.478…
            (1, 12, 0),             // 0.107…
            (5, 12, 1),             // 0.535… rounds up
            (28, 12, 3),            // 3.0
            (14, 12, 2),            // 1.5 exactly: half up
            (100_000, 100, 50_000), // half
        ] {
            assert_eq!(vat_contained(price, vat), contained, "{price} at {vat}%");
        }
        assert_eq!(
            vat_contained(i64::MAX, 100),
            i64::MAX / 2 + 1,
            "no overflow"
        );
    }

    #[test]
    fn click_items_are_in_tiyin_and_name_the_seller() {
        let click = ClickSettings {
            service_id: 12,
            merchant_id: 34,
            merchant_user_id: 56,
            secret_key: "s".to_owned().into(),
            checkout_url: String::new(),
            prepare_ttl: Duration::from_secs(60),
            allowed_ips: None,
        };
        let line = Line {
            title: "Cleaning (service)".to_owned(),
            price: 1_234_567,
            code: "10399002001000001".to_owned(),
            package_code: None,
            vat_percent: 12,
            vat: vat_contained(1_234_567, 12),
            seller: Some(Seller::Pinfl("31234567890123".to_owned())),
        };
        assert_eq!(
            click_items(&click, &line, 99, 1_234_567),
            json!({
                "service_id": 12, "payment_id": 99,
                "items": [{
                    "Name": "Cleaning (service)", "SPIC": "10399002001000001", "Price": 1_234_567, "Amount": 1,
                    "VAT": 132_275, "VATPercent": 12, "CommissionInfo": { "PINFL": "31234567890123" },
                }],
                "received_ecash": 1_234_567, "received_cash": 0, "received_card": 0,
            })
        );
        let detail = payme_detail(&Line {
            package_code: Some("1501579".to_owned()),
            ..line
        });
        assert_eq!(
            detail,
            json!({ "receipt_type": 0, "items": [{
                "title": "Cleaning (service)", "price": 1_234_567, "count": 1, "code": "10399002001000001",
                "package_code": "1501579", "vat_percent": 12,
            }]})
        );
    }

    #[test]
    fn the_backoff_doubles_from_thirty_seconds_to_an_hour() {
        let waits: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }
}

//! Payment transactions, read side: admins see all, clients those of their own orders.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::PgPool;

use super::{
    Actor, Error, Result,
    context::Context,
    page::{self, Slice, Window},
    parse_column, tallies,
};
use crate::models::{FiscalReceipt, PaymentProvider, Role, Transaction, TransactionStatus};

struct TransactionRow {
    id: i64,
    order_id: i64,
    provider: String,
    amount: i64,
    status: String,
    provider_transaction_id: Option<String>,
    state: i32,
    reason: Option<i32>,
    fiscal_status: String,
    receipt_url: Option<String>,
    created_at: DateTime<Utc>,
    performed_at: Option<DateTime<Utc>>,
    canceled_at: Option<DateTime<Utc>>,
}

impl TryFrom<TransactionRow> for Transaction {
    type Error = Error;

    fn try_from(r: TransactionRow) -> Result<Self> {
        Ok(Self {
            id: r.id,
            order_id: r.order_id,
            provider: parse_column(&r.provider)?,
            amount: r.amount,
            status: parse_column(&r.status)?,
            provider_transaction_id: r.provider_transaction_id,
            state: r.state,
            reason: r.reason,
            fiscal_status: parse_column(&r.fiscal_status)?,
            fiscal_receipt_url: r.receipt_url,
            created_at: r.created_at,
            performed_at: r.performed_at,
            canceled_at: r.canceled_at,
        })
    }
}

/// Whether `actor` may read transactions: admins (all) and clients (their own); workers never.
pub fn may_read(actor: &Actor) -> bool {
    actor.role != Role::Worker
}

fn require_reader(actor: &Actor) -> Result<()> {
    if may_read(actor) {
        Ok(())
    } else {
        Err(Error::PermissionDenied)
    }
}

/// The list filters (`GET /api/v1/transactions`).
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransactionFilter {
    pub order_id: Option<i64>,
    pub provider: Option<PaymentProvider>,
    pub status: Option<TransactionStatus>,
}

/// The transactions the caller may see, newest first.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    filter: TransactionFilter,
    window: Window,
) -> Result<Slice<Transaction>> {
    let db = &ctx.db;
    require_reader(actor)?;
    let known = known_count(db, actor, filter).await?;
    page::counted_from_nearer_end(window, known, |window, from_tail| {
        list_page(db, actor, filter, window, from_tail, known)
    })
    .await?
    .try_map(Transaction::try_from)
}

/// The number of transactions an admin's list shows, from the tallies (kept per provider and status), unless it
/// is one order's; `None` otherwise (a client's list counts their own).
async fn known_count(db: &PgPool, actor: &Actor, filter: TransactionFilter) -> Result<Option<i64>> {
    if !actor.is_admin() || filter.order_id.is_some() {
        return Ok(None);
    }
    let provider = filter.provider.map(PaymentProvider::as_str);
    let status = filter.status.map(TransactionStatus::as_str);
    let total = tallies::sum(db, "transactions:", |rest| {
        let (p, s) = rest.split_once(':').unwrap_or((rest, ""));
        provider.is_none_or(|x| x == p) && status.is_none_or(|x| x == s)
    })
    .await?;
    Ok(Some(total.n))
}

/// A page of [`list`] (read from the oldest end when `from_tail`), each row with the filter's total (`known`
/// where given).
async fn list_page(
    db: &PgPool,
    actor: &Actor,
    filter: TransactionFilter,
    window: Window,
    from_tail: bool,
    known: Option<i64>,
) -> Result<Vec<(i64, TransactionRow)>> {
    // An admin's branch reads the transactions down their primary key, a client's down their own index
    // `(client_id, id)`. Each is gated by a one-time filter and comes ordered, so a page stops after its rows (a
    // plan free to pick, for a filter most rows pass, would read them all and sort); `hit_oldest_first` is `hit`
    // ordered the other way, for a page read from the far end (keep the two alike). The page is cut before the
    // row is fetched whole; the count runs only when no tally gave it.
    let mut tx = page::planned_for_its_parameters(db).await?;
    let records = sqlx::query!(
        r#"
        with hit as not materialized (
            select t.id from (
                (select id, order_id, provider, status from transactions where $2 order by id desc)
                union all
                (select id, order_id, provider, status from transactions where not $2 and client_id = $1
                 order by id desc)
            ) t
            where ($3::bigint is null or t.order_id = $3)
              and ($4::text is null or t.provider = $4)
              and ($5::text is null or t.status = $5)
        ), hit_oldest_first as not materialized (
            select t.id from (
                (select id, order_id, provider, status from transactions where $2 order by id)
                union all
                (select id, order_id, provider, status from transactions where not $2 and client_id = $1
                 order by id)
            ) t
            where ($3::bigint is null or t.order_id = $3)
              and ($4::text is null or t.provider = $4)
              and ($5::text is null or t.status = $5)
        ), page as (
            (select id from hit where not $8 order by id desc limit $6 offset $7)
            union all
            (select id from hit_oldest_first where $8 order by id asc limit $6 offset $7)
        )
        select coalesce($9::bigint, (select count(*) from hit)) as "total!",
               t.id, t.order_id, t.provider, t.amount, t.status, t.provider_transaction_id, t.state, t.reason,
               t.fiscal_status, t.receipt_url, t.created_at, t.performed_at, t.canceled_at
        from page join transactions t on t.id = page.id
        order by case when $8 then t.id end, t.id desc
        "#,
        actor.id,
        actor.is_admin(),
        filter.order_id,
        filter.provider.map(PaymentProvider::as_str),
        filter.status.map(TransactionStatus::as_str),
        window.limit,
        window.offset,
        from_tail,
        known
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(page::counted_rows!(records => TransactionRow {
        id, order_id, provider, amount, status, provider_transaction_id, state, reason, fiscal_status, receipt_url,
        created_at, performed_at, canceled_at
    }))
}

/// One transaction, if the caller may see it (404 otherwise).
pub async fn get(ctx: &Context, actor: &Actor, id: i64) -> Result<Transaction> {
    let db = &ctx.db;
    require_reader(actor)?;
    sqlx::query_as!(
        TransactionRow,
        r#"
        select t.id, t.order_id, t.provider, t.amount, t.status, t.provider_transaction_id, t.state, t.reason,
               t.fiscal_status, t.receipt_url, t.created_at, t.performed_at, t.canceled_at
        from transactions t
        where t.id = $1 and ($3 or t.client_id = $2)
        "#,
        id,
        actor.id,
        actor.is_admin()
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound)?
    .try_into()
}

/// Where a transaction's fiscal receipt comes from.
enum ReceiptSource {
    /// Known already: Payme's `SetFiscalData`, or Click's answer to an earlier ask.
    Stored(String),
    /// A confirmed Click payment whose receipt URL is asked of Click's merchant API by its payment id
    /// (`click_paydoc_id`).
    Click(i64),
}

/// The receipt source of a transaction the caller may see (clients their own, admins all): a confirmed Click
/// payment, or a Payme payment whose receipt Payme sent. 409 otherwise.
async fn receipt_source(ctx: &Context, actor: &Actor, id: i64) -> Result<ReceiptSource> {
    let db = &ctx.db;
    require_reader(actor)?;
    let row = sqlx::query!(
        r#"
        select t.id, t.provider, t.status, t.click_paydoc_id, t.receipt_url
        from transactions t
        where t.id = $1 and ($3 or t.client_id = $2)
        "#,
        id,
        actor.id,
        actor.is_admin()
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound)?;
    match (
        row.provider.as_str(),
        row.status.as_str(),
        row.click_paydoc_id,
        row.receipt_url,
    ) {
        ("click", "confirmed", _, Some(url)) | ("payme", _, _, Some(url)) => {
            Ok(ReceiptSource::Stored(url))
        }
        ("click", "confirmed", Some(click_payment_id), None) => {
            Ok(ReceiptSource::Click(click_payment_id))
        }
        ("payme", "confirmed", _, None) => Err(Error::Conflict(
            "Payme has not sent this payment's fiscal receipt yet.".to_owned(),
        )),
        _ => Err(Error::Conflict(
            "Only a confirmed payment has a fiscal receipt.".to_owned(),
        )),
    }
}

/// The fiscal receipt of a payment the caller may see: the URL Payme sent or kept from an earlier ask, else asked
/// of Click's merchant API and kept, so later asks do not call Click again. 409 for a transaction without a
/// receipt (yet) or when Click is not enabled; 502 when Click cannot be reached.
pub async fn receipt(ctx: &Context, actor: &Actor, id: i64) -> Result<FiscalReceipt> {
    let qr_code_url = match receipt_source(ctx, actor, id).await? {
        ReceiptSource::Stored(url) => url,
        ReceiptSource::Click(click_payment_id) => {
            let click = ctx.payments.click.as_ref().ok_or_else(|| {
                Error::Conflict("Click payments are not enabled on this server.".to_owned())
            })?;
            let url = ctx.click.receipt_url(click, click_payment_id).await?;
            save_receipt(ctx, id, &url).await?;
            url
        }
    };
    Ok(FiscalReceipt {
        transaction_id: id,
        qr_code_url,
    })
}

/// Keeps a fetched receipt URL.
async fn save_receipt(ctx: &Context, id: i64, url: &str) -> Result<()> {
    let db = &ctx.db;
    sqlx::query!(
        r#"update transactions set receipt_url = $2 where id = $1"#,
        id,
        url
    )
    .execute(db)
    .await?;
    Ok(())
}

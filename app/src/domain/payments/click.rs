//! Click's SHOP API (Prepare and Complete on one URL, form-encoded), merchant side, as `shared/PAYMENTS.md` §2
//! specifies: the MD5 signature over the raw fields as received, so'm parsed exactly into tiyin, and the checks in
//! the order of `shared/PAYMENTS.md` §2.6 (which passes Click's official test matrix, `shared/PAYMENTS.md` §2.8).

use std::{collections::BTreeMap, net::IpAddr};

use md5::{Digest as _, Md5};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::{
    Attempt, Settings, TxnRow, WEBHOOK_DEADLINE, cancel, commit_expiry, confirm, constant_time_eq,
    find, fiscal, live_holders, lock_with_order, release_expired, reserve,
};
use crate::{
    domain::{Error, context::Context, events::EventSink, orders},
    models::{OrderStatus, PaymentProvider},
};

/// Click's error codes with their `error_note` texts (`shared/PAYMENTS.md` §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success,
    SignFailed,
    IncorrectAmount,
    ActionNotFound,
    AlreadyPaid,
    UserNotFound,
    TransactionNotFound,
    UpdateFailed,
    BadRequest,
    Cancelled,
}

impl Code {
    /// The numeric `error`.
    pub fn error(self) -> i32 {
        match self {
            Self::Success => 0,
            Self::SignFailed => -1,
            Self::IncorrectAmount => -2,
            Self::ActionNotFound => -3,
            Self::AlreadyPaid => -4,
            Self::UserNotFound => -5,
            Self::TransactionNotFound => -6,
            Self::UpdateFailed => -7,
            Self::BadRequest => -8,
            Self::Cancelled => -9,
        }
    }

    /// The `error_note`.
    pub fn note(self) -> &'static str {
        match self {
            Self::Success => "Success",
            Self::SignFailed => "SIGN CHECK FAILED!",
            Self::IncorrectAmount => "Incorrect parameter amount",
            Self::ActionNotFound => "Action not found",
            Self::AlreadyPaid => "Already paid",
            Self::UserNotFound => "User does not exist",
            Self::TransactionNotFound => "Transaction does not exist",
            Self::UpdateFailed => "Failed to update user",
            Self::BadRequest => "Error in request from click",
            Self::Cancelled => "Transaction cancelled",
        }
    }
}

impl From<Error> for Code {
    fn from(error: Error) -> Self {
        tracing::error!(error = %error, "Click request failed");
        Self::UpdateFailed
    }
}

impl From<sqlx::Error> for Code {
    fn from(error: sqlx::Error) -> Self {
        Error::from(error).into()
    }
}

/// Formats tiyin as Click's so'm with two decimals (`500000` → `"5000.00"`).
pub fn format_sum(tiyin: i64) -> String {
    format!("{}.{:02}", tiyin / 100, (tiyin % 100).abs())
}

/// Parses Click's so'm amount exactly into tiyin: `"5000"`, `"5000.5"`, `"5000.00"` (extra decimals only if
/// zero; no sign, no leading zeros). `None` for anything else (no floats anywhere).
pub fn parse_sum(raw: &str) -> Option<i64> {
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty()
        || whole.len() > 15
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || (whole.len() > 1 && whole.starts_with('0'))
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (raw.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let (cents, rest) = fraction.split_at(fraction.len().min(2));
    if rest.bytes().any(|b| b != b'0') {
        return None;
    }
    let cents: i64 = format!("{cents:0<2}").parse().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// The MD5 `sign_string` Click computes over the raw fields (`merchant_prepare_id` only in Complete).
pub fn sign(
    secret_key: &str,
    fields: &BTreeMap<String, String>,
    merchant_prepare_id: Option<&str>,
) -> String {
    let field = |name: &str| fields.get(name).map_or("", String::as_str);
    let mut md5 = Md5::new();
    for part in [
        field("click_trans_id"),
        field("service_id"),
        secret_key,
        field("merchant_trans_id"),
        merchant_prepare_id.unwrap_or(""),
        field("amount"),
        field("action"),
        field("sign_time"),
    ] {
        md5.update(part.as_bytes());
    }
    hex::encode(md5.finalize())
}

/// What the answer echoes besides the code.
#[derive(Debug, Default)]
struct Echo {
    click_trans_id: Option<i64>,
    merchant_trans_id: Option<String>,
    merchant_prepare_id: Option<i64>,
    merchant_confirm_id: Option<i64>,
    complete: bool,
}

/// Click's answer (counted on `/metrics` as `task_payment_webhook_answers_total{provider="click", code}`).
fn reply(echo: &Echo, code: Code) -> Value {
    metrics::counter!("task_payment_webhook_answers_total", "provider" => "click", "code" => code.error().to_string())
        .increment(1);
    let mut body = json!({
        "click_trans_id": echo.click_trans_id,
        "merchant_trans_id": echo.merchant_trans_id,
        "error": code.error(),
        "error_note": code.note(),
    });
    if echo.complete {
        body["merchant_confirm_id"] = json!(echo.merchant_confirm_id);
        if let Some(prepare) = echo.merchant_prepare_id {
            body["merchant_prepare_id"] = json!(prepare);
        }
    } else {
        body["merchant_prepare_id"] = json!(echo.merchant_prepare_id);
    }
    body
}

const REQUIRED: [&str; 9] = [
    "click_trans_id",
    "service_id",
    "click_paydoc_id",
    "merchant_trans_id",
    "amount",
    "action",
    "error",
    "sign_time",
    "sign_string",
];

/// A request whose fields are present, signed and well-formed.
struct Request {
    click_trans_id: i64,
    click_paydoc_id: i64,
    order_id: Option<i64>,
    amount: i64,
    error: i64,
    merchant_prepare_id: Option<i64>,
}

/// A number as Click writes it, parsed canonically: ASCII digits only, no sign, no leading zeros (`"0"` itself
/// is one). The signature covers the text, so only one text may stand for each number: `"+7"`, `"007"` or `" 7"`
/// would be other requests signed for the same ids.
pub fn canonical(text: &str) -> Option<i64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// Click's `error`: `0`, or a canonical number, negative (with a `-`) for Click's error codes.
fn canonical_error(text: &str) -> Option<i64> {
    match text.strip_prefix('-') {
        Some(magnitude) => canonical(magnitude).filter(|&n| n > 0).map(|n| -n),
        None => canonical(text),
    }
}

/// Handles one Prepare or Complete request from the address `from` and returns the JSON body to answer with
/// (always with HTTP 200; a caller from an address not admitted is answered -1, as an unsigned request is).
pub async fn handle(ctx: &Context, from: Option<IpAddr>, body: &[u8]) -> Value {
    let (db, events, settings) = (&ctx.db, ctx.events.as_ref(), &*ctx.payments);
    let mut fields = BTreeMap::new();
    let mut duplicate = false;
    for (name, value) in form_urlencoded::parse(body) {
        duplicate |= fields
            .insert(name.into_owned(), value.into_owned())
            .is_some();
    }
    let mut echo = Echo {
        click_trans_id: fields.get("click_trans_id").and_then(|v| canonical(v)),
        merchant_trans_id: fields.get("merchant_trans_id").cloned(),
        complete: fields.get("action").is_some_and(|a| a == "1"),
        ..Echo::default()
    };
    let request = match check(settings, from, &fields, duplicate) {
        Ok(request) => request,
        Err(code) => return reply(&echo, code),
    };
    echo.merchant_prepare_id = request.merchant_prepare_id;
    let shop = Shop {
        db,
        events,
        settings,
    };
    let complete = echo.complete;
    let code = tokio::time::timeout(WEBHOOK_DEADLINE, async {
        if complete {
            shop.complete(&request, &mut echo).await
        } else {
            shop.prepare(&request, &mut echo).await
        }
    })
    .await
    .unwrap_or_else(|_| {
        tracing::error!("Click request took longer than {WEBHOOK_DEADLINE:?}");
        Err(Code::UpdateFailed)
    });
    reply(&echo, code.unwrap_or_else(|code| code))
}

/// The answer to anything but a POST on Click's URL: -8, still with HTTP 200.
pub fn not_post() -> Value {
    reply(&Echo::default(), Code::BadRequest)
}

/// The fields that hold whole numbers (`error` may be negative; `merchant_prepare_id` is Complete's only).
const NUMBERS: [&str; 5] = [
    "click_trans_id",
    "service_id",
    "click_paydoc_id",
    "merchant_prepare_id",
    "error",
];

/// Steps 1–4 of `shared/PAYMENTS.md` §2.6 and the parsing of the fields: the caller's address (-1, as unsigned),
/// presence and canonical numbers (-8), signature (-1), action (-3), service (-8).
fn check(
    settings: &Settings,
    from: Option<IpAddr>,
    fields: &BTreeMap<String, String>,
    duplicate: bool,
) -> Result<Request, Code> {
    if settings
        .click
        .as_ref()
        .is_some_and(|click| !click.admits(from))
    {
        return Err(Code::SignFailed);
    }
    let complete = fields.get("action").is_some_and(|a| a == "1");
    if duplicate
        || REQUIRED
            .iter()
            .any(|f| fields.get(*f).is_none_or(String::is_empty))
        || (complete
            && fields
                .get("merchant_prepare_id")
                .is_none_or(String::is_empty))
    {
        return Err(Code::BadRequest);
    }
    // Numbers are read one way only, before the signature over their text is checked.
    let number = |name: &str| {
        let text = fields.get(name).map(String::as_str);
        if name == "error" {
            text.and_then(canonical_error)
        } else {
            text.and_then(canonical)
        }
    };
    let malformed = NUMBERS
        .iter()
        .any(|&name| fields.contains_key(name) && number(name).is_none());
    if malformed || parse_sum(&fields["amount"]).is_none() {
        return Err(Code::BadRequest);
    }
    let click = settings.click.as_ref().ok_or(Code::SignFailed)?;
    let prepare_id = complete
        .then(|| fields.get("merchant_prepare_id").map(String::as_str))
        .flatten();
    let expected = sign(click.secret_key.expose_secret(), fields, prepare_id);
    let given = fields["sign_string"].to_ascii_lowercase();
    if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(Code::SignFailed);
    }
    if !matches!(fields["action"].as_str(), "0" | "1") {
        return Err(Code::ActionNotFound);
    }
    if number("service_id") != Some(click.service_id) {
        return Err(Code::BadRequest);
    }
    // An order reference that is no canonical id names no order (-5, in its turn).
    let order_id = canonical(&fields["merchant_trans_id"]).filter(|&id| id > 0);
    Ok(Request {
        click_trans_id: number("click_trans_id").ok_or(Code::BadRequest)?,
        click_paydoc_id: number("click_paydoc_id").ok_or(Code::BadRequest)?,
        order_id,
        amount: parse_sum(&fields["amount"]).ok_or(Code::BadRequest)?,
        error: number("error").ok_or(Code::BadRequest)?,
        merchant_prepare_id: if complete {
            Some(number("merchant_prepare_id").ok_or(Code::BadRequest)?)
        } else {
            None
        },
    })
}

struct Shop<'a> {
    db: &'a PgPool,
    events: &'a dyn EventSink,
    settings: &'a Settings,
}

impl Shop<'_> {
    /// Prepare: reserve the order for this attempt (`shared/PAYMENTS.md` §2.6, steps 5–11). Every check runs before
    /// anything is written; a repeated Prepare is checked again and answers as the first did.
    async fn prepare(&self, request: &Request, echo: &mut Echo) -> Result<Code, Code> {
        let order_id = request.order_id.ok_or(Code::UserNotFound)?;
        let mut tx = self.db.begin().await?;
        let order = match orders::lock(&mut tx, None, order_id).await {
            Ok(order) => order,
            Err(Error::NotFound) => return Err(Code::UserNotFound),
            Err(e) => return Err(e.into()),
        };
        // Without the fiscal codes it requires, the service is not for sale online (`shared/PAYMENTS.md` §4).
        if !fiscal::payable(&mut *tx, self.settings, order.id).await? {
            return Err(Code::UserNotFound);
        }
        if request.error < 0 {
            return Err(Code::Cancelled);
        }
        let attempt = request.click_trans_id.to_string();
        let existing = find(&mut *tx, PaymentProvider::Click, &attempt).await?;
        if let Some(existing) = existing {
            // The same attempt for another order: not a repeat of anything.
            if existing.order_id != order.id {
                return Err(Code::BadRequest);
            }
            echo.merchant_prepare_id = Some(existing.id);
            match existing.status.as_str() {
                "confirmed" => return Err(Code::AlreadyPaid),
                "canceled" => return Err(Code::Cancelled),
                _ => {}
            }
            self.check_reservable(&mut tx, &order, request).await?;
            if existing.expired(self.settings, self.settings.clock.now_ms()) {
                return Err(Code::Cancelled);
            }
            return Ok(Code::Success);
        }
        self.check_reservable(&mut tx, &order, request).await?;
        release_expired(&mut tx, self.settings, &order).await?;
        let id = self.reserve(&mut tx, &order, request, &attempt).await?;
        tx.commit().await?;
        self.events.committed(Vec::new());
        echo.merchant_prepare_id = Some(id);
        Ok(Code::Success)
    }

    /// Steps 7–9 and the reservation rules: the order is payable for this amount, and nothing else holds it.
    async fn check_reservable(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        order: &orders::LockedOrder,
        request: &Request,
    ) -> Result<(), Code> {
        match order.status {
            OrderStatus::Pending => {}
            OrderStatus::Canceled => return Err(Code::Cancelled),
            OrderStatus::Paid | OrderStatus::InProcess | OrderStatus::Completed => {
                return Err(Code::AlreadyPaid);
            }
        }
        if request.amount != order.price {
            return Err(Code::IncorrectAmount);
        }
        // Several prepared Click attempts may coexist; a live Payme transaction reserves the order for itself.
        let holders = live_holders(&mut **tx, self.settings, order.id).await?;
        if holders.iter().any(|t| t.status == "confirmed") {
            return Err(Code::AlreadyPaid);
        }
        if holders.iter().any(|t| t.provider != "click") {
            return Err(Code::Cancelled);
        }
        Ok(())
    }

    /// Records a new prepared attempt (the checkout's `waiting` transaction if there is one).
    async fn reserve(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        order: &orders::LockedOrder,
        request: &Request,
        attempt: &str,
    ) -> Result<i64, Code> {
        let reservation = Attempt {
            provider: PaymentProvider::Click,
            provider_transaction_id: attempt,
            amount: request.amount,
            provider_time: None,
            click_paydoc_id: Some(request.click_paydoc_id),
            reserved_at: self.settings.clock.now(),
        };
        let id = reserve(tx, order, reservation).await?.id;
        tracing::info!(
            transaction.id = id,
            order.id = order.id,
            "Click prepared transaction {id} for order {}",
            order.id
        );
        Ok(id)
    }

    /// Complete: confirm or cancel a prepared attempt (`shared/PAYMENTS.md` §2.6, Complete steps 4–10).
    async fn complete(&self, request: &Request, echo: &mut Echo) -> Result<Code, Code> {
        let prepare_id = request
            .merchant_prepare_id
            .ok_or(Code::TransactionNotFound)?;
        let attempt = request.click_trans_id.to_string();
        let found = sqlx::query!(
            r#"
            select order_id from transactions
            where id = $1 and provider = 'click' and provider_transaction_id = $2 and order_id = $3
            "#,
            prepare_id,
            attempt,
            request.order_id
        )
        .fetch_optional(self.db)
        .await?
        .ok_or(Code::TransactionNotFound)?;
        let (mut tx, order, txn) = lock_with_order(self.db, found.order_id, prepare_id).await?;
        if txn.status == "confirmed" {
            echo.merchant_confirm_id = Some(txn.id);
        }
        if request.error < 0 {
            return self.click_canceled(tx, &order, &txn, request.error).await;
        }
        match txn.status.as_str() {
            "confirmed" => return Err(Code::AlreadyPaid),
            "canceled" => return Err(Code::Cancelled),
            _ => {}
        }
        if txn.expired(self.settings, self.settings.clock.now_ms()) {
            commit_expiry(tx, self.events, self.settings, &order).await?;
            return Err(Code::Cancelled);
        }
        if request.amount != txn.amount {
            return Err(Code::IncorrectAmount);
        }
        match order.status {
            OrderStatus::Pending => {}
            OrderStatus::Canceled => return Err(Code::Cancelled),
            _ => return Err(Code::AlreadyPaid),
        }
        confirm(
            &mut tx,
            self.settings,
            &order,
            &txn,
            self.settings.clock.now(),
        )
        .await?;
        tx.commit().await?;
        self.events.committed(Vec::new());
        echo.merchant_confirm_id = Some(txn.id);
        tracing::info!(
            transaction.id = txn.id,
            order.id = order.id,
            "Click confirmed transaction {}: order {} is paid",
            txn.id,
            order.id
        );
        Ok(Code::Success)
    }

    /// Click reports a failure or cancellation (`error < 0`): cancel a prepared attempt and answer -9.
    async fn click_canceled(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        order: &orders::LockedOrder,
        txn: &TxnRow,
        click_error: i64,
    ) -> Result<Code, Code> {
        match txn.status.as_str() {
            "processing" => {
                let reason = i32::try_from(click_error).unwrap_or(i32::MIN);
                cancel(
                    &mut tx,
                    order,
                    txn,
                    -1,
                    Some(reason),
                    self.settings.clock.now(),
                )
                .await?;
                tx.commit().await?;
                self.events.committed(Vec::new());
                tracing::info!(
                    transaction.id = txn.id,
                    order.id = order.id,
                    "Click canceled transaction {} (error {click_error})",
                    txn.id
                );
            }
            "confirmed" => {
                // `shared/PAYMENTS.md` §2.6: answered -9 and flagged for manual review; the payment stays confirmed.
                metrics_alert();
                tracing::warn!(
                    transaction.id = txn.id,
                    order.id = order.id,
                    click.error = click_error,
                    "Click reported error {click_error} on confirmed transaction {}: needs manual review",
                    txn.id
                );
            }
            _ => {}
        }
        Err(Code::Cancelled)
    }
}

/// Counted on `/metrics` as `task_click_cancel_after_confirm_total`, for an alert.
fn metrics_alert() {
    metrics::counter!("task_click_cancel_after_confirm_total").increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_parse_exactly_into_tiyin() {
        assert_eq!(parse_sum("5000"), Some(500_000));
        assert_eq!(parse_sum("5000.00"), Some(500_000));
        assert_eq!(parse_sum("1000.5"), Some(100_050));
        assert_eq!(parse_sum("0.01"), Some(1));
        assert_eq!(parse_sum("12.340"), Some(1234));
        for bad in [
            "",
            ".5",
            "5.",
            "5.001",
            "-5",
            "5e3",
            "1,000.00",
            " 5",
            "5.0.0",
            "9999999999999999",
            "05000",
            "00.50",
            "+5000",
        ] {
            assert_eq!(parse_sum(bad), None, "{bad:?}");
        }
        assert_eq!(format_sum(500_000), "5000.00");
        assert_eq!(format_sum(100_050), "1000.50");
    }

    #[test]
    fn numbers_are_read_only_in_their_canonical_form() {
        for (text, number) in [
            ("0", 0),
            ("7", 7),
            ("2000000001", 2_000_000_001),
            ("9223372036854775807", i64::MAX),
        ] {
            assert_eq!(canonical(text), Some(number), "{text:?}");
        }
        for bad in [
            "",
            "+7",
            "-7",
            "007",
            "00",
            " 7",
            "7 ",
            "7.0",
            "1e3",
            "0x7",
            "٣",
            "9223372036854775808",
        ] {
            assert_eq!(canonical(bad), None, "{bad:?}");
        }
        assert_eq!(canonical_error("-5017"), Some(-5017));
        assert_eq!(canonical_error("0"), Some(0));
        for bad in ["-0", "--1", "-01", "+0", "- 1"] {
            assert_eq!(canonical_error(bad), None, "{bad:?}");
        }
    }

    /// The worked examples under `shared/PAYMENTS.md` §2.4.
    #[test]
    fn signatures_match_the_worked_examples_of_the_payments_doc() {
        let fields: BTreeMap<String, String> = [
            ("click_trans_id", "2000000001"),
            ("service_id", "12345"),
            ("merchant_trans_id", "1003"),
            ("amount", "5000.00"),
            ("action", "0"),
            ("sign_time", "2025-01-15 10:00:00"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            sign("SECRETKEY", &fields, None),
            "ec2ed122d152626f37596d9d5e93bbbf"
        );
        let mut complete = fields.clone();
        complete.insert("action".to_owned(), "1".to_owned());
        assert_eq!(
            sign("SECRETKEY", &complete, Some("1")),
            "9d15778b0ef4c7e1bbae79ad4d0cf406"
        );
        let mut whole = fields;
        whole.insert("amount".to_owned(), "5000".to_owned());
        assert_eq!(
            sign("SECRETKEY", &whole, None),
            "4b717d66e4d7c1418f212b801581126b"
        );
    }
}

#[cfg(test)]
mod proptests;

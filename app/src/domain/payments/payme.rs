//! Payme's Merchant API (JSON-RPC over HTTP POST), merchant side, as `shared/PAYMENTS.md` §1 specifies.
//!
//! Every answer is HTTP 200 with `{"jsonrpc":"2.0","id":…,"result"|"error":…}`; the request's `id` is echoed as
//! sent. Repeated Create, Perform and Cancel calls answer exactly as the first did and change nothing, also when
//! they arrive concurrently: each runs under its order's row lock and re-reads the transaction inside it.

use std::net::IpAddr;

use base64::Engine as _;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::{
    Attempt, PAYME_TIMEOUT_MS, Settings, TxnRow, WEBHOOK_DEADLINE, cancel, commit_expiry, confirm,
    constant_time_eq, find, fiscal, live_holders, lock_with_order, ms, release_expired, reserve,
};
use crate::{
    domain::{Error, context::Context, events::EventSink, orders, parse_column},
    models::{OrderStatus, PaymentProvider},
};

/// A Payme error: its code, localized message and `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub code: i32,
    pub message: [&'static str; 3],
    pub data: Option<String>,
}

impl Fault {
    fn new(code: i32, message: [&'static str; 3]) -> Self {
        Self {
            code,
            message,
            data: None,
        }
    }

    fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// -32300: the HTTP method is not POST.
    pub fn not_post() -> Self {
        Self::new(
            -32300,
            [
                "Метод запроса должен быть POST",
                "So‘rov usuli POST bo‘lishi kerak",
                "Request method must be POST",
            ],
        )
    }

    /// -32700: the body is not JSON.
    pub fn parse_error() -> Self {
        Self::new(
            -32700,
            [
                "Ошибка при разборе JSON",
                "JSON ni tahlil qilishda xatolik",
                "Error parsing JSON",
            ],
        )
    }

    fn invalid_request(field: &str) -> Self {
        Self::new(
            -32600,
            [
                "Некорректные поля запроса",
                "So‘rovdagi maydonlar noto‘g‘ri",
                "Invalid RPC fields",
            ],
        )
        .with_data(field)
    }

    fn method_not_found(method: &str) -> Self {
        Self::new(
            -32601,
            [
                "Запрашиваемый метод не найден.",
                "Metod topilmadi.",
                "Method not found.",
            ],
        )
        .with_data(method)
    }

    fn insufficient_privilege() -> Self {
        Self::new(
            -32504,
            [
                "Недостаточно привилегий для выполнения метода",
                "Amalni bajarish uchun huquqlar yetarli emas",
                "Insufficient privilege to perform this method.",
            ],
        )
    }

    fn internal() -> Self {
        Self::new(
            -32400,
            [
                "Внутренняя ошибка сервиса.",
                "Tizimda xatolik yuzaga keldi.",
                "Internal service error.",
            ],
        )
    }

    fn incorrect_amount() -> Self {
        Self::new(
            -31001,
            ["Неверная сумма", "Noto'g'ri summa", "Incorrect amount"],
        )
    }

    fn transaction_not_found() -> Self {
        Self::new(
            -31003,
            [
                "Транзакция не найдена",
                "Tranzaksiya topilmadi",
                "Transaction not found.",
            ],
        )
    }

    fn cannot_cancel() -> Self {
        Self::new(
            -31007,
            [
                "Заказ выполнен. Невозможно отменить транзакцию. \
                 Товар или услуга предоставлена покупателю в полном объеме.",
                "Tranzaksiyani bekor qilib bo‘lmaydi — xizmat ko‘rsatilgan",
                "Could not cancel transaction. Order is delivered/Service is completed.",
            ],
        )
    }

    fn cannot_perform() -> Self {
        Self::new(
            -31008,
            [
                "Невозможно выполнить операцию",
                "Amalni bajarib bo‘lmaydi",
                "Unable to perform operation",
            ],
        )
    }

    fn invalid_params(field: &str) -> Self {
        Self::new(
            -32602,
            [
                "Неверные параметры",
                "Parametrlar noto‘g‘ri",
                "Invalid params",
            ],
        )
        .with_data(field)
    }

    fn bad_order() -> Self {
        Self::new(
            -31050,
            [
                "Неверный код заказа.",
                "Harid kodida xatolik.",
                "Incorrect order code.",
            ],
        )
        .with_data("order_id")
    }

    fn to_json(&self) -> Value {
        let [ru, uz, en] = self.message;
        json!({ "code": self.code, "message": { "ru": ru, "uz": uz, "en": en }, "data": self.data })
    }
}

impl From<Error> for Fault {
    fn from(error: Error) -> Self {
        tracing::error!(error = %error, "Payme request failed");
        Self::internal()
    }
}

impl From<sqlx::Error> for Fault {
    fn from(error: sqlx::Error) -> Self {
        Error::from(error).into()
    }
}

type Outcome = Result<Value, Fault>;

/// A JSON-RPC answer (counted on `/metrics` as `task_payment_webhook_answers_total{provider="payme", code}`).
pub fn answer(id: &Value, outcome: Outcome) -> Value {
    let code = outcome.as_ref().err().map_or(0, |f| f.code);
    metrics::counter!("task_payment_webhook_answers_total", "provider" => "payme", "code" => code.to_string())
        .increment(1);
    match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(fault) => json!({ "jsonrpc": "2.0", "id": id, "error": fault.to_json() }),
    }
}

/// Whether the call comes from an admitted address (`PAYME_ALLOWED_IPS`) and `authorization` is
/// `Basic base64("Paycom:" + key)` for the cashbox key, or for the test key while the test mode is on.
fn authorized(settings: &Settings, from: Option<IpAddr>, authorization: Option<&str>) -> bool {
    let Some(payme) = &settings.payme else {
        return false;
    };
    if !payme.admits(from) {
        return false;
    }
    let Some((scheme, token)) = authorization.map(str::trim).and_then(|h| h.split_once(' ')) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
        return false;
    };
    let Some(password) = decoded.strip_prefix(b"Paycom:") else {
        return false;
    };
    let mut ok = constant_time_eq(password, payme.key.expose_secret().as_bytes());
    if let Some(test_key) = payme.test_key.as_ref().filter(|_| payme.test_mode) {
        ok |= constant_time_eq(password, test_key.expose_secret().as_bytes());
    }
    ok
}

/// Handles one Merchant API request from the address `from` and returns the JSON body to answer with (always
/// with HTTP 200; a caller from an address not admitted is refused like a wrong key, -32504).
pub async fn handle(
    ctx: &Context,
    from: Option<IpAddr>,
    authorization: Option<&str>,
    body: &[u8],
) -> Value {
    let (db, events, settings) = (&ctx.db, ctx.events.as_ref(), &*ctx.payments);
    let parsed = serde_json::from_slice::<Value>(body);
    let id = parsed
        .as_ref()
        .ok()
        .and_then(|v| v.get("id"))
        .filter(|id| id.is_number() || id.is_string())
        .cloned()
        .unwrap_or(Value::Null);
    if !authorized(settings, from, authorization) {
        return answer(&id, Err(Fault::insufficient_privilege()));
    }
    let Ok(request) = parsed else {
        return answer(&Value::Null, Err(Fault::parse_error()));
    };
    let Some(request) = request.as_object() else {
        return answer(&id, Err(Fault::invalid_request("request")));
    };
    if id.is_null() {
        return answer(&id, Err(Fault::invalid_request("id")));
    }
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return answer(&id, Err(Fault::invalid_request("method")));
    };
    let Some(params) = request.get("params").and_then(Value::as_object) else {
        return answer(&id, Err(Fault::invalid_request("params")));
    };
    let payme = Payme {
        db,
        events,
        settings,
    };
    let dispatch = async {
        match method {
            "CheckPerformTransaction" => payme.check_perform(params).await,
            "CreateTransaction" => payme.create(params).await,
            "PerformTransaction" => payme.perform(params).await,
            "CancelTransaction" => payme.cancel(params).await,
            "CheckTransaction" => payme.check(params).await,
            "GetStatement" => payme.statement(params).await,
            "SetFiscalData" => payme.set_fiscal_data(params).await,
            // Keys come from configuration, so Payme cannot change them: answered as an unknown method, one of
            // the two answers `shared/PAYMENTS.md` §1.5.7 allows.
            other => Err(Fault::method_not_found(other)),
        }
    };
    let outcome = tokio::time::timeout(WEBHOOK_DEADLINE, dispatch)
        .await
        .unwrap_or_else(|_| {
            tracing::error!(
                method,
                "Payme request took longer than {WEBHOOK_DEADLINE:?}"
            );
            Err(Fault::internal())
        });
    answer(&id, outcome)
}

type Params = serde_json::Map<String, Value>;

/// A required integer parameter (`-32600` naming it otherwise).
fn integer(params: &Params, name: &str) -> Result<i64, Fault> {
    params
        .get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| Fault::invalid_request(name))
}

/// Payme's transaction id: a non-empty string of at most 64 characters.
fn payme_id(params: &Params) -> Result<&str, Fault> {
    params
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 64 && !id.contains(char::is_control))
        .ok_or_else(|| Fault::invalid_request("id"))
}

/// The amount in tiyin: a positive integer, `-31001` otherwise.
fn amount(params: &Params) -> Result<i64, Fault> {
    params
        .get("amount")
        .and_then(Value::as_i64)
        .filter(|&a| a > 0)
        .ok_or_else(Fault::incorrect_amount)
}

/// The order id of `account.order_id` (a string or a number), `-31050` otherwise.
fn account_order(params: &Params) -> Result<i64, Fault> {
    let value = params
        .get("account")
        .and_then(|a| a.get("order_id"))
        .ok_or_else(Fault::bad_order)?;
    let id = match value {
        Value::String(s) if s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    id.filter(|&id| id > 0).ok_or_else(Fault::bad_order)
}

struct Payme<'a> {
    db: &'a PgPool,
    events: &'a dyn EventSink,
    settings: &'a Settings,
}

/// Whether an order of `status` and `price` may be paid `amount` (CheckPerformTransaction, CreateTransaction):
/// the amount first (-31001), then the status (-31008).
fn judge(status: OrderStatus, price: i64, amount: i64) -> Result<(), Fault> {
    if price != amount {
        Err(Fault::incorrect_amount())
    } else if status != OrderStatus::Pending {
        Err(Fault::cannot_perform())
    } else {
        Ok(())
    }
}

impl Payme<'_> {
    async fn check_perform(&self, params: &Params) -> Outcome {
        let order_id = account_order(params)?;
        let amount = amount(params)?;
        let order = sqlx::query!(
            r#"select status, price from orders where id = $1"#,
            order_id
        )
        .fetch_optional(self.db)
        .await?
        .ok_or_else(Fault::bad_order)?;
        // Fiscal codes are part of the account's validity (`shared/PAYMENTS.md` §4): -31050 without them when
        // they are required.
        let line = fiscal::line_of(self.db, self.settings, order_id).await?;
        if line.is_none() && self.settings.fiscal.required {
            return Err(Fault::bad_order());
        }
        judge(parse_column(&order.status)?, order.price, amount)?;
        if !live_holders(self.db, self.settings, order_id)
            .await?
            .is_empty()
        {
            return Err(Fault::cannot_perform());
        }
        Ok(match line {
            Some(line) => json!({ "allow": true, "detail": fiscal::payme_detail(&line) }),
            None => json!({ "allow": true }),
        })
    }

    /// `SetFiscalData`: Payme reports the receipt it issued for a transaction (`shared/PAYMENTS.md` §4). Malformed
    /// params are -32602, an unknown transaction -31003; a repeat answers the same success and changes nothing.
    async fn set_fiscal_data(&self, params: &Params) -> Outcome {
        let id = params
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= 64 && !id.contains(char::is_control))
            .ok_or_else(|| Fault::invalid_params("id"))?;
        let kind = match params.get("type").and_then(Value::as_str) {
            Some("PERFORM") => fiscal::ReceiptType::Perform,
            Some("CANCEL") => fiscal::ReceiptType::Cancel,
            _ => return Err(Fault::invalid_params("type")),
        };
        let data = params
            .get("fiscal_data")
            .filter(|d| d.is_object())
            .ok_or_else(|| Fault::invalid_params("fiscal_data"))?;
        for field in ["receipt_id", "status_code"] {
            if data.get(field).and_then(Value::as_i64).is_none() {
                return Err(Fault::invalid_params(field));
            }
        }
        for field in [
            "message",
            "terminal_id",
            "fiscal_sign",
            "qr_code_url",
            "date",
        ] {
            let bad = data.get(field).is_some_and(|v| {
                !(v.is_null() || v.is_string() || (field == "date" && v.is_number()))
            });
            if bad {
                return Err(Fault::invalid_params(field));
            }
        }
        let txn = find(self.db, PaymentProvider::Payme, id)
            .await?
            .ok_or_else(Fault::transaction_not_found)?;
        fiscal::store_payme(self.db, &txn, kind, data).await?;
        Ok(json!({ "success": true }))
    }

    fn created(txn: &TxnRow) -> Value {
        json!({ "create_time": ms(txn.reserved_at), "transaction": txn.id.to_string(), "state": txn.state })
    }

    /// The answer to a Create for an existing transaction, locked with its order.
    async fn create_again(&self, found: &TxnRow) -> Outcome {
        let (tx, order, txn) = lock_with_order(self.db, found.order_id, found.id).await?;
        if txn.state != 1 {
            return Err(Fault::cannot_perform());
        }
        if txn.expired(self.settings, self.settings.clock.now_ms()) {
            commit_expiry(tx, self.events, self.settings, &order).await?;
            return Err(Fault::cannot_perform());
        }
        Ok(Self::created(&txn))
    }

    async fn create(&self, params: &Params) -> Outcome {
        let payme_id = payme_id(params)?;
        let time = integer(params, "time")?;
        if time <= 0 {
            return Err(Fault::invalid_request("time"));
        }
        if let Some(found) = find(self.db, PaymentProvider::Payme, payme_id).await? {
            return self.create_again(&found).await;
        }
        let order_id = account_order(params)?;
        let amount = amount(params)?;

        let now = self.settings.clock.now();
        let mut tx = self.db.begin().await?;
        let order = match orders::lock(&mut tx, None, order_id).await {
            Err(Error::NotFound) => return Err(Fault::bad_order()),
            locked => locked?,
        };
        if !fiscal::payable(&mut *tx, self.settings, order.id).await? {
            return Err(Fault::bad_order());
        }
        judge(order.status, order.price, amount)?;
        // A concurrent twin of this call may have created it while this one waited for the lock. (Read on this
        // transaction's own connection: asking the pool while holding the lock could starve it.)
        if let Some(found) = find(&mut *tx, PaymentProvider::Payme, payme_id).await? {
            drop(tx);
            return self.create_again(&found).await;
        }
        // Every check before anything is written.
        let refuse = !live_holders(&mut *tx, self.settings, order.id)
            .await?
            .is_empty()
            || now.timestamp_millis().saturating_sub(time) > PAYME_TIMEOUT_MS;
        if refuse {
            return Err(Fault::cannot_perform());
        }
        // An expired reservation still holds Payme's one-active-transaction index: release it first.
        release_expired(&mut tx, self.settings, &order).await?;
        let attempt = Attempt {
            provider: PaymentProvider::Payme,
            provider_transaction_id: payme_id,
            amount,
            provider_time: Some(time),
            click_paydoc_id: None,
            reserved_at: now,
        };
        let txn = reserve(&mut tx, &order, attempt).await?;
        tx.commit().await?;
        self.events.committed(Vec::new());
        tracing::info!(
            transaction.id = txn.id,
            order.id = order.id,
            "Payme reserved order {} with transaction {}",
            order.id,
            txn.id
        );
        Ok(Self::created(&txn))
    }

    async fn perform(&self, params: &Params) -> Outcome {
        let payme_id = payme_id(params)?;
        let found = find(self.db, PaymentProvider::Payme, payme_id)
            .await?
            .ok_or_else(Fault::transaction_not_found)?;
        let (mut tx, order, txn) = lock_with_order(self.db, found.order_id, found.id).await?;
        let performed = |t: &TxnRow| {
            let perform_time = ms(t.performed_at);
            json!({ "transaction": t.id.to_string(), "perform_time": perform_time, "state": 2 })
        };
        match txn.state {
            2 => Ok(performed(&txn)),
            1 if txn.expired(self.settings, self.settings.clock.now_ms()) => {
                commit_expiry(tx, self.events, self.settings, &order).await?;
                Err(Fault::cannot_perform())
            }
            1 if order.status == OrderStatus::Pending => {
                let now = self.settings.clock.now();
                confirm(&mut tx, self.settings, &order, &txn, now).await?;
                tx.commit().await?;
                self.events.committed(Vec::new());
                tracing::info!(
                    transaction.id = txn.id,
                    order.id = order.id,
                    "Payme performed transaction {}: order {} is paid",
                    txn.id,
                    order.id
                );
                Ok(performed(&TxnRow {
                    performed_at: Some(now),
                    ..txn
                }))
            }
            _ => Err(Fault::cannot_perform()),
        }
    }

    async fn cancel(&self, params: &Params) -> Outcome {
        let payme_id = payme_id(params)?;
        let reason = params
            .get("reason")
            .and_then(Value::as_i64)
            .and_then(|r| i32::try_from(r).ok())
            .ok_or_else(|| Fault::invalid_request("reason"))?;
        let found = find(self.db, PaymentProvider::Payme, payme_id)
            .await?
            .ok_or_else(Fault::transaction_not_found)?;
        let (mut tx, order, txn) = lock_with_order(self.db, found.order_id, found.id).await?;
        let canceled = |t: &TxnRow, state: i32| {
            let cancel_time = ms(t.canceled_at);
            json!({ "transaction": t.id.to_string(), "cancel_time": cancel_time, "state": state })
        };
        let state = match txn.state {
            -1 | -2 => return Ok(canceled(&txn, txn.state)),
            1 => -1,
            2 if matches!(
                order.status,
                OrderStatus::InProcess | OrderStatus::Completed
            ) =>
            {
                return Err(Fault::cannot_cancel());
            }
            2 => -2,
            _ => return Err(Fault::cannot_perform()),
        };
        let now = self.settings.clock.now();
        cancel(&mut tx, &order, &txn, state, Some(reason), now).await?;
        tx.commit().await?;
        self.events.committed(Vec::new());
        tracing::info!(
            transaction.id = txn.id,
            order.id = order.id,
            "Payme canceled transaction {} (state {state}, reason {reason})",
            txn.id
        );
        Ok(canceled(
            &TxnRow {
                canceled_at: Some(now),
                ..txn
            },
            state,
        ))
    }

    async fn check(&self, params: &Params) -> Outcome {
        let payme_id = payme_id(params)?;
        let txn = find(self.db, PaymentProvider::Payme, payme_id)
            .await?
            .ok_or_else(Fault::transaction_not_found)?;
        Ok(json!({
            "create_time": ms(txn.reserved_at),
            "perform_time": ms(txn.performed_at),
            "cancel_time": ms(txn.canceled_at),
            "transaction": txn.id.to_string(),
            "state": txn.state,
            "reason": txn.reason,
        }))
    }

    async fn statement(&self, params: &Params) -> Outcome {
        let from = integer(params, "from")?;
        let to = integer(params, "to")?;
        let rows = sqlx::query_as!(
            TxnRow,
            r#"
            select id, order_id, provider, amount, status, provider_transaction_id, state, reason, provider_time,
                   reserved_at, performed_at, canceled_at
            from transactions
            where provider = 'payme' and provider_time between $1 and $2 and reserved_at is not null
            order by provider_time, id
            "#,
            from,
            to
        )
        .fetch_all(self.db)
        .await?;
        let transactions: Vec<Value> = rows
            .iter()
            .map(|t| {
                json!({
                    "id": t.provider_transaction_id,
                    "time": t.provider_time,
                    "amount": t.amount,
                    "account": { "order_id": t.order_id.to_string() },
                    "create_time": ms(t.reserved_at),
                    "perform_time": ms(t.performed_at),
                    "cancel_time": ms(t.canceled_at),
                    "transaction": t.id.to_string(),
                    "state": t.state,
                    "reason": t.reason,
                    "receivers": null,
                })
            })
            .collect();
        Ok(json!({ "transactions": transactions }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::payments::{Clock, PaymeSettings};

    fn settings(test_mode: bool, allowed_ips: Option<&str>) -> Settings {
        Settings {
            payme: Some(PaymeSettings {
                merchant_id: "m".to_owned(),
                key: "live-key".to_owned().into(),
                test_key: Some("test-key".to_owned().into()),
                test_mode,
                checkout_url: "https://checkout.paycom.uz".to_owned(),
                allowed_ips: allowed_ips.map(|list| list.parse().expect("a valid list")),
            }),
            click: None,
            fiscal: crate::domain::payments::FiscalSettings::default(),
            public_url: String::new(),
            sandbox: false,
            clock: Clock::system(),
        }
    }

    fn basic(key: &str) -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("Paycom:{key}"));
        format!("Basic {token}")
    }

    #[test]
    fn the_test_key_opens_the_cashbox_only_in_test_mode() {
        let from = Some(IpAddr::from([185, 234, 113, 1]));
        let production = settings(false, None);
        assert!(authorized(&production, from, Some(&basic("live-key"))));
        assert!(!authorized(&production, from, Some(&basic("test-key"))));
        let testing = settings(true, None);
        assert!(authorized(&testing, from, Some(&basic("live-key"))));
        assert!(authorized(&testing, from, Some(&basic("test-key"))));
        assert!(!authorized(&testing, from, Some(&basic("other-key"))));
    }

    #[test]
    fn calls_from_addresses_outside_the_list_are_refused_even_with_the_key() {
        let listed = settings(false, Some("185.234.113.0/28"));
        let key = basic("live-key");
        assert!(authorized(
            &listed,
            Some(IpAddr::from([185, 234, 113, 15])),
            Some(&key)
        ));
        assert!(!authorized(
            &listed,
            Some(IpAddr::from([185, 234, 113, 16])),
            Some(&key)
        ));
        assert!(
            !authorized(&listed, None, Some(&key)),
            "an unknown address is not on the list"
        );
    }
}

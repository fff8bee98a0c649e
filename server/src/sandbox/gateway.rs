//! The gateway itself: plays Payme's JSON-RPC and Click's SHOP API against this server's webhooks over real HTTP,
//! with the real credentials and signatures, and logs every exchange.

use std::{collections::BTreeMap, sync::Arc};

use anyhow::Context as _;
use app::{
    domain::payments::{Settings, click},
    models::PaymentProvider,
};
use base64::Engine as _;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

/// What the payer (or the provider) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Reserve the order and stop (Payme CreateTransaction / Click Prepare).
    Reserve,
    /// Pay: reserve (unless reserved) and perform / complete.
    Pay,
    /// The card is declined: reserve (unless reserved), then Payme cancels (reason 2) / Click completes with -5017.
    Decline,
    /// Cancel before perform: the live reservation is canceled (Payme reason 3 / Click complete with -9).
    Cancel,
    /// Refund after perform: Payme cancels the performed transaction (reason 5); Click reports -5017 on it.
    Refund,
}

impl Action {
    /// Every action, in the order the page shows its buttons.
    pub const ALL: [Self; 5] = [
        Self::Reserve,
        Self::Pay,
        Self::Decline,
        Self::Cancel,
        Self::Refund,
    ];

    /// The name the page's buttons post and the CLI takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserve => "reserve",
            Self::Pay => "pay",
            Self::Decline => "decline",
            Self::Cancel => "cancel",
            Self::Refund => "refund",
        }
    }
}

/// One call made to a webhook and its answer.
#[derive(Debug)]
pub struct Exchange {
    /// The provider and method, e.g. `Payme CreateTransaction` or `Click Complete`.
    pub call: String,
    /// The body sent, as sent.
    pub request: String,
    /// The webhook's answer.
    pub response: Value,
    /// Whether the answer is what this step expects.
    pub ok: bool,
}

/// Plays a provider against the webhooks at `base_url`.
#[derive(Clone)]
pub struct Gateway {
    http: reqwest::Client,
    base_url: String,
    settings: Arc<Settings>,
}

impl Gateway {
    /// A gateway aimed at the server at `base_url`, signing with the credentials in `settings`.
    pub fn new(base_url: &str, settings: Arc<Settings>) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            settings,
        })
    }

    /// Runs `action` for `order_id` through `provider` and returns every exchange.
    pub async fn run(
        &self,
        db: &PgPool,
        provider: PaymentProvider,
        order_id: i64,
        action: Action,
    ) -> anyhow::Result<Vec<Exchange>> {
        let price = sqlx::query_scalar!(r#"select price from orders where id = $1"#, order_id)
            .fetch_optional(db)
            .await?
            .with_context(|| format!("there is no order {order_id}"))?;
        let mut log = Vec::new();
        match provider {
            PaymentProvider::Payme => self.payme(db, order_id, price, action, &mut log).await?,
            PaymentProvider::Click => self.click(db, order_id, price, action, &mut log).await?,
        }
        Ok(log)
    }

    async fn payme_call(
        &self,
        method: &str,
        params: Value,
        log: &mut Vec<Exchange>,
    ) -> anyhow::Result<Value> {
        let payme = self
            .settings
            .payme
            .as_ref()
            .context("Payme is not configured")?;
        let request = json!({ "id": log.len() + 1, "method": method, "params": params });
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("Paycom:{}", payme.key.expose_secret()));
        let body = request.to_string();
        let post = self
            .http
            .post(format!("{}/api/v1/payment/payme", self.base_url))
            .header("Authorization", format!("Basic {credentials}"))
            .header("Content-Type", "text/json; charset=UTF-8")
            .body(body.clone());
        exchange(post, format!("Payme {method}"), body, log, |r| {
            r.get("result").is_some()
        })
        .await
    }

    async fn payme(
        &self,
        db: &PgPool,
        order_id: i64,
        price: i64,
        action: Action,
        log: &mut Vec<Exchange>,
    ) -> anyhow::Result<()> {
        let latest = |state: i32| {
            sqlx::query_scalar!(
                r#"
                select provider_transaction_id as "id!" from transactions
                where order_id = $1 and provider = 'payme' and state = $2 and provider_transaction_id is not null
                order by id desc limit 1
                "#,
                order_id,
                state
            )
            .fetch_optional(db)
        };
        if action == Action::Refund {
            let id = latest(2)
                .await?
                .context("this order has no performed Payme payment to refund")?;
            self.payme_call("CancelTransaction", json!({ "id": id, "reason": 5 }), log)
                .await?;
            return Ok(());
        }
        let id = match latest(1).await? {
            Some(id) if action != Action::Reserve => id,
            _ => {
                let account = json!({ "order_id": order_id.to_string() });
                let check = self
                    .payme_call(
                        "CheckPerformTransaction",
                        json!({ "amount": price, "account": account }),
                        log,
                    )
                    .await?;
                if check.get("error").is_some() {
                    return Ok(());
                }
                let id = uuid::Uuid::new_v4().simple().to_string()[..24].to_owned();
                let time = chrono::Utc::now().timestamp_millis();
                let created = self
                    .payme_call(
                        "CreateTransaction",
                        json!({ "id": id, "time": time, "amount": price, "account": account }),
                        log,
                    )
                    .await?;
                if created.get("error").is_some() {
                    return Ok(());
                }
                id
            }
        };
        match action {
            Action::Reserve | Action::Refund => {}
            Action::Pay => {
                let performed = self
                    .payme_call("PerformTransaction", json!({ "id": id }), log)
                    .await?;
                if performed.get("result").is_some() {
                    self.payme_fiscal_data(db, &id, log).await?;
                }
            }
            Action::Decline | Action::Cancel => {
                let reason = if action == Action::Decline { 2 } else { 3 };
                self.payme_call(
                    "CancelTransaction",
                    json!({ "id": id, "reason": reason }),
                    log,
                )
                .await?;
            }
        }
        self.payme_call("CheckTransaction", json!({ "id": id }), log)
            .await?;
        Ok(())
    }

    /// After a perform, Payme issues the receipt from the `detail` it was given and reports it with
    /// `SetFiscalData`: played when the payment is due a receipt (its service has fiscal codes).
    async fn payme_fiscal_data(
        &self,
        db: &PgPool,
        id: &str,
        log: &mut Vec<Exchange>,
    ) -> anyhow::Result<()> {
        let due = sqlx::query_scalar!(
            r#"
            select id from transactions
            where provider = 'payme' and provider_transaction_id = $1 and fiscal_status = 'pending'
            "#,
            id
        )
        .fetch_optional(db)
        .await?;
        let Some(transaction) = due else {
            return Ok(());
        };
        let receipt_id = rand::random_range(100_000_000_i64..999_999_999);
        let qr_code_url = format!(
            "{}/sandbox/receipt?provider=payme&id={receipt_id}",
            self.settings.public_url
        );
        let fiscal_data = json!({
            "receipt_id": receipt_id,
            "status_code": 0,
            "message": "accepted",
            "terminal_id": "EP000000000001",
            "fiscal_sign": format!("{transaction:012}"),
            "qr_code_url": qr_code_url,
            "date": chrono::Utc::now().format("%Y%m%d%H%M%S").to_string(),
        });
        self.payme_call(
            "SetFiscalData",
            json!({ "id": id, "type": "PERFORM", "fiscal_data": fiscal_data }),
            log,
        )
        .await?;
        Ok(())
    }

    async fn click_call(
        &self,
        fields: Vec<(&'static str, String)>,
        expect: i64,
        log: &mut Vec<Exchange>,
    ) -> anyhow::Result<Value> {
        let click = self
            .settings
            .click
            .as_ref()
            .context("Click is not configured")?;
        let mut map: BTreeMap<String, String> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let prepare_id = map.get("merchant_prepare_id").cloned();
        let complete = map.get("action").is_some_and(|a| a == "1");
        let signature = click::sign(
            click.secret_key.expose_secret(),
            &map,
            prepare_id.as_deref().filter(|_| complete),
        );
        map.insert("sign_string".to_owned(), signature);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&map)
            .finish();
        let post = self
            .http
            .post(format!("{}/api/v1/payment/click", self.base_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.clone());
        let call = format!("Click {}", if complete { "Complete" } else { "Prepare" });
        exchange(post, call, body, log, |r| {
            r.get("error").and_then(Value::as_i64) == Some(expect)
        })
        .await
    }

    async fn click(
        &self,
        db: &PgPool,
        order_id: i64,
        price: i64,
        action: Action,
        log: &mut Vec<Exchange>,
    ) -> anyhow::Result<()> {
        let click = self
            .settings
            .click
            .as_ref()
            .context("Click is not configured")?;
        let latest = |status: &'static str| {
            sqlx::query!(
                r#"
                select id, provider_transaction_id as "attempt!", click_paydoc_id as "paydoc!" from transactions
                where order_id = $1 and provider = 'click' and status = $2
                  and provider_transaction_id is not null and click_paydoc_id is not null
                order by id desc limit 1
                "#,
                order_id,
                status
            )
            .fetch_optional(db)
        };
        let sign_time = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
        let fields =
            |attempt: &str, paydoc: i64, action: &str, error: i64, prepare_id: Option<i64>| {
                let mut fields = vec![
                    ("click_trans_id", attempt.to_owned()),
                    ("service_id", click.service_id.to_string()),
                    ("click_paydoc_id", paydoc.to_string()),
                    ("merchant_trans_id", order_id.to_string()),
                    ("amount", click::format_sum(price)),
                    ("action", action.to_owned()),
                    ("error", error.to_string()),
                    (
                        "error_note",
                        if error == 0 {
                            "Success"
                        } else {
                            "Payment declined"
                        }
                        .to_owned(),
                    ),
                    ("sign_time", sign_time.clone()),
                ];
                if let Some(id) = prepare_id {
                    fields.push(("merchant_prepare_id", id.to_string()));
                }
                fields
            };
        if action == Action::Refund {
            let paid = latest("confirmed")
                .await?
                .context("this order has no confirmed Click payment")?;
            // Click refunds through its merchant API (a reversal), not through the SHOP API; what reaches the
            // webhook is a Complete with an error on the confirmed payment, answered -9 and flagged for review.
            self.click_call(
                fields(&paid.attempt, paid.paydoc, "1", -5017, Some(paid.id)),
                -9,
                log,
            )
            .await?;
            return Ok(());
        }
        let prepared = match latest("processing").await? {
            Some(t) if action != Action::Reserve => (t.id, t.attempt, t.paydoc),
            _ => {
                let attempt = rand::random_range(1_000_000_000_i64..9_000_000_000).to_string();
                let paydoc = rand::random_range(1_000_000_000_i64..9_000_000_000);
                let answer = self
                    .click_call(fields(&attempt, paydoc, "0", 0, None), 0, log)
                    .await?;
                let Some(id) = answer.get("merchant_prepare_id").and_then(Value::as_i64) else {
                    return Ok(());
                };
                if answer.get("error").and_then(Value::as_i64) != Some(0) {
                    return Ok(());
                }
                (id, attempt, paydoc)
            }
        };
        let (id, attempt, paydoc) = prepared;
        match action {
            Action::Reserve | Action::Refund => {}
            Action::Pay => {
                self.click_call(fields(&attempt, paydoc, "1", 0, Some(id)), 0, log)
                    .await?;
            }
            Action::Decline => {
                self.click_call(fields(&attempt, paydoc, "1", -5017, Some(id)), -9, log)
                    .await?;
            }
            Action::Cancel => {
                self.click_call(fields(&attempt, paydoc, "1", -9, Some(id)), -9, log)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Sends one webhook call, logs it with whether the answer is the expected one, and returns the answer.
async fn exchange(
    post: reqwest::RequestBuilder,
    call: String,
    request: String,
    log: &mut Vec<Exchange>,
    expected: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let response: Value = post
        .send()
        .await
        .with_context(|| format!("{call}: the webhook is unreachable"))?
        .json()
        .await
        .with_context(|| format!("{call}: the webhook did not answer JSON"))?;
    log.push(Exchange {
        ok: expected(&response),
        call,
        request,
        response: response.clone(),
    });
    Ok(response)
}

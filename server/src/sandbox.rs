//! The built-in gateway sandbox: plays Payme's and Click's servers against this server's own webhooks, over real
//! HTTP with the real credentials and signatures, so the whole payment flow works on a laptop. Reachable as a page
//! (`/sandbox/{provider}/{order_id}`, when `PAYMENT_SANDBOX` is on) and from the CLI (`server sandbox payme
//! --order 5 --action pay`). It holds no payment logic of its own: it only sends what the providers would send.

use std::{collections::BTreeMap, fmt::Write as _, sync::Arc};

use anyhow::{Context as _, bail};
use app::{
    domain::{
        Actor, Error,
        payments::{Settings, click},
    },
    models::{PaymentProvider, Role},
};
use axum::{
    Form, Router,
    extract::{Path, State},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use base64::Engine as _;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{extract::AuthUser, state::AppState};

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
    const ALL: [Self; 5] = [
        Self::Reserve,
        Self::Pay,
        Self::Decline,
        Self::Cancel,
        Self::Refund,
    ];

    fn as_str(self) -> &'static str {
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
    pub call: String,
    pub request: String,
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
                self.payme_call("PerformTransaction", json!({ "id": id }), log)
                    .await?;
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

/// `/sandbox/{provider}/{order_id}`: the page (GET) and its buttons (POST), for the order's client or an admin.
pub fn router() -> Router<AppState> {
    Router::new().route("/sandbox/{provider}/{order_id}", get(page).post(act))
}

#[derive(Deserialize)]
struct ActForm {
    action: Action,
}

async fn page(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path((provider, order_id)): Path<(String, i64)>,
) -> Response {
    render(&state, &actor, &provider, order_id, None).await
}

async fn act(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path((provider, order_id)): Path<(String, i64)>,
    Form(form): Form<ActForm>,
) -> Response {
    render(&state, &actor, &provider, order_id, Some(form.action)).await
}

async fn render(
    state: &AppState,
    actor: &Actor,
    provider: &str,
    order_id: i64,
    action: Option<Action>,
) -> Response {
    let Some(gateway) = &state.sandbox else {
        return Error::NotFound.into_response();
    };
    let Ok(provider) = provider.parse::<PaymentProvider>() else {
        return Error::NotFound.into_response();
    };
    if actor.role == Role::Worker {
        return Error::PermissionDenied.into_response();
    }
    let order = match app::domain::orders::fetch_visible(&state.ctx.db, actor, order_id).await {
        Ok(order) => order,
        Err(e) => return e.into_response(),
    };
    let log = match action {
        Some(action) => match gateway.run(&state.ctx.db, provider, order_id, action).await {
            Ok(log) => Some(Ok(log)),
            Err(e) => Some(Err(format!("{e:#}"))),
        },
        None => None,
    };
    // Re-read after the run: the webhooks changed it.
    let status = app::domain::orders::fetch_visible(&state.ctx.db, actor, order_id)
        .await
        .map_or(order.status, |o| o.status);
    let mut html = String::new();
    let name = match provider {
        PaymentProvider::Payme => "Payme",
        PaymentProvider::Click => "Click",
    };
    let _ = write!(
        html,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} sandbox · order #{order_id}</title><link rel="icon" href="/favicon.svg" type="image/svg+xml"><style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}}
.note{{background:#fff4d6;border:1px solid #e0b300;padding:.5rem 1rem;border-radius:.5rem}}
button{{font:inherit;margin:.25rem;padding:.5rem 1rem;border-radius:.5rem;border:1px solid #2a5bd7;background:#2a5bd7;color:#fff;cursor:pointer}}
button.secondary{{background:#fff;color:#2a5bd7}} pre{{background:#f3f5f8;padding:.5rem;overflow:auto;white-space:pre-wrap}}
.ok{{color:#1a7f37}} .bad{{color:#b42318}}</style></head><body>
<p class="note">Gateway sandbox: this page plays {name}'s server against this deployment's webhook, over real HTTP with
the real credentials. No money moves. Off in production.</p>
<h1>{name} · order #{order_id}</h1>
<p>{service} — {amount} so'm — status <strong id="status">{status}</strong></p>
<form method="post">"#,
        service = escape(&order.service_name),
        amount = click::format_sum(order.price),
        status = status.as_str(),
    );
    for action in Action::ALL {
        let class = if action == Action::Pay {
            ""
        } else {
            "secondary"
        };
        let _ = write!(
            html,
            r#"<button class="{class}" name="action" value="{a}">{a}</button>"#,
            a = action.as_str()
        );
    }
    html.push_str(&format!(
        r#"</form><p><a href="/orders/{order_id}">Back to the order</a></p>"#
    ));
    match log {
        Some(Ok(log)) => {
            html.push_str("<h2>Exchanges</h2><ol>");
            for step in log {
                let _ = write!(
                    html,
                    r#"<li><strong class="{class}">{call}</strong><pre>→ {request}</pre><pre>← {response}</pre></li>"#,
                    class = if step.ok { "ok" } else { "bad" },
                    call = escape(&step.call),
                    request = escape(&step.request),
                    response = escape(&step.response.to_string()),
                );
            }
            html.push_str("</ol>");
        }
        Some(Err(e)) => {
            let _ = write!(html, r#"<p class="bad">{}</p>"#, escape(&e));
        }
        None => {}
    }
    html.push_str("</body></html>");
    Html(html).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `server sandbox <provider> --order N --action A`: runs the sandbox against a running server and prints the
/// exchanges; fails unless every answer is the expected one.
pub async fn cli(
    db: &PgPool,
    settings: Settings,
    target: &str,
    provider: PaymentProvider,
    order_id: i64,
    action: Action,
) -> anyhow::Result<()> {
    let gateway = Gateway::new(target, Arc::new(settings))?;
    let log = gateway.run(db, provider, order_id, action).await?;
    let mut failed = false;
    for step in &log {
        println!("{} {}", if step.ok { "ok " } else { "ERR" }, step.call);
        println!("    -> {}", step.request);
        println!("    <- {}", step.response);
        failed |= !step.ok;
    }
    let status = sqlx::query_scalar!(r#"select status from orders where id = $1"#, order_id)
        .fetch_one(db)
        .await?;
    println!("Order #{order_id} is now {status}.");
    if failed || log.is_empty() {
        bail!("the {} did not go through", action.as_str());
    }
    Ok(())
}

//! Click's merchant API (the calls *we* make to Click): the fiscal receipt of a confirmed payment, submitted
//! (`submit_items`) and then looked up (its QR URL).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app::domain::{
    Error, Result,
    context::{BoxFuture, ClickMerchant, SubmitFailure},
    payments::ClickSettings,
};
use secrecy::ExposeSecret as _;
use sha1::{Digest as _, Sha1};

/// A client of `https://api.click.uz/v2/merchant` (the base URL is configuration, so tests use a local mock).
#[derive(Clone)]
pub struct ClickApi {
    http: reqwest::Client,
    base_url: String,
}

impl ClickApi {
    /// A client with `timeout` for each call.
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The `Auth` header: `<merchant_user_id>:<sha1(timestamp + secret_key)>:<timestamp>`.
    pub fn auth_header(click: &ClickSettings, timestamp: u64) -> String {
        let digest = Sha1::digest(format!("{timestamp}{}", click.secret_key.expose_secret()));
        format!(
            "{}:{}:{timestamp}",
            click.merchant_user_id,
            hex::encode(digest)
        )
    }

    /// The current Unix time in seconds, the `Auth` header's timestamp.
    fn timestamp() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// `POST /payment/ofd_data/submit_items`: submits a payment's receipt items; accepted only on `error_code` 0.
    pub async fn submit_items(
        &self,
        click: &ClickSettings,
        body: &serde_json::Value,
    ) -> std::result::Result<(), SubmitFailure> {
        let url = format!("{}/payment/ofd_data/submit_items", self.base_url);
        let response = self
            .http
            .post(&url)
            .header("Accept", "application/json")
            .header("Auth", Self::auth_header(click, Self::timestamp()))
            .json(body)
            .send()
            .await
            .map_err(|e| {
                SubmitFailure::Unreachable(if e.is_timeout() {
                    "Click did not answer in time".to_owned()
                } else {
                    "Click is unreachable".to_owned()
                })
            })?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.map_err(|_| {
            SubmitFailure::Unreachable(format!("Click answered HTTP {status} without JSON"))
        })?;
        match answer.get("error_code").and_then(serde_json::Value::as_i64) {
            Some(0) if status.is_success() => Ok(()),
            code => {
                let note = answer
                    .get("error_note")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("no note");
                Err(SubmitFailure::Refused(format!(
                    "HTTP {status}, error_code {}: {note}",
                    code.map_or_else(|| "missing".to_owned(), |c| c.to_string())
                )))
            }
        }
    }

    /// `GET /payment/ofd_data/{service_id}/{payment_id}`: the fiscal receipt's QR URL of a confirmed payment.
    pub async fn receipt_url(&self, click: &ClickSettings, payment_id: i64) -> Result<String> {
        let unavailable =
            |why: &str| Error::BadGateway(format!("Click's merchant API {why}; try again later."));
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let url = format!(
            "{}/payment/ofd_data/{}/{payment_id}",
            self.base_url, click.service_id
        );
        let response = self
            .http
            .get(&url)
            .header("Accept", "application/json")
            .header("Auth", Self::auth_header(click, timestamp))
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "Click merchant API unreachable");
                if e.is_timeout() {
                    unavailable("did not answer in time")
                } else {
                    unavailable("is unreachable")
                }
            })?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.map_err(|e| {
            tracing::warn!(error = %e, %status, "Click merchant API sent no JSON");
            unavailable("gave an unreadable answer")
        })?;
        if let Some(url) = body.get("qrCodeURL").and_then(serde_json::Value::as_str)
            && status.is_success()
            && url.starts_with("http")
        {
            return Ok(url.to_owned());
        }
        let note = body
            .get("error_note")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("no receipt");
        tracing::warn!(%status, note, "Click merchant API refused the receipt");
        Err(Error::BadGateway(format!(
            "Click has no fiscal receipt for this payment yet ({note})."
        )))
    }
}

impl ClickMerchant for ClickApi {
    fn receipt_url<'a>(
        &'a self,
        click: &'a ClickSettings,
        payment_id: i64,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(ClickApi::receipt_url(self, click, payment_id))
    }

    fn submit_items<'a>(
        &'a self,
        click: &'a ClickSettings,
        body: &'a serde_json::Value,
    ) -> BoxFuture<'a, std::result::Result<(), SubmitFailure>> {
        Box::pin(ClickApi::submit_items(self, click, body))
    }
}

//! Paying for orders as the payment providers do: their webhook calls, signed, repeated while our side cannot
//! answer, and duplicated as a provider that is unsure of the first answer duplicates them.

use base64::Engine as _;
use serde_json::{Value, json};

use super::ctx::{Ctx, retrying};
use crate::{CLICK_SECRET, CLICK_SERVICE, PAYME_KEY, PRICE};

/// Pays for order `order_id` by Payme, with Perform sent three times at once (Payme repeats when unsure); `i` and
/// `n` (the client, its order) make the transaction's id.
pub async fn pay_by_payme(ctx: &Ctx, i: usize, n: usize, order_id: i64) {
    let id = format!("{i:04x}{n:020x}");
    let created = ctx
        .payme(
            i + n,
            "CreateTransaction",
            json!({
                "id": id,
                "time": chrono::Utc::now().timestamp_millis(),
                "amount": PRICE,
                "account": { "order_id": order_id.to_string() },
            }),
        )
        .await;
    if created.is_some_and(|c| c.get("result").is_some()) {
        let performs =
            (0..3).map(|k| ctx.payme(i + n + k, "PerformTransaction", json!({ "id": id })));
        futures_util::future::join_all(performs).await;
    }
}

/// Pays for order `order_id` by Click: Prepare, then Complete sent twice at once; `i` and `n` (the client, its
/// order) make the payment's ids.
pub async fn pay_by_click(ctx: &Ctx, i: usize, n: usize, order_id: i64) {
    let attempt = i64::try_from(i * 1_000_000 + n).unwrap_or_default() + 7_000_000_000;
    let base = |action: &str| {
        vec![
            ("click_trans_id", attempt.to_string()),
            ("service_id", CLICK_SERVICE.to_string()),
            ("click_paydoc_id", (attempt + 1).to_string()),
            ("merchant_trans_id", order_id.to_string()),
            ("amount", format!("{}.{:02}", PRICE / 100, PRICE % 100)),
            ("action", action.to_owned()),
            ("error", "0".to_owned()),
            ("sign_time", "2026-11-24 10:00:00".to_owned()),
        ]
    };
    if let Some(prepared) = ctx.click(i + n, base("0")).await
        && let Some(prepare_id) = prepared["merchant_prepare_id"].as_i64()
    {
        let mut complete = base("1");
        complete.push(("merchant_prepare_id", prepare_id.to_string()));
        let completes = (0..2).map(|k| ctx.click(i + n + k, complete.clone()));
        futures_util::future::join_all(completes).await;
    }
}

impl Ctx {
    /// Payme's JSON-RPC call `method`, repeated while our side answers that it could not answer.
    async fn payme(&self, i: usize, method: &str, params: Value) -> Option<Value> {
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("Paycom:{PAYME_KEY}"))
        );
        retrying(|attempt| {
            let request = self
                .http
                .post(format!("{}/api/v1/payment/payme", self.base(i + attempt)))
                .header("Authorization", &auth)
                .json(&json!({ "id": attempt, "method": method, "params": params }));
            async move {
                match self.call(request, method).await {
                    // -32400: our side could not answer (the database restarting); Payme repeats, so do we.
                    Some((200, answer)) if answer["error"]["code"] != -32400 => Some(answer),
                    _ => None,
                }
            }
        })
        .await
    }

    /// Click's form call with these fields, signed, repeated while our side answers that its update failed.
    async fn click(&self, i: usize, fields: Vec<(&str, String)>) -> Option<Value> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())))
            .append_pair("sign_string", &click_signature(&fields))
            .finish();
        retrying(|attempt| {
            let request = self
                .http
                .post(format!("{}/api/v1/payment/click", self.base(i + attempt)))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.clone());
            async move {
                match self.call(request, "click").await {
                    // -7: our update failed (the database restarting); Click repeats, so do we.
                    Some((200, answer)) if answer["error"] != -7 => Some(answer),
                    _ => None,
                }
            }
        })
        .await
    }
}

/// Click's `sign_string` for these fields: the MD5 of the fields it covers and the secret, in Click's order
/// (Complete's also covers the prepare id).
fn click_signature(fields: &[(&str, String)]) -> String {
    use md5::{Digest as _, Md5};
    let complete = fields.iter().any(|(k, v)| *k == "action" && v == "1");
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let signed = format!(
        "{}{}{CLICK_SECRET}{}{}{}{}{}",
        field("click_trans_id"),
        field("service_id"),
        field("merchant_trans_id"),
        if complete {
            field("merchant_prepare_id")
        } else {
            ""
        },
        field("amount"),
        field("action"),
        field("sign_time"),
    );
    hex::encode(Md5::digest(signed.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_signs_prepare_without_and_complete_with_the_prepare_id() {
        let fields = |action: &str| {
            vec![
                ("click_trans_id", "7".to_owned()),
                ("service_id", "4242".to_owned()),
                ("merchant_trans_id", "12".to_owned()),
                ("amount", "2500.00".to_owned()),
                ("action", action.to_owned()),
                ("sign_time", "2026-11-24 10:00:00".to_owned()),
            ]
        };
        let md5 = |text: &str| {
            use md5::{Digest as _, Md5};
            hex::encode(Md5::digest(text.as_bytes()))
        };
        let mut complete = fields("1");
        complete.push(("merchant_prepare_id", "99".to_owned()));

        assert_eq!(
            click_signature(&fields("0")),
            md5("74242soak-click-secret122500.0002026-11-24 10:00:00")
        );
        assert_eq!(
            click_signature(&complete),
            md5("74242soak-click-secret12992500.0012026-11-24 10:00:00")
        );
    }
}

//! The Web Push channel's provider: each message is encrypted to the device's keys (`aes128gcm`, RFC 8291, through
//! `web-push-native`) and posted to its push service with a VAPID signature (RFC 8292: an ES256 JWT for the
//! endpoint's origin, signed with `VAPID_PRIVATE_KEY`, through `jsonwebtoken`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use app::domain::{
    context::BoxFuture,
    delivery::{Address, Message, Outcome, PushTarget, Transport},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::{SecretKey, elliptic_curve::sec1::ToEncodedPoint as _, pkcs8::EncodePrivateKey as _};
use serde::Serialize;
use web_push_native::{Auth, WebPushBuilder};

/// How long a push service keeps an undelivered message for an offline device.
const TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a VAPID signature is valid (RFC 8292 allows at most a day).
const SIGNATURE_VALID: Duration = Duration::from_secs(12 * 60 * 60);

/// Sends push messages from one application server (one VAPID key).
pub struct WebPush {
    signing: EncodingKey,
    /// The public key, as browsers take it (uncompressed point, URL-safe base64).
    public_key: String,
    /// Who runs this server (`mailto:` or `https:`), in every signature.
    subject: String,
    http: reqwest::Client,
}

/// A VAPID key pair: the private scalar and the public key, URL-safe base64 without padding.
pub struct VapidKeys {
    pub private_key: String,
    pub public_key: String,
}

/// A new VAPID key pair (`task vapid-keys`).
pub fn generate_keys() -> anyhow::Result<VapidKeys> {
    let mut bytes = [0u8; 32];
    loop {
        rand::fill(&mut bytes);
        if let Ok(secret) = SecretKey::from_slice(&bytes) {
            return Ok(VapidKeys {
                private_key: URL_SAFE_NO_PAD.encode(bytes),
                public_key: public_key_of(&secret),
            });
        }
    }
}

fn public_key_of(secret: &SecretKey) -> String {
    URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes())
}

/// The claims of a VAPID signature.
#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: u64,
    sub: &'a str,
}

/// The payload the service worker shows (`public/sw.js`).
#[derive(Serialize)]
struct Payload<'a> {
    title: &'a str,
    body: &'a str,
    url: &'a str,
}

impl WebPush {
    /// From the private key (`VAPID_PRIVATE_KEY`: 32 bytes, URL-safe base64) and the subject (`VAPID_SUBJECT`).
    pub fn new(private_key: &str, subject: &str, timeout: Duration) -> anyhow::Result<Self> {
        let bytes = URL_SAFE_NO_PAD
            .decode(private_key.trim().trim_end_matches('='))
            .context("VAPID_PRIVATE_KEY is not URL-safe base64")?;
        let secret = SecretKey::from_slice(&bytes)
            .context("VAPID_PRIVATE_KEY is not a P-256 private key (32 bytes)")?;
        let der = secret
            .to_pkcs8_der()
            .context("Failed to encode the VAPID key")?;
        anyhow::ensure!(
            subject.starts_with("mailto:") || subject.starts_with("https://"),
            "VAPID_SUBJECT must be a mailto: or https: URL"
        );
        Ok(Self {
            signing: EncodingKey::from_ec_der(der.as_bytes()),
            public_key: public_key_of(&secret),
            subject: subject.to_owned(),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    /// The public key browsers subscribe with.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `Authorization` header for a push service at `origin`.
    fn authorization(&self, origin: &str) -> Result<String, String> {
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(SIGNATURE_VALID)
            .as_secs();
        let claims = Claims {
            aud: origin,
            exp,
            sub: &self.subject,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.signing)
            .map_err(|e| format!("signing failed: {e}"))?;
        Ok(format!("vapid t={token}, k={}", self.public_key))
    }

    async fn push(&self, target: &PushTarget, message: &Message) -> Outcome {
        let refused = |error: String| Outcome::Refused { error };
        let Ok(uri) = target.endpoint.parse::<http::Uri>() else {
            return refused("the endpoint is not a URL".to_owned());
        };
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return refused("the endpoint is not an absolute URL".to_owned());
        };
        let origin = format!("{scheme}://{authority}");
        let decode = |k: &str| URL_SAFE_NO_PAD.decode(k.trim_end_matches('='));
        let Some(ua_public) = decode(&target.p256dh)
            .ok()
            .and_then(|k| p256::PublicKey::from_sec1_bytes(&k).ok())
        else {
            return refused("the subscription's p256dh is not a P-256 public key".to_owned());
        };
        let Some(secret) = decode(&target.auth).ok().filter(|a| a.len() == 16) else {
            return refused("the subscription's auth is not 16 bytes".to_owned());
        };
        let mut auth = Auth::default();
        auth.copy_from_slice(&secret);
        let payload = Payload {
            title: &message.subject,
            body: &message.text,
            url: &message.url,
        };
        let body = match serde_json::to_vec(&payload) {
            Ok(body) => body,
            Err(e) => return refused(format!("the payload: {e}")),
        };
        let request = match WebPushBuilder::new(uri, ua_public, auth)
            .with_valid_duration(TTL)
            .build(body)
        {
            Ok(request) => request,
            Err(e) => return refused(format!("encryption failed: {e}")),
        };
        let authorization = match self.authorization(&origin) {
            Ok(header) => header,
            Err(error) => return Outcome::Retry { error, after: None },
        };
        let (parts, body) = request.into_parts();
        let mut call = self
            .http
            .post(&target.endpoint)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header("Urgency", "normal")
            .body(body);
        for (name, value) in &parts.headers {
            call = call.header(name.as_str(), value.as_bytes());
        }
        let response = match call.send().await {
            Ok(response) => response,
            Err(e) => {
                return Outcome::Retry {
                    error: format!("the push service did not answer: {}", without_url(&e)),
                    after: None,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let error = format!("the push service answered {status}");
        match status {
            200..=299 => Outcome::Sent,
            404 | 410 => Outcome::Gone { error },
            429 => Outcome::Retry {
                error,
                after: retry_after,
            },
            400..=499 => Outcome::Refused { error },
            _ => Outcome::Retry {
                error,
                after: retry_after,
            },
        }
    }
}

/// A transport error without its URL: an endpoint is a capability, not for the log.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}

impl Transport for WebPush {
    fn send<'a>(&'a self, to: &'a Address, message: &'a Message) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match to {
                Address::Push(target) => self.push(target, message).await,
                _ => Outcome::Refused {
                    error: "not a push subscription".to_owned(),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_pair_loads_and_signs_for_an_origin() {
        let keys = generate_keys().expect("a key pair");
        let push = WebPush::new(
            &keys.private_key,
            "mailto:ops@example.com",
            Duration::from_secs(5),
        )
        .expect("the key loads");
        assert_eq!(push.public_key(), keys.public_key);
        let header = push
            .authorization("https://push.example.net")
            .expect("signed");
        assert!(header.starts_with("vapid t=ey"), "{header}");
        assert!(header.ends_with(&format!(", k={}", keys.public_key)));
        assert!(WebPush::new("not-a-key", "mailto:a@b.c", Duration::from_secs(5)).is_err());
        assert!(
            WebPush::new(&keys.private_key, "ops@example.com", Duration::from_secs(5)).is_err()
        );
    }
}

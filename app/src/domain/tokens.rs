//! Tokens: short-lived access JWTs (HS256) and rotating single-use refresh tokens, stored hashed and revocable.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{Error, Result};

/// The `typ` claim of access tokens; anything else is refused where an access token is required.
const ACCESS_TYPE: &str = "access";

/// Signs and checks access tokens (HS256) and knows how long tokens live.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// How long an access token is valid.
    pub access_ttl: Duration,
    /// How long a refresh token is valid.
    pub refresh_ttl: Duration,
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (RFC 7519).
    pub sub: String,
    /// The token type: always `access`.
    pub typ: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
}

impl Tokens {
    /// Keys from the server secret (at least 32 bytes).
    pub fn new(secret: &SecretString, access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    /// A new access token for `user_id`.
    pub fn issue_access(&self, user_id: i64) -> Result<String> {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user_id.to_string(),
            typ: ACCESS_TYPE.to_owned(),
            iat: now,
            exp: now.saturating_add(ttl),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("failed to sign an access token: {e}")))
    }

    /// The user id of a valid, unexpired access token signed by us; anything else is `token_invalid`.
    pub fn verify_access(&self, token: &str) -> Result<i64> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                tracing::debug!(error = %e, "Refused an access token");
                Error::TokenInvalid
            })?;
        if data.claims.typ != ACCESS_TYPE {
            tracing::debug!(token.typ = %data.claims.typ, "Refused a token of the wrong type");
            return Err(Error::TokenInvalid);
        }
        data.claims.sub.parse().map_err(|_| Error::TokenInvalid)
    }
}

/// Revokes every session of a user (deactivation, password change).
pub async fn revoke_all(db: impl sqlx::PgExecutor<'_>, user_id: i64) -> Result<()> {
    sqlx::query!(
        r#"update refresh_tokens set revoked_at = now() where user_id = $1 and revoked_at is null"#,
        user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

pub(crate) async fn store_refresh(
    db: impl sqlx::PgExecutor<'_>,
    tokens: &Tokens,
    user_id: i64,
    family: Uuid,
) -> Result<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let ttl =
        chrono::Duration::from_std(tokens.refresh_ttl).map_err(|e| Error::Internal(e.into()))?;
    sqlx::query!(
        r#"insert into refresh_tokens (user_id, family_id, token_hash, expires_at) values ($1, $2, $3, $4)"#,
        user_id,
        family,
        &hash_refresh(&token)[..],
        Utc::now() + ttl
    )
    .execute(db)
    .await?;
    Ok(token)
}

pub(crate) fn hash_refresh(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

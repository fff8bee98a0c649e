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
use crate::models::TokenPair;

/// The `typ` claim of access tokens; anything else is refused where an access token is required.
const ACCESS_TYPE: &str = "access";

/// How long, by default, a just-rotated refresh token may be presented again for a fresh pair of the same session
/// (two tabs of one browser renewing an expired session at the same moment) before a reuse counts as theft.
pub const REUSE_GRACE: Duration = Duration::from_secs(10);

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
    /// How long after its rotation a refresh token still yields a fresh pair of its session (see [`REUSE_GRACE`]).
    pub reuse_grace: Duration,
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
    /// The user's session epoch when the token was issued; a token of an earlier epoch is refused. Tokens signed
    /// before the claim existed have none, read as 0 (the column's first value).
    #[serde(default)]
    pub epoch: i64,
}

/// What a valid access token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Whose token it is.
    pub user_id: i64,
    /// The user's session epoch it was issued in.
    pub epoch: i64,
    /// When it expires (seconds since the Unix epoch).
    pub expires_at: i64,
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
            reuse_grace: REUSE_GRACE,
        }
    }

    /// The same keys and lifetimes with another grace for a just-rotated refresh token (zero: none).
    #[must_use]
    pub fn with_reuse_grace(self, reuse_grace: Duration) -> Self {
        Self {
            reuse_grace,
            ..self
        }
    }

    /// A new access token for `user_id` in their session epoch `epoch`.
    pub fn issue_access(&self, user_id: i64, epoch: i64) -> Result<String> {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user_id.to_string(),
            typ: ACCESS_TYPE.to_owned(),
            iat: now,
            exp: now.saturating_add(ttl),
            epoch,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("failed to sign an access token: {e}")))
    }

    /// What a valid, unexpired access token signed by us says; anything else is `token_invalid`. Whether its
    /// epoch is still the user's is for whoever loads the user to check ([`super::auth::check_epoch`]).
    pub fn verify_access(&self, token: &str) -> Result<Access> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                tracing::debug!(error = %e, "Refused an access token");
                Error::TokenInvalid
            })?;
        if data.claims.typ != ACCESS_TYPE {
            tracing::debug!(token.typ = %data.claims.typ, "Refused a token of the wrong type");
            return Err(Error::TokenInvalid);
        }
        Ok(Access {
            user_id: data.claims.sub.parse().map_err(|_| Error::TokenInvalid)?,
            epoch: data.claims.epoch,
            expires_at: data.claims.exp,
        })
    }
}

/// Revokes every refresh token of a user, in the transaction of the change that ends their sessions (which also
/// moves their session epoch on: see `users::Change::apply`).
pub async fn revoke_all(db: impl sqlx::PgExecutor<'_>, user_id: i64) -> Result<()> {
    sqlx::query!(
        r#"update refresh_tokens set revoked_at = now() where user_id = $1 and revoked_at is null"#,
        user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Refresh tokens that expired more than `grace` ago, deleted `batch` at a time (each batch its own short
/// statement, so no long lock and no big transaction); returns how many. An expired token is refused whether it
/// is kept or not (as an unknown one), so only the table's growth changes: without this it keeps every token of
/// every session ever opened. Several instances may prune at once (`skip locked`).
pub async fn prune_expired(db: &sqlx::PgPool, grace: Duration, batch: i64) -> Result<u64> {
    let grace = chrono::Duration::from_std(grace).map_err(|e| Error::Internal(e.into()))?;
    let mut pruned = 0;
    loop {
        let deleted = sqlx::query!(
            r#"
            delete from refresh_tokens where id in (
                select id from refresh_tokens where expires_at < $1
                order by expires_at limit $2 for update skip locked)
            "#,
            Utc::now() - grace,
            batch
        )
        .execute(db)
        .await?
        .rows_affected();
        pruned += deleted;
        if deleted < u64::try_from(batch).unwrap_or(u64::MAX) {
            return Ok(pruned);
        }
    }
}

/// Issues a token pair of session `family` for `user_id`, provided the user is still active and still in
/// session epoch `epoch` (the one read when they proved who they are); `None` if a change ended their sessions
/// in between, so a session can never outlive the change that ended it. (`for share` makes a concurrent change
/// wait for this insert, whose token it then revokes, or this insert wait for the change, and then see its epoch.)
pub(crate) async fn issue_pair(
    db: impl sqlx::PgExecutor<'_>,
    tokens: &Tokens,
    user_id: i64,
    family: Uuid,
    epoch: i64,
) -> Result<Option<TokenPair>> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let refresh = URL_SAFE_NO_PAD.encode(bytes);
    let ttl =
        chrono::Duration::from_std(tokens.refresh_ttl).map_err(|e| Error::Internal(e.into()))?;
    let stored = sqlx::query!(
        r#"
        insert into refresh_tokens (user_id, family_id, token_hash, expires_at)
        select id, $2, $3, $4 from users where id = $1 and is_active and session_epoch = $5
        for share
        "#,
        user_id,
        family,
        &hash_refresh(&refresh)[..],
        Utc::now() + ttl,
        epoch
    )
    .execute(db)
    .await?;
    if stored.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(Some(TokenPair {
        access: tokens.issue_access(user_id, epoch)?,
        refresh,
    }))
}

pub(crate) fn hash_refresh(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

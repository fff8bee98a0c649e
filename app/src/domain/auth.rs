//! Tokens and sign-in: short-lived access JWTs, rotating single-use refresh tokens (stored hashed, revocable,
//! reuse detected), and the login, refresh and logout flows.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Actor, Error, Result, parse_column, password::Hasher, users};
use crate::models::{LoginInput, LoginResponse, Role, TokenPair};

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

/// Resolves an access token to its user, fresh from the database: an inactive or deleted user is refused at once.
pub async fn authenticate(db: &PgPool, tokens: &Tokens, token: &str) -> Result<Actor> {
    load_actor(db, tokens.verify_access(token)?).await
}

/// The active user `user_id` as a caller; `token_invalid` if they are gone or inactive.
pub async fn load_actor(db: &PgPool, user_id: i64) -> Result<Actor> {
    let row = sqlx::query!(
        r#"select id, role, username, full_name from users where id = $1 and is_active"#,
        user_id
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::TokenInvalid)?;
    Ok(Actor {
        id: row.id,
        role: parse_column::<Role>(&row.role)?,
        username: row.username,
        full_name: row.full_name,
    })
}

/// Checks a username and password and opens a new session (a new refresh-token family).
pub async fn login(
    db: &PgPool,
    hasher: &Hasher,
    tokens: &Tokens,
    input: LoginInput,
) -> Result<LoginResponse> {
    let found = users::find_for_login(db, &input.username).await?;
    let (hash, user) = match found {
        Some((hash, user)) => (Some(hash), Some(user)),
        None => (None, None),
    };
    let matches = hasher.verify(input.password, hash).await?;
    let user = match user {
        Some(user) if matches && user.is_active => user,
        _ => return Err(Error::BadCredentials),
    };
    let pair = start_session(db, tokens, user.id).await?;
    tracing::info!(user.id = user.id, "Signed in user {}", user.id);
    Ok(LoginResponse {
        access: pair.access,
        refresh: pair.refresh,
        user,
    })
}

/// Issues the first token pair of a new session for `user_id`.
pub async fn start_session(db: &PgPool, tokens: &Tokens, user_id: i64) -> Result<TokenPair> {
    let refresh = store_refresh(db, tokens, user_id, Uuid::new_v4()).await?;
    Ok(TokenPair {
        access: tokens.issue_access(user_id)?,
        refresh,
    })
}

/// Trades a refresh token for a new pair. Each refresh token works once; presenting a used one again revokes its
/// whole family (someone else may hold a copy).
pub async fn refresh(db: &PgPool, tokens: &Tokens, refresh: &str) -> Result<TokenPair> {
    let hash = hash_refresh(refresh);
    let mut tx = db.begin().await?;
    let row = sqlx::query!(
        r#"
        select t.id, t.user_id, t.family_id, t.expires_at, t.used_at, t.revoked_at, u.is_active
        from refresh_tokens t join users u on u.id = t.user_id
        where t.token_hash = $1
        for update of t
        "#,
        &hash[..]
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::TokenInvalid)?;

    if row.used_at.is_some() && row.revoked_at.is_none() {
        sqlx::query!(
            r#"update refresh_tokens set revoked_at = now() where family_id = $1 and revoked_at is null"#,
            row.family_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::warn!(
            user.id = row.user_id,
            "Refresh token reused; revoked its session for user {}",
            row.user_id
        );
        return Err(Error::TokenInvalid);
    }
    if row.revoked_at.is_some()
        || row.used_at.is_some()
        || row.expires_at <= Utc::now()
        || !row.is_active
    {
        return Err(Error::TokenInvalid);
    }
    sqlx::query!(
        r#"update refresh_tokens set used_at = now() where id = $1"#,
        row.id
    )
    .execute(&mut *tx)
    .await?;
    let next = store_refresh(&mut *tx, tokens, row.user_id, row.family_id).await?;
    tx.commit().await?;
    Ok(TokenPair {
        access: tokens.issue_access(row.user_id)?,
        refresh: next,
    })
}

/// Ends the session a refresh token belongs to: every token of its family stops working.
pub async fn logout(db: &PgPool, refresh: &str) -> Result<()> {
    let hash = hash_refresh(refresh);
    let revoked = sqlx::query!(
        r#"
        update refresh_tokens set revoked_at = coalesce(revoked_at, now())
        where family_id = (select family_id from refresh_tokens where token_hash = $1)
        "#,
        &hash[..]
    )
    .execute(db)
    .await?;
    if revoked.rows_affected() == 0 {
        return Err(Error::TokenInvalid);
    }
    Ok(())
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

async fn store_refresh(
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

fn hash_refresh(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

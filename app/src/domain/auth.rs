//! Sign-in: the rate-limited login and sign-up, resolving an access token to its caller, and the refresh and
//! logout flows of a session.

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    Actor, Error, Result,
    context::{Context, Limits},
    parse_column,
    tokens::{hash_refresh, store_refresh},
    users,
};
use crate::models::{LoginInput, LoginResponse, RegisterInput, Role, TokenPair, User};

/// Resolves an access token to its user, fresh from the database: an inactive or deleted user is refused at once.
pub async fn authenticate(ctx: &Context, token: &str) -> Result<Actor> {
    load_actor(&ctx.db, ctx.tokens.verify_access(token)?).await
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

/// Signs in: counts the attempt against the limits per client address and per username, checks the username and
/// password, and opens a new session (a new refresh-token family).
pub async fn login(ctx: &Context, ip: &str, input: LoginInput) -> Result<LoginResponse> {
    let limit = ctx.limits.login_per_minute;
    ctx.limiter
        .hit(&format!("login:ip:{ip}"), limit, Limits::MINUTE)
        .await?;
    let username = input.username.trim().to_lowercase();
    ctx.limiter
        .hit(&format!("login:user:{username}"), limit, Limits::MINUTE)
        .await?;
    let found = users::find_for_login(&ctx.db, &input.username).await?;
    let (hash, user) = match found {
        Some((hash, user)) => (Some(hash), Some(user)),
        None => (None, None),
    };
    let matches = ctx.hasher.verify(input.password, hash).await?;
    let user = match user {
        Some(user) if matches && user.is_active => user,
        _ => return Err(Error::BadCredentials),
    };
    let pair = start_session(ctx, user.id).await?;
    tracing::info!(user.id = user.id, "Signed in user {}", user.id);
    Ok(LoginResponse {
        access: pair.access,
        refresh: pair.refresh,
        user,
    })
}

/// Creates a client account (never any other role), counting it against the sign-up limit of the client address.
pub async fn register(ctx: &Context, ip: &str, input: RegisterInput) -> Result<User> {
    ctx.limiter
        .hit(
            &format!("register:{ip}"),
            ctx.limits.register_per_hour,
            Limits::HOUR,
        )
        .await?;
    users::register(ctx, input).await
}

/// Issues the first token pair of a new session for `user_id`.
pub async fn start_session(ctx: &Context, user_id: i64) -> Result<TokenPair> {
    let refresh = store_refresh(&ctx.db, &ctx.tokens, user_id, Uuid::new_v4()).await?;
    Ok(TokenPair {
        access: ctx.tokens.issue_access(user_id)?,
        refresh,
    })
}

/// Trades a refresh token for a new pair. Each refresh token works once; presenting a used one again revokes its
/// whole family (someone else may hold a copy).
pub async fn refresh(ctx: &Context, refresh: &str) -> Result<TokenPair> {
    let (db, tokens) = (&ctx.db, &ctx.tokens);
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
pub async fn logout(ctx: &Context, refresh: &str) -> Result<()> {
    let hash = hash_refresh(refresh);
    let revoked = sqlx::query!(
        r#"
        update refresh_tokens set revoked_at = coalesce(revoked_at, now())
        where family_id = (select family_id from refresh_tokens where token_hash = $1)
        "#,
        &hash[..]
    )
    .execute(&ctx.db)
    .await?;
    if revoked.rows_affected() == 0 {
        return Err(Error::TokenInvalid);
    }
    Ok(())
}

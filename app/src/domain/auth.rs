//! Sign-in: the rate-limited login and sign-up, resolving an access token to its caller, and the refresh and
//! logout flows of a session.

use sqlx::PgPool;
use uuid::Uuid;

use super::{
    Actor, Error, Result,
    context::{Context, Limits},
    parse_column,
    tokens::{Access, hash_refresh, issue_pair},
    users,
};
use crate::models::{LoginInput, LoginResponse, RegisterInput, Role, TokenPair, User};

/// Resolves an access token to its user, fresh from the database: an inactive or deleted user, or a token issued
/// before a change that ended the user's sessions, is refused at once.
pub async fn authenticate(ctx: &Context, token: &str) -> Result<Actor> {
    let access = ctx.tokens.verify_access(token)?;
    let actor = load_actor(&ctx.db, access.user_id).await?;
    check_epoch(&actor, &access)?;
    Ok(actor)
}

/// The active user `user_id` as a caller; `token_invalid` if they are gone or inactive.
pub async fn load_actor(db: &PgPool, user_id: i64) -> Result<Actor> {
    let row = sqlx::query!(
        r#"select id, role, username, full_name, session_epoch from users where id = $1 and is_active"#,
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
        session_epoch: row.session_epoch,
    })
}

/// `token_invalid` unless `access` was issued in the actor's current session epoch: a password change, a new role
/// or a deactivation since it was issued ended its session. Every way of resolving a token to its user checks it.
pub fn check_epoch(actor: &Actor, access: &Access) -> Result<()> {
    if actor.id == access.user_id && actor.session_epoch == access.epoch {
        Ok(())
    } else {
        tracing::debug!(
            user.id = actor.id,
            "Refused an access token of an ended session of user {}",
            actor.id
        );
        Err(Error::TokenInvalid)
    }
}

/// Signs in: checks the username and password and opens a new session (a new refresh-token family).
///
/// Failures are what is limited, per client address and, more generously, per account (so a guessing spread
/// over many addresses stops too); a sign-in that succeeds does not count. Each attempt holds its slots while the
/// password is checked, so a burst of concurrent guesses cannot overshoot the limits, and gives them back unless
/// it failed. Failures from one address never stop the right password from another.
pub async fn login(ctx: &Context, ip: &str, input: LoginInput) -> Result<LoginResponse> {
    let username = input.username.trim().to_lowercase();
    let (by_address, by_account) = (
        format!("login:fail:ip:{ip}"),
        format!("login:fail:user:{username}"),
    );
    let reservation = ctx
        .limiter
        .reserve(
            &[
                (&by_address, ctx.limits.login_failures_per_minute),
                (&by_account, ctx.limits.login_failures_per_account),
            ],
            Limits::MINUTE,
        )
        .await?;
    let checked = check_password(ctx, input).await;
    if !matches!(checked, Err(Error::BadCredentials)) {
        ctx.limiter.release(reservation).await;
    }
    let (user, epoch) = checked?;
    // A change that ended the user's sessions while the password was checked (a new password, a deactivation)
    // wins: the password just checked may be the old one.
    let pair = issue_pair(&ctx.db, &ctx.tokens, user.id, Uuid::new_v4(), epoch)
        .await?
        .ok_or(Error::BadCredentials)?;
    tracing::info!(user.id = user.id, "Signed in user {}", user.id);
    Ok(LoginResponse {
        access: pair.access,
        refresh: pair.refresh,
        user,
    })
}

/// The active user a username and password name, with their session epoch; `bad_credentials` otherwise, after
/// as long a check (a decoy hash stands in for an unknown user).
async fn check_password(ctx: &Context, input: LoginInput) -> Result<(User, i64)> {
    let found = users::find_for_login(&ctx.db, &input.username).await?;
    let (hash, user) = match found {
        Some(login) => (
            Some(login.password_hash),
            Some((login.user, login.session_epoch)),
        ),
        None => (None, None),
    };
    let matches = ctx.hasher.verify(input.password, hash).await?;
    match user {
        Some((user, epoch)) if matches && user.is_active => Ok((user, epoch)),
        _ => Err(Error::BadCredentials),
    }
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

/// Issues the first token pair of a new session for `user_id`, in their current session epoch.
pub async fn start_session(ctx: &Context, user_id: i64) -> Result<TokenPair> {
    let epoch = load_actor(&ctx.db, user_id).await?.session_epoch;
    issue_pair(&ctx.db, &ctx.tokens, user_id, Uuid::new_v4(), epoch)
        .await?
        .ok_or(Error::TokenInvalid)
}

/// Trades a refresh token for a new pair of the same session. Each refresh token works once; presenting a used
/// one again revokes its whole session (someone else may hold a copy), except within the grace
/// (`Tokens::reuse_grace`, 10 s by default) after its rotation: two tabs of one browser renewing an expired
/// session at the same moment both present it, and the later one gets a fresh pair of the same session too.
pub async fn refresh(ctx: &Context, refresh: &str) -> Result<TokenPair> {
    let (db, tokens) = (&ctx.db, &ctx.tokens);
    let hash = hash_refresh(refresh);
    let grace = tokens.reuse_grace.as_secs_f64();
    let mut tx = db.begin().await?;
    let row = sqlx::query!(
        r#"
        select t.id, t.user_id, t.family_id, t.used_at, t.revoked_at, u.session_epoch,
               t.expires_at > now() and u.is_active as "usable!",
               coalesce(t.used_at > now() - make_interval(secs => $2), false) as "just_rotated!"
        from refresh_tokens t join users u on u.id = t.user_id
        where t.token_hash = $1
        for update of t
        "#,
        &hash[..],
        grace
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::TokenInvalid)?;

    if row.used_at.is_some() && row.revoked_at.is_none() && !row.just_rotated {
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
    if row.revoked_at.is_some() || !row.usable {
        return Err(Error::TokenInvalid);
    }
    if row.used_at.is_none() {
        sqlx::query!(
            r#"update refresh_tokens set used_at = now() where id = $1"#,
            row.id
        )
        .execute(&mut *tx)
        .await?;
    } else {
        tracing::info!(
            user.id = row.user_id,
            "Refresh token presented again within the grace; renewed the same session of user {}",
            row.user_id
        );
    }
    let pair = issue_pair(
        &mut *tx,
        tokens,
        row.user_id,
        row.family_id,
        row.session_epoch,
    )
    .await?
    .ok_or(Error::TokenInvalid)?;
    tx.commit().await?;
    Ok(pair)
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

/// A browser's sign-in: the session, and the user's remembered UI language (for the language cookie).
pub struct BrowserSignIn {
    pub response: LoginResponse,
    pub language: Option<String>,
}

/// Signs in from the browser: [`login`], and the language the user chose on any device.
pub async fn login_in_browser(ctx: &Context, ip: &str, input: LoginInput) -> Result<BrowserSignIn> {
    let response = login(ctx, ip, input).await?;
    let language = users::language(ctx, response.user.id).await?;
    Ok(BrowserSignIn { response, language })
}

/// Signs up from the browser: [`register`], then the session opens at once (the password was just set, so it is
/// not checked again), and the language the visitor used is remembered when it is one the app speaks.
pub async fn register_in_browser(
    ctx: &Context,
    ip: &str,
    input: RegisterInput,
    language: &str,
) -> Result<(User, TokenPair)> {
    let user = register(ctx, ip, input).await?;
    let pair = start_session(ctx, user.id).await?;
    if crate::lang::from_tag(language).is_some() {
        users::set_language(ctx, user.id, language).await?;
    }
    Ok((user, pair))
}

/// Renews a browser session whose access token expired, from its refresh token: the new pair and its user.
pub async fn renew(ctx: &Context, refresh_token: &str) -> Result<(TokenPair, Actor)> {
    let pair = refresh(ctx, refresh_token).await?;
    let actor = authenticate(ctx, &pair.access).await?;
    Ok((pair, actor))
}

//! Linking a Telegram chat to a user: the deep link with a one-time token (valid 10 minutes), and the bot's
//! webhook, where `/start <token>` links the chat that sent it and `/stop` (or blocking the bot) unlinks it.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{Duration as Span, Utc};
use rand::RngCore as _;
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::{
    domain::{Actor, Context, Error, Result},
    models::delivery::TelegramLink,
};

/// How long a link token is valid.
pub const LINK_TTL_MINUTES: i64 = 10;

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Where Telegram's deep links are: `<this><bot>?start=<token>`.
pub const DEEP_LINKS: &str = "https://t.me/";

/// A new one-time link for the caller (their earlier unused ones stop working). 409 when no bot is configured.
pub async fn start_link(ctx: &Context, actor: &Actor) -> Result<TelegramLink> {
    let bot =
        ctx.notify.telegram.as_ref().ok_or_else(|| {
            Error::Conflict("Telegram is not configured on this server.".to_owned())
        })?;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    // 32 characters of [A-Za-z0-9_-]: what Telegram allows in a `start` parameter.
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let expires_at = Utc::now() + Span::minutes(LINK_TTL_MINUTES);
    let mut tx = ctx.db.begin().await?;
    sqlx::query!(
        r#"delete from telegram_link_tokens where user_id = $1 or expires_at < now()"#,
        actor.id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"insert into telegram_link_tokens (token_hash, user_id, expires_at) values ($1, $2, $3)"#,
        hash(&token),
        actor.id,
        expires_at
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(TelegramLink {
        url: format!("{DEEP_LINKS}{}?start={token}", bot.username),
        expires_at,
    })
}

/// Unlinks the caller's chat (nothing to do when none is linked).
pub async fn unlink(ctx: &Context, actor: &Actor) -> Result<()> {
    sqlx::query!(r#"delete from telegram_links where user_id = $1"#, actor.id)
        .execute(&ctx.db)
        .await?;
    Ok(())
}

/// Unlinks `chat_id` from whoever it is linked to (the bot was blocked, or `/stop`).
pub async fn unlink_chat(db: &sqlx::PgPool, chat_id: i64) -> Result<bool> {
    let done = sqlx::query!(r#"delete from telegram_links where chat_id = $1"#, chat_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// What a webhook call did (for the log and the tests; Telegram is answered 200 whatever it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// The chat was linked to this user.
    Linked { user_id: i64, chat_id: i64 },
    /// The chat was unlinked.
    Unlinked { chat_id: i64 },
    /// A `/start` with an unknown, used or expired token.
    BadToken { chat_id: i64 },
    /// Anything else.
    Ignored,
}

/// Checks the webhook's secret header against the configured one: 404 when no bot is configured, 401 when the
/// secret is missing or wrong (or none is configured).
pub fn authenticate(ctx: &Context, given: Option<&str>) -> Result<()> {
    let bot = ctx.notify.telegram.as_ref().ok_or(Error::NotFound)?;
    let expected = bot.webhook_secret.as_ref().ok_or(Error::NotAuthenticated)?;
    let given = given.ok_or(Error::NotAuthenticated)?;
    if bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes())) {
        Ok(())
    } else {
        Err(Error::TokenInvalid)
    }
}

/// Handles one Bot API update (its body, authenticated by [`authenticate`]): `/start <token>` links the chat to the
/// token's user, `/stop` unlinks it, and so does the bot being blocked (`my_chat_member` with status `kicked`).
/// Anything unreadable is ignored: Telegram would only send it again.
pub async fn handle_update(ctx: &Context, body: &[u8]) -> Result<Update> {
    let Ok(update) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(Update::Ignored);
    };
    if let Some(member) = update.get("my_chat_member") {
        let chat_id = member
            .pointer("/chat/id")
            .and_then(serde_json::Value::as_i64);
        let status = member
            .pointer("/new_chat_member/status")
            .and_then(serde_json::Value::as_str);
        if let (Some(chat_id), Some("kicked")) = (chat_id, status) {
            unlink_chat(&ctx.db, chat_id).await?;
            return Ok(Update::Unlinked { chat_id });
        }
        return Ok(Update::Ignored);
    }
    let Some(message) = update.get("message") else {
        return Ok(Update::Ignored);
    };
    let chat_id = message
        .pointer("/chat/id")
        .and_then(serde_json::Value::as_i64);
    let text = message.get("text").and_then(serde_json::Value::as_str);
    let (Some(chat_id), Some(text)) = (chat_id, text) else {
        return Ok(Update::Ignored);
    };
    let mut words = text.split_whitespace();
    // `/start@TaskBot` is how the command reads in a group.
    let command = words.next().unwrap_or_default();
    let command = command.split('@').next().unwrap_or_default();
    match command {
        "/start" => {
            let Some(token) = words.next() else {
                return Ok(Update::BadToken { chat_id });
            };
            link(ctx, chat_id, token).await
        }
        "/stop" => {
            unlink_chat(&ctx.db, chat_id).await?;
            Ok(Update::Unlinked { chat_id })
        }
        _ => Ok(Update::Ignored),
    }
}

/// Spends `token` and links `chat_id` to its user (moving the chat from whoever had it).
async fn link(ctx: &Context, chat_id: i64, token: &str) -> Result<Update> {
    let mut tx = ctx.db.begin().await?;
    let user_id = sqlx::query_scalar!(
        r#"delete from telegram_link_tokens where token_hash = $1 and expires_at > now() returning user_id"#,
        hash(token)
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        return Ok(Update::BadToken { chat_id });
    };
    sqlx::query!(
        r#"delete from telegram_links where chat_id = $1 and user_id <> $2"#,
        chat_id,
        user_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"
        insert into telegram_links (user_id, chat_id) values ($1, $2)
        on conflict (user_id) do update set chat_id = excluded.chat_id, created_at = now()
        "#,
        user_id,
        chat_id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(
        user.id = user_id,
        "Linked a Telegram chat to user {user_id}"
    );
    Ok(Update::Linked { user_id, chat_id })
}

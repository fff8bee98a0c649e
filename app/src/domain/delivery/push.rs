//! Browser push subscriptions, one per device, which the Web Push channel sends to (see the module [`super`]),
//! and the VAPID public key browsers subscribe with.

use crate::{
    domain::{Actor, Context, Error, FieldErrors, Result},
    models::delivery::{PushSubscriptionInput, VapidPublicKey},
};

/// The VAPID public key of this deployment (409 when Web Push is not configured here).
pub fn vapid_public_key(ctx: &Context) -> Result<VapidPublicKey> {
    ctx.notify
        .vapid_public_key
        .clone()
        .map(|key| VapidPublicKey { key })
        .ok_or_else(|| Error::Conflict("Web Push is not configured on this server.".to_owned()))
}

/// Stores the caller's subscription (an endpoint already stored moves to the caller, with the new keys).
pub async fn subscribe(ctx: &Context, actor: &Actor, input: PushSubscriptionInput) -> Result<()> {
    let mut errors = FieldErrors::default();
    // A push service is always HTTPS; a local one over plain HTTP only where the operator allowed it (tests, the
    // sandbox's fake), so no subscription makes this server post to its own network.
    let local = ctx.notify.allow_local_push
        && ["http://127.0.0.1:", "http://localhost:"]
            .iter()
            .any(|p| input.endpoint.starts_with(p));
    if !(input.endpoint.starts_with("https://") || local) || input.endpoint.len() > 2000 {
        errors.add(
            "endpoint",
            "Expected an https:// URL of at most 2000 characters.",
        );
    }
    let key = |k: &str| {
        !k.is_empty()
            && k.len() <= 200
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b))
    };
    if !key(&input.keys.p256dh) {
        errors.add("keys.p256dh", "Expected a URL-safe base64 key.");
    }
    if !key(&input.keys.auth) || input.keys.auth.len() > 100 {
        errors.add("keys.auth", "Expected a URL-safe base64 secret.");
    }
    errors.finish()?;
    sqlx::query!(
        r#"
        insert into push_subscriptions (user_id, endpoint, p256dh, auth) values ($1, $2, $3, $4)
        on conflict (endpoint) do update set user_id = excluded.user_id, p256dh = excluded.p256dh,
            auth = excluded.auth
        "#,
        actor.id,
        input.endpoint,
        input.keys.p256dh,
        input.keys.auth
    )
    .execute(&ctx.db)
    .await?;
    Ok(())
}

/// Removes one of the caller's subscriptions (nothing to do when it is not theirs or not stored).
pub async fn unsubscribe(ctx: &Context, actor: &Actor, endpoint: &str) -> Result<()> {
    sqlx::query!(
        r#"delete from push_subscriptions where user_id = $1 and endpoint = $2"#,
        actor.id,
        endpoint
    )
    .execute(&ctx.db)
    .await?;
    Ok(())
}

/// Removes a subscription its push service says is gone for good (404 or 410): whoever it belonged to.
pub async fn remove_gone(db: &sqlx::PgPool, endpoint: &str) -> Result<()> {
    sqlx::query!(
        r#"delete from push_subscriptions where endpoint = $1"#,
        endpoint
    )
    .execute(db)
    .await?;
    Ok(())
}

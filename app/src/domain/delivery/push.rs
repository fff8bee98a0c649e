//! Browser push subscriptions: stored per device so the Web Push channel can send to them (sending is not built
//! yet; see the module [`super`]).

use crate::{
    domain::{Actor, Context, FieldErrors, Result},
    models::delivery::PushSubscriptionInput,
};

/// Stores the caller's subscription (an endpoint already stored moves to the caller, with the new keys).
pub async fn subscribe(ctx: &Context, actor: &Actor, input: PushSubscriptionInput) -> Result<()> {
    let mut errors = FieldErrors::default();
    if !input.endpoint.starts_with("https://") || input.endpoint.len() > 2000 {
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

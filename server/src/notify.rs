//! Wires the notification channels from the configuration, and runs the delivery sweeps (see
//! `app::domain::delivery`): one turns the committed feed into deliveries, the other sends the due ones.

use std::{sync::Arc, time::Duration};

use app::domain::{
    Context,
    delivery::{Notify, Policy, TelegramBot, Transport, pipeline},
};

use crate::{
    config::ServeConfig,
    email::Email,
    push::WebPush,
    telegram::{SharedTurns, TelegramApi},
};

/// The channels `config` turns on, with their providers (Telegram's pace shared with every instance through
/// `redis`).
pub fn channels(
    config: &ServeConfig,
    redis: redis::aio::ConnectionManager,
) -> anyhow::Result<Notify> {
    let n = &config.notify;
    let timeout = Duration::from_secs(n.delivery_timeout_secs);
    let (telegram, telegram_transport) = match (&n.telegram_bot_token, &n.telegram_bot_username) {
        (Some(token), Some(username)) => {
            let api = TelegramApi::new(
                &n.telegram_api_base,
                token,
                n.telegram_messages_per_second,
                timeout,
                Some(SharedTurns {
                    redis,
                    prefix: format!("{}:telegram", config.redis_prefix),
                }),
            )?;
            if n.telegram_webhook_secret.is_none() {
                tracing::warn!(
                    "TELEGRAM_WEBHOOK_SECRET is not set: the Telegram webhook refuses every call, so no chat can link"
                );
            }
            let bot = TelegramBot {
                username: username.trim_start_matches('@').to_owned(),
                webhook_secret: n.telegram_webhook_secret.clone(),
            };
            (Some(bot), Some(Arc::new(api) as Arc<dyn Transport>))
        }
        (None, None) => (None, None),
        _ => anyhow::bail!("set both TELEGRAM_BOT_TOKEN and TELEGRAM_BOT_USERNAME, or neither"),
    };
    let email_transport: Option<Arc<dyn Transport>> = match (&n.smtp_url, &n.email_dir) {
        (Some(url), _) => Some(Arc::new(Email::smtp(
            secrecy::ExposeSecret::expose_secret(url),
            &n.email_from,
            timeout,
        )?)),
        (None, Some(dir)) => Some(Arc::new(Email::files(dir, &n.email_from)?)),
        (None, None) => None,
    };
    let push = match &n.vapid_private_key {
        Some(key) => Some(WebPush::new(
            secrecy::ExposeSecret::expose_secret(key),
            &n.vapid_subject,
            timeout,
        )?),
        None => None,
    };
    let vapid_public_key = push.as_ref().map(|p| p.public_key().to_owned());
    let push_transport = push.map(|p| Arc::new(p) as Arc<dyn Transport>);
    let on = |on: bool| if on { "on" } else { "off" };
    tracing::info!(
        telegram = telegram.is_some(),
        web_push = push_transport.is_some(),
        email = email_transport.is_some(),
        "Notification channels: Telegram {}, Web Push {}, email {}",
        on(telegram.is_some()),
        on(push_transport.is_some()),
        on(email_transport.is_some()),
    );
    Ok(Notify {
        public_url: config.base_url().to_owned(),
        telegram,
        telegram_transport,
        email_transport,
        push_transport,
        vapid_public_key,
        allow_local_push: n.web_push_allow_local,
        policy: Policy {
            max_attempts: n.delivery_max_attempts.max(1),
            lease: timeout.saturating_mul(3).max(Duration::from_secs(30)),
            backoff: Duration::from_secs(n.delivery_backoff_secs),
            ..Policy::default()
        },
    })
}

/// Starts the two delivery sweeps of this instance (every instance runs them; see the domain's module doc for why
/// that sends nothing twice).
/// Without any channel configured nothing is sent, but the feed is still followed (slowly), so that turning a
/// channel on later does not send the whole history since.
pub fn spawn_sweeps(ctx: &Context, config: &ServeConfig) {
    let every = Duration::from_millis(config.notify.delivery_interval_ms.max(10));
    let notify = &ctx.notify;
    if !notify.any_channel() {
        tokio::spawn(fan_out(ctx.clone(), every.max(IDLE_FOLLOW)));
        return;
    }
    tokio::spawn(fan_out(ctx.clone(), every));
    tokio::spawn(send(ctx.clone(), every));
}

/// How often the feed is followed when no channel is configured.
const IDLE_FOLLOW: Duration = Duration::from_secs(5);

/// Turns new notifications into deliveries, a batch at a time, as long as there are more.
async fn fan_out(ctx: Context, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            match pipeline::fan_out(&ctx).await {
                Ok(n) if i64::try_from(n).unwrap_or(i64::MAX) >= ctx.notify.policy.batch => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "Turning notifications into deliveries failed");
                    break;
                }
            }
        }
    }
}

/// Sends the due deliveries, a batch at a time, as long as there are more; then the due digests.
async fn send(ctx: Context, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            match pipeline::send_due(&ctx).await {
                Ok(n) if i64::try_from(n).unwrap_or(i64::MAX) >= ctx.notify.policy.batch => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "Sending due deliveries failed");
                    break;
                }
            }
        }
        // The due digests, one (recipient, channel) at a time, at most a batch of them per round.
        for _ in 0..ctx.notify.policy.batch {
            match pipeline::send_digest(&ctx).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "Sending a due digest failed");
                    break;
                }
            }
        }
    }
}

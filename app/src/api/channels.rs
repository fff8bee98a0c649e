//! Notifications away from the page: the caller's channel settings, the Telegram link, the test message and the
//! admins' delivery log. Server functions over [`crate::domain::delivery`], named like the REST handlers.

use leptos::prelude::*;

use super::{ApiError, Listing};
use crate::models::delivery::{Channel, Delivery, DeliveryStatus, NotificationSettings};
#[cfg(feature = "ssr")]
use {
    super::web::{actor, back_to, context, listing, window},
    crate::domain::delivery::{
        pipeline::{self, DeliveryFilter},
        push, settings, telegram,
    },
    crate::models::delivery::{
        ChannelSwitch, ChannelSwitches, PushKeys, PushSubscriptionInput, QuietHours,
        UpdateNotificationSettings as SettingsInput,
    },
    std::collections::BTreeMap,
};

/// The caller's notification settings with each channel's state.
#[server(prefix = "/_fn", endpoint = "get_notification_settings")]
pub async fn get_notification_settings() -> Result<NotificationSettings, ApiError> {
    Ok(settings::get(&context()?, &actor()?).await?)
}

/// The settings form: which channels are on (`channels[]`), which kinds go where (`routes[]` of `kind:channel`),
/// the quiet hours when ticked, the digest interval. The same change as `PUT /api/v1/me/notification-settings`; a
/// form post returns to its page, saying it saved.
#[server(prefix = "/_fn", endpoint = "update_notification_settings")]
pub async fn update_notification_settings(
    #[server(default)] channels: Vec<Channel>,
    #[server(default)] routes: Vec<String>,
    #[server(default)] quiet: Option<String>,
    #[server(default)] quiet_from: String,
    #[server(default)] quiet_to: String,
    #[server(default)] digest_minutes: String,
) -> Result<NotificationSettings, ApiError> {
    let switch = |channel: Channel| {
        Some(ChannelSwitch {
            enabled: channels.contains(&channel),
        })
    };
    let mut kinds: BTreeMap<String, Vec<Channel>> = BTreeMap::new();
    for kind in crate::models::NotificationKind::ALL {
        kinds.insert(kind.as_str().to_owned(), Vec::new());
    }
    let mut errors = crate::domain::FieldErrors::default();
    for route in &routes {
        match route
            .split_once(':')
            .and_then(|(kind, channel)| Some((kind, channel.parse::<Channel>().ok()?)))
        {
            Some((kind, channel)) => kinds.entry(kind.to_owned()).or_default().push(channel),
            None => errors.add("routes", "Expected kind:channel."),
        }
    }
    let digest_minutes = digest_minutes.trim().parse::<i32>().unwrap_or_else(|_| {
        errors.add("digest_minutes", "Must be 0, 15 or 60.");
        0
    });
    errors.finish()?;
    let input = SettingsInput {
        channels: ChannelSwitches {
            telegram: switch(Channel::Telegram),
            web_push: switch(Channel::WebPush),
            email: switch(Channel::Email),
        },
        kinds,
        quiet_hours: quiet.map(|_| QuietHours {
            from: quiet_from,
            to: quiet_to,
        }),
        digest_minutes,
    };
    let saved = settings::update(&context()?, &actor()?, input).await?;
    leptos_axum::redirect(&back_to("/settings", Some(("saved", "1"))));
    Ok(saved)
}

/// Queues one test message to each of the caller's channels that is on and has somewhere to go; the page then
/// says how many.
#[server(prefix = "/_fn", endpoint = "send_test_notification")]
pub async fn send_test_notification() -> Result<usize, ApiError> {
    let queued = pipeline::send_test(&context()?, &actor()?).await?;
    leptos_axum::redirect(&back_to("/settings", Some(("tested", &queued.to_string()))));
    Ok(queued)
}

/// Starts linking the caller's Telegram: the browser goes on to the bot's one-time deep link.
#[server(prefix = "/_fn", endpoint = "create_telegram_link")]
pub async fn create_telegram_link() -> Result<String, ApiError> {
    let link = telegram::start_link(&context()?, &actor()?).await?;
    leptos_axum::redirect(&link.url);
    Ok(link.url)
}

/// Unlinks the caller's Telegram chat.
#[server(prefix = "/_fn", endpoint = "delete_telegram_link")]
pub async fn delete_telegram_link() -> Result<(), ApiError> {
    telegram::unlink(&context()?, &actor()?).await?;
    leptos_axum::redirect(&back_to("/settings", None));
    Ok(())
}

/// The VAPID public key this device subscribes with, when Web Push is configured here (else `None`).
#[server(prefix = "/_fn", endpoint = "get_vapid_public_key")]
pub async fn get_vapid_public_key() -> Result<Option<String>, ApiError> {
    Ok(push::vapid_public_key(&context()?).ok().map(|k| k.key))
}

/// Stores this device's push subscription for the caller (posted by the settings page's script after the browser
/// subscribed): the same as `POST /api/v1/me/push-subscriptions`.
#[server(prefix = "/_fn", endpoint = "create_push_subscription")]
pub async fn create_push_subscription(
    endpoint: String,
    p256dh: String,
    auth: String,
) -> Result<(), ApiError> {
    let input = PushSubscriptionInput {
        endpoint,
        keys: PushKeys { p256dh, auth },
    };
    Ok(push::subscribe(&context()?, &actor()?, input).await?)
}

/// The delivery log (admins), newest first, filtered.
#[server(prefix = "/_fn", endpoint = "list_deliveries")]
pub async fn list_deliveries(
    page: i64,
    status: Option<DeliveryStatus>,
    channel: Option<Channel>,
    user_id: Option<i64>,
) -> Result<Listing<Delivery>, ApiError> {
    let filter = DeliveryFilter {
        status,
        channel,
        user_id,
    };
    let slice = pipeline::list(&context()?, &actor()?, filter, window(page)?).await?;
    Ok(listing(page, slice))
}

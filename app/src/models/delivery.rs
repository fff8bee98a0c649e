//! Wire types of the notification channels (API.md, "Notifications that reach people away from the page"): a
//! user's notification settings, the Telegram deep link, push subscriptions and the delivery log.

use std::{collections::BTreeMap, fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{UnknownValue, ts};

wire_enum! {
    /// A way a notification reaches someone away from the page.
    Channel { Telegram => "telegram", WebPush => "web_push", Email => "email" }
}

wire_enum! {
    /// Where one delivery is.
    DeliveryStatus { Pending => "pending", Sent => "sent", Failed => "failed", Skipped => "skipped" }
}

/// Quiet hours in Asia/Tashkent time, `"HH:MM"` each; `from` after `to` spans midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct QuietHours {
    pub from: String,
    pub to: String,
}

/// The Telegram channel's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TelegramState {
    /// Whether a chat is linked (read-only).
    pub linked: bool,
    pub enabled: bool,
    /// Whether this deployment has a bot (read-only).
    pub available: bool,
    /// Why the channel's latest message has not gone out, if it has not (read-only).
    #[serde(default)]
    pub last_error: Option<String>,
}

/// The Web Push channel's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebPushState {
    /// How many devices are subscribed (read-only).
    pub subscriptions: i64,
    pub enabled: bool,
    /// Why the channel's latest message has not gone out, if it has not (read-only).
    #[serde(default)]
    pub last_error: Option<String>,
}

/// The email channel's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EmailState {
    /// The profile's email address (read-only here; changed with the profile).
    pub address: Option<String>,
    pub enabled: bool,
    /// Why the channel's latest message has not gone out, if it has not (read-only).
    #[serde(default)]
    pub last_error: Option<String>,
}

/// Every channel's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChannelStates {
    pub telegram: TelegramState,
    pub web_push: WebPushState,
    pub email: EmailState,
}

/// A user's notification settings (`GET /api/v1/me/notification-settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotificationSettings {
    pub channels: ChannelStates,
    /// Which kinds of event go to which channels, by kind (`order_created`, ...).
    pub kinds: BTreeMap<String, Vec<Channel>>,
    pub quiet_hours: Option<QuietHours>,
    /// 0 (every event at once), 15 or 60 (one digest per interval).
    pub digest_minutes: i32,
}

/// A channel's switch in an update; the state's read-only fields may be sent back and are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChannelSwitch {
    pub enabled: bool,
}

/// The channels' switches in an update; a channel left out keeps its switch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChannelSwitches {
    pub telegram: Option<ChannelSwitch>,
    pub web_push: Option<ChannelSwitch>,
    pub email: Option<ChannelSwitch>,
}

/// `PUT /api/v1/me/notification-settings`: the settings' shape without its read-only parts (which may be sent back
/// and are ignored). `kinds` replaces the whole map; a kind left out goes nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpdateNotificationSettings {
    #[serde(default)]
    pub channels: ChannelSwitches,
    pub kinds: BTreeMap<String, Vec<Channel>>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    pub digest_minutes: i32,
}

/// `GET /api/v1/push/vapid-public-key`: the key a browser subscribes with (`applicationServerKey`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VapidPublicKey {
    /// An uncompressed P-256 point, URL-safe base64 without padding.
    pub key: String,
}

/// `POST /api/v1/me/telegram/link`: the bot's deep link with a one-time token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TelegramLink {
    pub url: String,
    #[serde(with = "ts")]
    #[cfg_attr(feature = "ssr", schema(value_type = String, format = DateTime))]
    pub expires_at: DateTime<Utc>,
}

/// The keys of a browser push subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PushKeys {
    pub p256dh: String,
    pub auth: String,
}

/// The browser's `PushSubscription` JSON (`POST /api/v1/me/push-subscriptions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PushSubscriptionInput {
    pub endpoint: String,
    pub keys: PushKeys,
}

/// `DELETE /api/v1/me/push-subscriptions`: which subscription to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PushSubscriptionRef {
    pub endpoint: String,
}

/// One row of the delivery log (`GET /api/v1/deliveries`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: i64,
    /// Null for a test message.
    pub notification_id: Option<i64>,
    pub user_id: i64,
    pub channel: Channel,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(with = "ts::option")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, format = DateTime))]
    pub sent_at: Option<DateTime<Utc>>,
}

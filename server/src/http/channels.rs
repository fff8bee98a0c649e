//! Notifications away from the page: the caller's notification settings, linking Telegram, push subscriptions,
//! a test message, the Telegram bot's webhook, and the delivery log for admins. Thin adapters over
//! [`app::domain::delivery`].

use app::{
    domain::{
        Result,
        delivery::{
            pipeline::{self, DeliveryFilter},
            push, settings, telegram,
        },
        page::PageParams,
    },
    models::{
        ErrorBody, Page,
        delivery::{
            Delivery, NotificationSettings, PushSubscriptionInput, PushSubscriptionRef,
            TelegramLink, UpdateNotificationSettings, VapidPublicKey,
        },
    },
};
use axum::{
    body::Bytes,
    extract::{OriginalUri, State},
    http::{HeaderMap, StatusCode},
};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::paginate;
use crate::{
    extract::{Call, Created, Json, Query, Reply, created},
    openapi::Forbidden,
    state::AppState,
};

/// The header Telegram authenticates its webhook calls with (the `secret_token` given to `setWebhook`).
const TELEGRAM_SECRET: &str = "x-telegram-bot-api-secret-token";

/// `/me/notification-settings*`, `/me/telegram*`, `/me/push-subscriptions`, `/telegram/webhook`, `/deliveries`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            get_notification_settings,
            update_notification_settings
        ))
        .routes(routes!(send_test_notification))
        .routes(routes!(create_telegram_link))
        .routes(routes!(delete_telegram_link))
        .routes(routes!(telegram_webhook))
        .routes(routes!(get_vapid_public_key))
        .routes(routes!(create_push_subscription, delete_push_subscription))
        .routes(routes!(list_deliveries))
}

/// The caller's notification settings, with each channel's state (their role's defaults until they change them).
#[utoipa::path(get, path = "/me/notification-settings", tag = "channels", security(("bearer" = [])),
    responses((status = 200, description = "Success", body = NotificationSettings)))]
async fn get_notification_settings(call: Call) -> Reply<NotificationSettings> {
    settings::get(&call.ctx, &call.actor).await.map(axum::Json)
}

/// Replaces the caller's notification settings: which kinds go to which channels, the channels' switches, quiet
/// hours (Asia/Tashkent) and the digest interval. The read-only parts of the settings may be sent back; they are
/// ignored.
#[utoipa::path(put, path = "/me/notification-settings", tag = "channels", security(("bearer" = [])),
    request_body = UpdateNotificationSettings,
    responses((status = 200, description = "Success", body = NotificationSettings)))]
async fn update_notification_settings(
    call: Call,
    Json(input): Json<UpdateNotificationSettings>,
) -> Reply<NotificationSettings> {
    settings::update(&call.ctx, &call.actor, input)
        .await
        .map(axum::Json)
}

/// How many test messages were queued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TestQueued {
    queued: usize,
}

/// Queues one test message to each of the caller's switched-on channels that has somewhere to go.
#[utoipa::path(post, path = "/me/notification-settings/test", tag = "channels", security(("bearer" = [])),
    responses((status = 202, description = "Queued", body = TestQueued)))]
async fn send_test_notification(call: Call) -> Result<(StatusCode, axum::Json<TestQueued>)> {
    let queued = pipeline::send_test(&call.ctx, &call.actor).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(TestQueued { queued })))
}

/// A one-time deep link to the bot (valid 10 minutes): opening it and pressing Start links the Telegram chat.
#[utoipa::path(post, path = "/me/telegram/link", tag = "channels", security(("bearer" = [])),
    responses((status = 201, description = "Created", body = TelegramLink),
              (status = 409, description = "No Telegram bot is configured here (`conflict`)", body = ErrorBody)))]
async fn create_telegram_link(call: Call) -> Created<TelegramLink> {
    telegram::start_link(&call.ctx, &call.actor)
        .await
        .map(created)
}

/// Unlinks the caller's Telegram chat.
#[utoipa::path(delete, path = "/me/telegram", tag = "channels", security(("bearer" = [])),
    responses((status = 204, description = "Done; no content")))]
async fn delete_telegram_link(call: Call) -> Result<StatusCode> {
    telegram::unlink(&call.ctx, &call.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The bot's webhook (Bot API `Update`s), authenticated by `X-Telegram-Bot-Api-Secret-Token`: `/start <token>`
/// links the chat to the token's user, `/stop` unlinks it. Every authenticated call is answered 200, whatever it
/// holds.
#[utoipa::path(post, path = "/telegram/webhook", tag = "channels", security(("telegram" = [])),
    request_body(content = Object, description = "A Bot API `Update` (any Content-Type)"),
    responses((status = 200, description = "Taken", body = Object),
              (status = 401, description = "The secret header is missing or wrong (`not_authenticated`, \
                                            `token_invalid`)", body = ErrorBody),
              (status = 404, description = "No Telegram bot is configured here (`not_found`)", body = ErrorBody)))]
async fn telegram_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>> {
    let given = headers.get(TELEGRAM_SECRET).and_then(|v| v.to_str().ok());
    telegram::authenticate(&state.ctx, given)?;
    let update = telegram::handle_update(&state.ctx, &body).await?;
    tracing::debug!(?update, "Telegram update");
    Ok(axum::Json(serde_json::json!({ "ok": true })))
}

/// The VAPID public key browsers subscribe with (`applicationServerKey`); 409 when Web Push is not configured.
#[utoipa::path(get, path = "/push/vapid-public-key", tag = "channels",
    responses((status = 200, description = "Success", body = VapidPublicKey),
              (status = 409, description = "Web Push is not configured here (`conflict`)", body = ErrorBody)))]
async fn get_vapid_public_key(State(state): State<AppState>) -> Reply<VapidPublicKey> {
    push::vapid_public_key(&state.ctx).map(axum::Json)
}

/// Stores the browser's push subscription for the caller (this device).
#[utoipa::path(post, path = "/me/push-subscriptions", tag = "channels", security(("bearer" = [])),
    request_body = PushSubscriptionInput,
    responses((status = 201, description = "Stored; no content")))]
async fn create_push_subscription(
    call: Call,
    Json(input): Json<PushSubscriptionInput>,
) -> Result<StatusCode> {
    push::subscribe(&call.ctx, &call.actor, input).await?;
    Ok(StatusCode::CREATED)
}

/// Removes one of the caller's push subscriptions (by its endpoint).
#[utoipa::path(delete, path = "/me/push-subscriptions", tag = "channels", security(("bearer" = [])),
    request_body = PushSubscriptionRef,
    responses((status = 204, description = "Done; no content")))]
async fn delete_push_subscription(
    call: Call,
    Json(input): Json<PushSubscriptionRef>,
) -> Result<StatusCode> {
    push::unsubscribe(&call.ctx, &call.actor, &input.endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The delivery log, newest first (admins).
#[utoipa::path(get, path = "/deliveries", tag = "channels", security(("bearer" = [])),
    params(DeliveryFilter, PageParams),
    responses((status = 200, description = "Success", body = Page<Delivery>), (status = 403, response = Forbidden)))]
async fn list_deliveries(
    call: Call,
    OriginalUri(uri): OriginalUri,
    Query(filter): Query<DeliveryFilter>,
    Query(page): Query<PageParams>,
) -> Reply<Page<Delivery>> {
    let slice = pipeline::list(&call.ctx, &call.actor, filter, page.window()?).await?;
    Ok(paginate(&call.ctx, &uri, slice))
}

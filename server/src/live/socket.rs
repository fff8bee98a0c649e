//! One socket of the live feed: authenticated before the upgrade, `hello` first, the replay after `after_id`,
//! then live events, read-state changes and pings — all in one task with small buffers — until the client leaves,
//! its access is revoked, the token it was opened with expires, or the user opens too many others.

use std::time::Duration;

use app::{
    domain::{Actor, Error, feed, notifications},
    models::{ClientFrame, ServerFrame},
};
use axum::{
    Router,
    extract::{
        State,
        ws::{
            CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade,
            rejection::WebSocketUpgradeRejection,
        },
    },
    http::HeaderMap,
    response::Response,
    routing::get,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use futures_util::{FutureExt as _, SinkExt as _};
use serde::Deserialize;
use tokio::{sync::broadcast::error::RecvError, time::Instant};

use super::FeedMessage;
use crate::{
    extract::{AuthUser, Query, access_token},
    state::AppState,
};

/// How long one frame may take to go out before the socket is given up as too slow.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest client frame accepted.
const MAX_CLIENT_FRAME: usize = 16 * 1024;
/// Notifications read per query of a replay from the database.
const REPLAY_PAGE: i64 = 100;
/// Close code sent when the server gives up on a socket that fell behind (the client reconnects with `after_id`).
const CLOSE_RESYNC: u16 = 4000;
/// Close code sent when the user's access was revoked.
const CLOSE_REVOKED: u16 = 4001;
/// Close code sent when the access token the socket was opened with expires (the client renews it, reconnects).
const CLOSE_EXPIRED: u16 = 4002;
/// Close code sent to a user's oldest socket when they open more than [`super::relay::SOCKETS_PER_USER`].
const CLOSE_REPLACED: u16 = 4003;
/// Frames of a catch-up are written in chunks of about this many bytes instead of one write each (a live frame is
/// still written at once). Small, since a socket keeps the buffer's capacity once it was used.
const CATCH_UP_WRITE: usize = 4 * 1024;

/// `/ws/notifications`.
pub fn router() -> Router<AppState> {
    Router::new().route("/ws/notifications", get(open_feed))
}

/// `?after_id=`.
#[derive(Debug, Deserialize)]
struct Resume {
    after_id: Option<i64>,
}

/// Upgrades an authenticated request; a missing or bad token is refused with 401 before any upgrade. (A
/// cookie-authenticated upgrade from another origin was refused before, by `http::origin`.)
async fn open_feed(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    headers: HeaderMap,
    Query(resume): Query<Resume>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    let upgrade = upgrade.map_err(|e| Error::BadRequest {
        code: "upgrade_required",
        detail: e.body_text(),
    })?;
    // The token was verified just now, by `AuthUser`: only its expiry is read here.
    let expires_at = access_token(&headers)
        .and_then(token_expiry)
        .unwrap_or_default();
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(CATCH_UP_WRITE)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| async move {
            let user = actor.id;
            if let Err(e) = run(state, actor, expires_at, resume.after_id, socket).await {
                tracing::debug!(user.id = user, reason = %e, "Feed socket of user {user} closed");
            }
        }))
}

/// Why a socket ended.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("the client went away")]
    Gone,
    #[error("sending took too long")]
    Slow,
    #[error("the socket fell behind")]
    Lagged,
    #[error("no pong within two ping intervals")]
    Dead,
    #[error("access revoked")]
    Revoked,
    #[error("the access token expired")]
    Expired,
    #[error("the user opened too many sockets")]
    Replaced,
    #[error(transparent)]
    Domain(#[from] Error),
}

async fn send(socket: &mut WebSocket, message: Message) -> Result<(), End> {
    let mut sending = std::pin::pin!(socket.send(message));
    // Almost always the socket takes the frame at once; only a stalled one needs (and pays for) a timer.
    let sent = match (&mut sending).now_or_never() {
        Some(sent) => sent,
        None => tokio::time::timeout(SEND_TIMEOUT, sending)
            .await
            .map_err(|_| End::Slow)?,
    };
    sent.map_err(|_| End::Gone)
}

/// Sends a catch-up's frames in as few writes as [`CATCH_UP_WRITE`] allows, then flushes: thousands of sockets
/// reconnecting at once each get their missed frames in a write or two instead of one each.
async fn send_all(
    socket: &mut WebSocket,
    frames: impl IntoIterator<Item = Message>,
) -> Result<(), End> {
    for message in frames {
        tokio::time::timeout(SEND_TIMEOUT, socket.feed(message))
            .await
            .map_err(|_| End::Slow)?
            .map_err(|_| End::Gone)?;
    }
    tokio::time::timeout(SEND_TIMEOUT, socket.flush())
        .await
        .map_err(|_| End::Slow)?
        .map_err(|_| End::Gone)
}

async fn send_frame(socket: &mut WebSocket, frame: &ServerFrame) -> Result<(), End> {
    let text = serde_json::to_string(frame).map_err(|e| End::Domain(Error::Internal(e.into())))?;
    send(socket, Message::Text(text.into())).await
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = send(
        socket,
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })),
    )
    .await;
}

/// The expiry (seconds since the epoch) of a JWT that was verified already: its payload's `exp`.
fn token_expiry(token: &str) -> Option<i64> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice::<serde_json::Value>(&payload).ok()?["exp"].as_i64()
}

/// Serves one socket until it closes; at the latest when the token it was opened with expires (`expires_at`,
/// seconds since the epoch).
async fn run(
    state: AppState,
    actor: Actor,
    expires_at: i64,
    after_id: Option<i64>,
    mut socket: WebSocket,
) -> Result<(), End> {
    // Subscribe first, then fix the starting point at what the relay has delivered (a stable watermark, once it
    // has passed on what was committed before now): every event at or below it is replayed from the database,
    // every later one arrives through `live`, and the overlap is dropped by id.
    let admin = actor.is_admin();
    let mut member = state.feed.join(actor.id, admin);
    let socket_id = member.id;
    state.feed.settled().await;
    let start = member.start();
    let replaced = member.replacement();
    let left = expires_at.saturating_sub(chrono::Utc::now().timestamp());
    let expiry = tokio::time::sleep(Duration::from_secs(u64::try_from(left).unwrap_or(0)));
    tokio::pin!(expiry);
    // A catch-up within the relay's recent events comes from memory, unless one of them was read (their frames
    // say unread); otherwise from the database.
    let recent = after_id.and_then(|after| state.feed.recent(&actor, after, start));
    let known_last_id = recent.as_ref().and_then(|c| c.last_id);
    let gap = recent.as_ref().and_then(|c| c.gap);
    let read_after = match (after_id, &recent) {
        (Some(after), Some(catch_up)) if !catch_up.frames.is_empty() => Some(after),
        _ => None,
    };
    // Read together with every other socket opening meanwhile (see `Feed::opening`). The caller was authenticated
    // (perhaps from the cache) before this socket joined; a revocation broadcast in between would have been
    // missed, so the user is read again now.
    let opening = state
        .feed
        .opening(
            feed::OpeningQuery::new(&actor, read_after, start, known_last_id.is_none())
                .with_gap(gap),
        )
        .await?;
    if !opening.allowed {
        close(&mut socket, CLOSE_REVOKED, "access revoked").await;
        return Err(End::Revoked);
    }
    let recent = recent.filter(|_| !opening.read_between && opening.gap_empty);
    let last_id = known_last_id.or(opening.last_id).unwrap_or_default();
    send_frame(
        &mut socket,
        &ServerFrame::Hello {
            user_id: actor.id,
            role: actor.role,
            last_id,
        },
    )
    .await?;
    match (after_id, recent) {
        (Some(_), Some(catch_up)) => {
            metrics::counter!("feed_catch_ups_total", "from" => "memory").increment(1);
            send_all(&mut socket, catch_up.frames.into_iter().map(Message::Text)).await?;
        }
        (Some(after), None) => {
            metrics::counter!("feed_catch_ups_total", "from" => "database").increment(1);
            replay(&state, &actor, &mut socket, after, start).await?;
        }
        (None, _) => {}
    }
    // A client may resume above our start (it saw more elsewhere): never send what it already has.
    let mut sent_upto = start.max(after_id.unwrap_or(start));

    // A socket not heard from (not even a pong) for two ping intervals is half-open or dead.
    let ping_every = Duration::from_secs(state.config.feed_ping_secs.clamp(1, 3600));
    // The first ping comes at a random point of the interval: sockets opened together (every client reconnecting
    // after a restart) would otherwise ping together, one burst per interval for ever.
    let first_ping = ping_every.mul_f64(rand::random_range(0.5..=1.0));
    let mut ping = tokio::time::interval_at(Instant::now() + first_ping, ping_every);
    let mut last_heard = Instant::now();
    let mut budget = Budget::new(state.config.socket_message_limit);
    let mut frames_sent = Tally::new(metrics::counter!("feed_frames_sent_total"));
    let result = loop {
        tokio::select! {
            // Feed messages first: they are what the socket is for, and a fixed order spares the random draw.
            biased;
            message = member.recv() => match message {
                Ok(message) => match &*message {
                    FeedMessage::Event { id, client_id, worker_id, frame } if *id > sent_upto => {
                        sent_upto = *id;
                        if feed::audience_includes(&actor, *client_id, *worker_id) {
                            send(&mut socket, Message::Text(frame.clone())).await?;
                            frames_sent.count += 1;
                        }
                    }
                    FeedMessage::Event { .. } => {}
                    FeedMessage::Read { user_id, ids, origin }
                        if *user_id == actor.id && *origin != Some(socket_id) =>
                    {
                        send_frame(&mut socket, &ServerFrame::Read { ids: ids.clone() }).await?;
                    }
                    FeedMessage::Read { .. } => {}
                    FeedMessage::Revoke { user_id } if *user_id == actor.id => break Err(End::Revoked),
                    FeedMessage::Revoke { .. } => {}
                },
                Err(RecvError::Lagged(_)) => break Err(End::Lagged),
                Err(RecvError::Closed) => break Err(End::Gone),
            },
            () = &mut expiry => break Err(End::Expired),
            () = replaced.notified() => break Err(End::Replaced),
            incoming = socket.recv() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(_))) if !budget.take() => {
                        let frame = error_frame(
                            "throttled",
                            &format!("Too many frames; wait {} seconds.", budget.retry_after()),
                        );
                        send_frame(&mut socket, &frame).await?;
                    }
                    Some(Ok(Message::Text(text))) => {
                        if let Some(reply) = answer(&state, &actor, socket_id, &text).await {
                            send_frame(&mut socket, &reply).await?;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let frame = error_frame("unsupported", "Frames are JSON text.");
                        send_frame(&mut socket, &frame).await?;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Err(End::Gone),
                }
            }
            _ = ping.tick() => {
                frames_sent.report();
                if last_heard.elapsed() > 2 * ping_every {
                    break Err(End::Dead);
                }
                send(&mut socket, Message::Ping(Default::default())).await?;
            }
        }
    };
    match &result {
        Err(End::Lagged) => {
            let _ = send_frame(&mut socket, &ServerFrame::Resync).await;
            close(&mut socket, CLOSE_RESYNC, "resync").await;
        }
        Err(End::Revoked) => close(&mut socket, CLOSE_REVOKED, "access revoked").await,
        Err(End::Expired) => close(&mut socket, CLOSE_EXPIRED, "token expired").await,
        Err(End::Replaced) => close(&mut socket, CLOSE_REPLACED, "too many sockets").await,
        _ => {}
    }
    result
}

/// A count kept by one socket and added to a shared counter now and then (at each ping, and when dropped): one
/// shared atomic per frame on every socket of a broadcast was a measurable share of the fan-out.
struct Tally {
    counter: metrics::Counter,
    count: u64,
}

impl Tally {
    fn new(counter: metrics::Counter) -> Self {
        Self { counter, count: 0 }
    }

    fn report(&mut self) {
        self.counter.increment(std::mem::take(&mut self.count));
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.report();
    }
}

/// Sends the caller's notifications in `(after, upto]`, oldest first, with their read state.
async fn replay(
    state: &AppState,
    actor: &Actor,
    socket: &mut WebSocket,
    after: i64,
    upto: i64,
) -> Result<(), End> {
    let mut cursor = after;
    loop {
        let page = {
            let _turn = state.feed.database_turn().await;
            notifications::replay_page(&state.ctx.db, actor, cursor, upto, REPLAY_PAGE).await?
        };
        let Some(last) = page.last().map(|n| n.id) else {
            return Ok(());
        };
        let complete = i64::try_from(page.len()).unwrap_or(i64::MAX) < REPLAY_PAGE;
        let frames = page
            .into_iter()
            .map(|notification| {
                serde_json::to_string(&ServerFrame::Notification {
                    notification,
                    order: None,
                })
                .map(|text| Message::Text(text.into()))
                .map_err(|e| End::Domain(Error::Internal(e.into())))
            })
            .collect::<Result<Vec<_>, End>>()?;
        send_all(socket, frames).await?;
        // A short page is the last: nothing more lies at or below `upto`.
        if complete {
            return Ok(());
        }
        cursor = last;
    }
}

/// A socket's allowance of client frames: `limit` per fixed window of [`BUDGET_WINDOW`].
struct Budget {
    limit: u32,
    used: u32,
    window_start: Instant,
}

/// The window of a socket's frame allowance.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

impl Budget {
    fn new(limit: u32) -> Self {
        Self {
            limit,
            used: 0,
            window_start: Instant::now(),
        }
    }

    /// Counts one frame; `false` when the window's allowance is used up.
    fn take(&mut self) -> bool {
        if self.window_start.elapsed() >= BUDGET_WINDOW {
            self.window_start = Instant::now();
            self.used = 0;
        }
        self.used = self.used.saturating_add(1);
        self.used <= self.limit
    }

    /// Whole seconds until the window turns over (at least 1).
    fn retry_after(&self) -> u64 {
        BUDGET_WINDOW
            .saturating_sub(self.window_start.elapsed())
            .as_secs()
            .max(1)
    }
}

fn error_frame(code: &str, detail: &str) -> ServerFrame {
    ServerFrame::Error {
        code: code.to_owned(),
        detail: detail.to_owned(),
    }
}

/// The reply to one client frame, if any.
async fn answer(
    state: &AppState,
    actor: &Actor,
    socket_id: u64,
    text: &str,
) -> Option<ServerFrame> {
    let frame = match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => frame,
        Err(e) => {
            let known = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| {
                    v.get("type")
                        .and_then(|t| t.as_str())
                        .map(|t| matches!(t, "ping" | "mark_read"))
                });
            let code = if known == Some(false) {
                "unknown_type"
            } else {
                "malformed"
            };
            return Some(error_frame(code, &e.to_string()));
        }
    };
    match frame {
        ClientFrame::Ping {} => Some(ServerFrame::Pong),
        ClientFrame::MarkRead { ids } => {
            match notifications::mark_read(&state.ctx, actor, &ids, Some(socket_id)).await {
                Ok(_) => None,
                Err(e) if e.is_internal() || e.lost_database() => {
                    tracing::error!(error = %e, "Failed to mark notifications read");
                    Some(error_frame(
                        "server_error",
                        "Could not mark them read; try again.",
                    ))
                }
                Err(e) => Some(error_frame(e.code(), &e.to_string())),
            }
        }
    }
}

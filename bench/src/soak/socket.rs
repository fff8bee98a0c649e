//! A live socket as a browser keeps one: it reconnects with `after_id` until the run ends, and records every
//! notification id it receives, checking that they come in order and once.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use futures_util::StreamExt as _;
use serde_json::Value;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _};

use super::ctx::Ctx;

/// What one socket received over the run, across its reconnects.
pub struct Listener {
    /// Whose socket it was.
    pub user_id: i64,
    /// The user's role: `admin`, `worker` or `client`.
    pub role: &'static str,
    /// The `last_id` of the first hello: events above it must all arrive.
    pub start: i64,
    /// Every notification id received, in order.
    pub ids: Vec<i64>,
    /// How many times it reconnected.
    pub reconnects: u32,
}

/// Keeps a socket open on `instance` as `token`'s user until the run stops and the socket has been quiet for
/// 3 seconds; what it received.
pub async fn listen(
    ctx: Arc<Ctx>,
    instance: usize,
    token: String,
    user_id: i64,
    role: &'static str,
) -> anyhow::Result<Listener> {
    let mut listener = Listener {
        user_id,
        role,
        start: -1,
        ids: Vec::new(),
        reconnects: 0,
    };
    let mut quiet_since: Option<Instant> = None;
    loop {
        let last = listener.ids.last().copied().unwrap_or(listener.start);
        let query = if listener.start < 0 {
            String::new()
        } else {
            format!("?after_id={last}")
        };
        let url = format!(
            "{}/ws/notifications{query}",
            ctx.base(instance).replacen("http", "ws", 1)
        );
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(request).await else {
            if ctx.stop.load(Ordering::Relaxed)
                && quiet_since.is_some_and(|t| t.elapsed() > Duration::from_secs(30))
            {
                bail!("socket of user {user_id} could not reconnect after the run");
            }
            quiet_since.get_or_insert_with(Instant::now);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        loop {
            let timeout = if ctx.stop.load(Ordering::Relaxed) {
                Duration::from_secs(3)
            } else {
                Duration::from_secs(60)
            };
            match tokio::time::timeout(timeout, ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let frame: Value = serde_json::from_str(&text)?;
                    match frame["type"].as_str() {
                        Some("hello") if listener.start < 0 => {
                            listener.start = frame["last_id"].as_i64().unwrap_or(0)
                        }
                        Some("notification") => {
                            let id = frame["notification"]["id"].as_i64().context("an id")?;
                            ensure!(
                                id > listener.ids.last().copied().unwrap_or(listener.start),
                                "user {user_id}: id {id} out of order or repeated"
                            );
                            listener.ids.push(id);
                        }
                        _ => {}
                    }
                }
                Ok(Some(Ok(_))) => {}
                // Closed, failed (an instance or Redis restarting, a resync), or quiet after the run: reconnect or
                // end.
                Ok(Some(Err(_)) | None) => break,
                Err(_) if ctx.stop.load(Ordering::Relaxed) => return Ok(listener),
                Err(_) => break,
            }
        }
        listener.reconnects += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! Committed events as the domain hands them to the live feed: the stored row, its frame serialized once for every
//! socket, and the sink the domain tells after each commit.

use chrono::{DateTime, Utc};

use super::{Result, actor::parse_column, error::Error};
use crate::models::Notification;

/// A committed event as the live feed fans it out: its audience and its frame, serialized once for every socket.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    pub id: i64,
    pub client_id: i64,
    pub worker_id: Option<i64>,
    /// The JSON text of `{"type": "notification", "notification": {...}}` with `read: false`.
    pub frame: String,
}

impl FeedEvent {
    /// The event of a stored notification row, with its audience; its frame is serialized here, once.
    pub fn new(row: NotificationRow, client_id: i64, worker_id: Option<i64>) -> Result<Self> {
        let id = row.id;
        let notification = Notification::try_from(row)?;
        let frame =
            serde_json::to_string(&crate::models::ServerFrame::Notification { notification })
                .map_err(|e| Error::Internal(e.into()))?;
        Ok(Self {
            id,
            client_id,
            worker_id,
            frame,
        })
    }
}

/// A notification row with the viewer's read state.
pub struct NotificationRow {
    pub id: i64,
    pub kind: String,
    pub order_id: i64,
    pub actor_id: Option<i64>,
    pub data: serde_json::Value,
    pub read: bool,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<NotificationRow> for Notification {
    type Error = Error;

    fn try_from(r: NotificationRow) -> Result<Self> {
        let kind = parse_column(&r.kind)?;
        Ok(Self {
            id: r.id,
            message: crate::lang::notification(crate::i18n::Locale::en, kind, r.order_id, &r.data),
            kind,
            order_id: r.order_id,
            actor_id: r.actor_id,
            data: r.data,
            read: r.read,
            created_at: r.created_at,
        })
    }
}

/// Told after a transaction that recorded events has committed, so the live feed can pick them up at once.
pub trait EventSink: Send + Sync {
    /// Events were committed. `recorded` are the events the transaction recorded, in id order, when the caller has
    /// them at hand (the feed may then send them without reading them back); it is empty when it does not, and the
    /// feed reads what was committed from the database.
    fn committed(&self, recorded: Vec<FeedEvent>);

    /// A user's access changed (deactivated, new role, new password): their sockets close and their cached access
    /// is dropped, on every instance.
    fn access_changed(&self, user_id: i64) {
        let _ = user_id;
    }

    /// A user marked notifications read: every socket of theirs but `origin` (the socket that asked, if one did)
    /// gets a `read` frame, on every instance.
    fn read(&self, user_id: i64, ids: Vec<i64>, origin: Option<u64>) {
        let _ = (user_id, ids, origin);
    }

    /// A stable watermark the feed keeps current (every id at or below it is committed or gone for good), if it
    /// keeps one: a page starts its live feed there without taking the watermark's lock. `None`: ask the database.
    fn delivered(&self) -> Option<i64> {
        None
    }
}

/// For callers without a live feed (the CLI): events are still stored; nobody is told.
pub struct NoSink;

impl EventSink for NoSink {
    fn committed(&self, _recorded: Vec<FeedEvent>) {}
}

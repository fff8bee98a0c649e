//! Committed events as the domain hands them to the live feed: the stored row, its frame serialized once for every
//! socket, and the sink the domain tells after each commit.

use chrono::{DateTime, Utc};

use super::{Result, actor::parse_column, error::Error};
use crate::models::{Notification, Order};

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
        let frame = serde_json::to_string(&crate::models::ServerFrame::Notification {
            notification,
            order: None,
        })
        .map_err(|e| Error::Internal(e.into()))?;
        Ok(Self {
            id,
            client_id,
            worker_id,
            frame,
        })
    }

    /// The event's frame also carries `order`, as the change left it: an open list puts the row in place from the
    /// frame instead of reading it. (The frame's last field is `notification`; `order` is appended after it,
    /// where serializing the whole frame would put it.)
    #[must_use]
    pub fn with_order(mut self, order: &Order) -> Self {
        match serde_json::to_string(order) {
            Ok(order) if self.frame.ends_with('}') => {
                self.frame.pop();
                self.frame.reserve(order.len() + 10);
                self.frame.push_str(",\"order\":");
                self.frame.push_str(&order);
                self.frame.push('}');
            }
            // An order that cannot be written leaves the frame as it was: the page reads the row.
            _ => {}
        }
        self
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{OrderStatus, ServerFrame, UserSummary};

    #[test]
    fn a_frame_with_its_order_reads_as_the_whole_frame_would() {
        let at = DateTime::parse_from_rfc3339("2026-12-06T10:00:00.123Z")
            .unwrap()
            .to_utc();
        let row = NotificationRow {
            id: 7,
            kind: "order_created".into(),
            order_id: 3,
            actor_id: Some(2),
            data: serde_json::json!({"status": "pending", "note": "a } and a \" inside"}),
            read: false,
            created_at: at,
        };
        let order = Order {
            id: 3,
            client_id: 2,
            worker_id: None,
            service_id: 1,
            service_name: "Plumbing } \"quoted\"".into(),
            price: 150_000,
            status: OrderStatus::Pending,
            description: "Fix the tap".into(),
            client: UserSummary {
                id: 2,
                username: "client".into(),
                full_name: "Client One".into(),
            },
            worker: None,
            created_at: at,
            updated_at: at,
        };
        let event = FeedEvent::new(row, 2, None).unwrap();
        let plain: ServerFrame = serde_json::from_str(&event.frame).unwrap();
        let ServerFrame::Notification {
            notification,
            order: None,
        } = plain
        else {
            panic!("a frame without its order: {}", event.frame);
        };
        let framed = event.with_order(&order);
        let whole = serde_json::to_string(&ServerFrame::Notification {
            notification,
            order: Some(Box::new(order)),
        })
        .unwrap();
        assert_eq!(framed.frame, whole);
        assert_eq!(
            (framed.id, framed.client_id, framed.worker_id),
            (7, 2, None)
        );
    }
}

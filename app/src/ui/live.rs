//! The live feed in the browser: one WebSocket per page to `/ws/notifications` (authenticated by the session
//! cookie), reconnecting by itself with `after_id` so nothing is missed after sleep, network loss or a server
//! restart; its events feed the unread badge, the toasts and every page that shows orders.

use std::collections::HashSet;

use leptos::prelude::*;

use crate::{
    i18n::{Locale, td_string},
    lang,
    models::Notification,
    ui::locale,
};

/// The socket's state, shown in the nav.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "hydrate"),
    allow(dead_code, reason = "driven by the socket, in the browser")
)]
pub enum Conn {
    /// Not started (server render, signed out) or opening.
    Connecting,
    Online,
    /// Lost; a reconnect is scheduled.
    Offline,
}

impl Conn {
    /// The indicator's class.
    pub fn css(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Online => "online",
            Self::Offline => "offline",
        }
    }

    /// The indicator's label.
    pub fn label(self, locale: Locale) -> String {
        match self {
            Self::Connecting => td_string!(locale, live.connecting),
            Self::Online => td_string!(locale, live.online),
            Self::Offline => td_string!(locale, live.offline),
        }
        .to_owned()
    }
}

/// The live state every page shares.
#[derive(Clone, Copy)]
pub struct Live {
    pub state: RwSignal<Conn>,
    /// The unread count, once the feed started (the session's count before).
    pub unread: RwSignal<Option<i64>>,
    /// Events received since the page loaded, newest first (at most [`KEEP`]).
    pub events: RwSignal<Vec<Notification>>,
    /// Bumped by every event: pages showing orders read them again.
    pub version: RwSignal<u64>,
    /// Ids marked read in any tab since the page loaded.
    pub read: RwSignal<HashSet<i64>>,
    /// Counts every change to the unread count made by a frame, so a count fetched meanwhile is not applied
    /// over it.
    changes: RwSignal<u64>,
    toasts: RwSignal<Vec<Notification>>,
}

/// How many received events are kept.
#[cfg_attr(
    not(feature = "hydrate"),
    allow(dead_code, reason = "used by the socket, in the browser")
)]
const KEEP: usize = 50;
/// How many toasts show at once.
#[cfg_attr(
    not(feature = "hydrate"),
    allow(dead_code, reason = "used by the socket, in the browser")
)]
const TOASTS: usize = 4;

impl Live {
    pub fn new() -> Self {
        Self {
            state: RwSignal::new(Conn::Connecting),
            unread: RwSignal::new(None),
            events: RwSignal::new(Vec::new()),
            version: RwSignal::new(0),
            read: RwSignal::new(HashSet::new()),
            changes: RwSignal::new(0),
            toasts: RwSignal::new(Vec::new()),
        }
    }

    /// Starts the feed for a signed-in page (in the browser; nothing on the server).
    pub fn start(self, unread: i64, last_id: i64) {
        self.unread.set(Some(unread));
        #[cfg(feature = "hydrate")]
        socket::start(self, last_id);
        #[cfg(not(feature = "hydrate"))]
        let _ = last_id;
    }

    /// Whether notification `n` is read (as sent, or marked since in any tab).
    pub fn is_read(&self, n: &Notification) -> bool {
        n.read || self.read.with(|r| r.contains(&n.id))
    }

    /// Marks notifications read (all when `ids` is empty); every tab hears of it through its socket.
    pub fn mark_read(self, ids: Vec<i64>) {
        leptos::task::spawn_local(async move {
            if let Ok(changed) = crate::api::mark_read(ids).await {
                // The socket's `read` frame normally arrives first; this covers a socket that is down.
                self.apply_read(&changed);
            }
        });
    }

    /// Read state changed (here or in another tab).
    pub fn apply_read(&self, ids: &[i64]) {
        let mut fresh = 0;
        self.read.update(|read| {
            for id in ids {
                if read.insert(*id) {
                    fresh += 1;
                }
            }
        });
        if fresh > 0 {
            self.changes.update(|c| *c += 1);
            self.unread
                .update(|u| *u = Some((u.unwrap_or(0) - fresh).max(0)));
        }
    }

    /// Sets the unread count from the server, unless a frame changed it while the count was being fetched.
    #[cfg_attr(
        not(feature = "hydrate"),
        allow(dead_code, reason = "called by the socket, in the browser")
    )]
    async fn settle(self) {
        let before = self.changes.get_untracked();
        if let Ok(n) = crate::api::unread().await
            && self.changes.get_untracked() == before
        {
            self.unread.set(Some(n));
        }
    }

    /// A new (or replayed) event arrived.
    #[cfg_attr(
        not(feature = "hydrate"),
        allow(dead_code, reason = "called by the socket, in the browser")
    )]
    pub fn receive(&self, n: Notification) {
        if self.events.with(|e| e.iter().any(|x| x.id == n.id)) {
            return;
        }
        if !self.is_read(&n) {
            self.changes.update(|c| *c += 1);
            self.unread.update(|u| *u = Some(u.unwrap_or(0) + 1));
        }
        self.events.update(|e| {
            e.insert(0, n.clone());
            e.truncate(KEEP);
        });
        self.version.update(|v| *v += 1);
        self.toasts.update(|t| {
            t.insert(0, n.clone());
            t.truncate(TOASTS);
        });
        let toasts = self.toasts;
        set_timeout(
            move || toasts.update(|t| t.retain(|x| x.id != n.id)),
            std::time::Duration::from_secs(6),
        );
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

/// The toasts of new events, linking to their orders.
#[component]
pub fn Toasts() -> impl IntoView {
    let live = expect_context::<Live>();
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || live.toasts.get() key=|n| n.id let:n>
                <a class="toast" href=format!("/orders/{}", n.order_id)>
                    {lang::notification(locale(), n.kind, n.order_id, &n.data)}
                </a>
            </For>
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod socket {
    use std::{cell::Cell, rc::Rc, time::Duration};

    use leptos::prelude::*;
    use wasm_bindgen::{JsCast as _, prelude::Closure};
    use web_sys::{MessageEvent, WebSocket};

    use super::{Conn, Live};
    use crate::models::ServerFrame;

    /// What survives reconnects.
    struct Feed {
        live: Live,
        /// The newest id received: the next connection's `after_id`.
        after: Cell<i64>,
        /// Failed attempts in a row (for the back-off).
        failures: Cell<u32>,
        /// Whether a reconnect is already scheduled or a socket is open.
        busy: Cell<bool>,
    }

    pub fn start(live: Live, last_id: i64) {
        let feed = Rc::new(Feed {
            live,
            after: Cell::new(last_id),
            failures: Cell::new(0),
            busy: Cell::new(false),
        });
        open(feed);
    }

    fn open(feed: Rc<Feed>) {
        if feed.busy.replace(true) {
            return;
        }
        feed.live.state.set(Conn::Connecting);
        let location = window().location();
        let scheme = if location.protocol().ok().as_deref() == Some("https:") {
            "wss"
        } else {
            "ws"
        };
        let host = location.host().unwrap_or_default();
        let url = format!(
            "{scheme}://{host}/ws/notifications?after_id={}",
            feed.after.get()
        );
        let Ok(socket) = WebSocket::new(&url) else {
            lost(feed);
            return;
        };
        let on_message = {
            let feed = feed.clone();
            let socket = socket.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let Some(text) = event.data().as_string() else {
                    return;
                };
                let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) else {
                    return;
                };
                match frame {
                    ServerFrame::Hello { .. } => {
                        feed.failures.set(0);
                        feed.live.state.set(Conn::Online);
                        // Settle the badge once the replay is in.
                        let live = feed.live;
                        set_timeout(
                            move || {
                                leptos::task::spawn_local(live.settle());
                            },
                            Duration::from_millis(500),
                        );
                    }
                    ServerFrame::Notification { notification } => {
                        if notification.id > feed.after.get() {
                            feed.after.set(notification.id);
                        }
                        feed.live.receive(notification);
                    }
                    ServerFrame::Read { ids } => feed.live.apply_read(&ids),
                    ServerFrame::Resync => {
                        let _ = socket.close();
                    }
                    ServerFrame::Pong | ServerFrame::Error { .. } => {}
                }
            })
        };
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let on_close = Closure::<dyn FnMut()>::new(move || lost(feed.clone()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        on_close.forget();
    }

    /// The socket closed (or never opened): try again after a back-off of 1, 2, 4 then 5 seconds. Each attempt
    /// first makes an ordinary request, which renews an expired session cookie.
    fn lost(feed: Rc<Feed>) {
        feed.live.state.set(Conn::Offline);
        let failures = feed.failures.get();
        feed.failures.set(failures.saturating_add(1));
        let delay = Duration::from_millis((1000u64 << failures.min(3)).min(5000));
        set_timeout(
            move || {
                leptos::task::spawn_local(async move {
                    let _ = crate::api::unread().await;
                    feed.busy.set(false);
                    open(feed);
                });
            },
            delay,
        );
    }
}

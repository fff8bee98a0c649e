//! The page's one island: the top bar with its live parts. In the browser it opens one WebSocket per page to
//! `/ws/notifications` (authenticated by the session cookie), reconnecting by itself with `after_id` so nothing
//! is missed after sleep, network loss or a server restart.
//!
//! The socket feeds the island's signals: the connection state, the unread count, the toasts, and the [`Feed`]
//! of events and read marks. The unread badge, the indicator and the toasts are views of those signals; the page's
//! live parts follow the feed through effects ([`parts`]): the pages stay plain server-rendered HTML whose live
//! parts carry what the island needs in data attributes (the order's id, the list's page and filters, the
//! dashboard's figures), and the island applies each frame to them — a new row, a status, a count — rendering new
//! rows with the same components the server renders them with. Where a frame does not carry enough (a new order
//! in a list, a payment, a message from someone the page does not name yet), the island reads just that one row
//! through a server function. So an event costs the server one frame per socket, never a page render per tab,
//! and of the pages' code only those row components are in the WASM.

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_i18n::Locale as _;
use serde::{Deserialize, Serialize};

use self::parts::{Change, Feed};
use crate::{
    api::{Logout as SignOut, UpdateLanguage as SetLanguage},
    i18n::{Locale, td_string},
    lang,
    models::{Notification, Order, Role},
    ui::locale,
};

/// The signed-in user, as the top bar needs them (the island's props, sent in the page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Who {
    pub id: i64,
    pub name: String,
    pub username: String,
    pub role: Role,
    /// Unread notifications when the page was rendered.
    pub unread: i64,
    /// The newest id of their feed when the page was rendered: where the live feed starts.
    pub last_id: i64,
}

/// The socket's state, shown in the nav.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "hydrate"),
    expect(
        dead_code,
        reason = "driven by the socket, which runs only in the browser (`hydrate`)"
    )
)]
pub enum Conn {
    /// Not started (server render) or opening.
    Connecting,
    Online,
    /// Lost; a reconnect is scheduled.
    Offline,
}

impl Conn {
    /// The indicator's class.
    fn css(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Online => "online",
            Self::Offline => "offline",
        }
    }

    /// The indicator's label.
    fn label(self, locale: Locale) -> String {
        match self {
            Self::Connecting => td_string!(locale, live.connecting),
            Self::Online => td_string!(locale, live.online),
            Self::Offline => td_string!(locale, live.offline),
        }
        .to_owned()
    }
}

/// The live state of the page.
#[derive(Clone, Copy)]
struct Live {
    state: RwSignal<Conn>,
    unread: RwSignal<i64>,
    /// Counts every change to the unread count made by a frame, so a count fetched meanwhile is not applied
    /// over it.
    changes: StoredValue<u64>,
    toasts: RwSignal<Vec<Notification>>,
    /// The events and read marks for the page's live parts.
    feed: RwSignal<Feed>,
}

mod parts;

/// How many toasts show at once.
const TOASTS: usize = 4;

#[cfg_attr(
    not(feature = "hydrate"),
    expect(
        dead_code,
        reason = "driven by the socket, which runs only in the browser (`hydrate`)"
    )
)]
impl Live {
    fn new(unread: i64) -> Self {
        Self {
            state: RwSignal::new(Conn::Connecting),
            unread: RwSignal::new(unread),
            changes: StoredValue::new(0),
            toasts: RwSignal::new(Vec::new()),
            feed: RwSignal::new(Feed::default()),
        }
    }

    /// Notifications were marked read (in this tab or another): the server names only those that were unread.
    fn apply_read(&self, ids: &[i64]) {
        let read = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        if read > 0 {
            self.changes.update_value(|c| *c += 1);
            self.unread.update(|u| *u = u.saturating_sub(read).max(0));
            self.feed.update(|f| f.push(Change::Read(ids.to_vec())));
        }
    }

    /// Sets the unread count from the server, unless a frame changed it while the count was being fetched.
    async fn settle(self) {
        let before = self.changes.get_value();
        if let Ok(n) = crate::api::get_unread_count().await
            && self.changes.get_value() == before
        {
            self.unread.set(n);
        }
    }

    /// A new (or replayed) event arrived, with the order it left as its frame carried it: count it and show it.
    fn receive(&self, n: Notification, order: Option<Box<Order>>) {
        if !n.read {
            self.changes.update_value(|c| *c += 1);
            self.unread.update(|u| *u += 1);
        }
        let id = n.id;
        self.feed.update(|f| {
            if let Some(order) = order {
                f.push(Change::Order(order));
            }
            f.push(Change::Event(n.clone()));
        });
        self.toasts.update(|t| {
            t.insert(0, n);
            t.truncate(TOASTS);
        });
        let toasts = self.toasts;
        set_timeout(
            move || toasts.update(|t| t.retain(|x| x.id != id)),
            std::time::Duration::from_secs(6),
        );
    }
}

/// The top bar: the pages of the signed-in role, the unread badge, the connection indicator, the language
/// switcher and the session; and the toasts of new events. Rendered by the server like every page, then
/// hydrated in the browser, where it runs the live feed of a signed-in page.
#[island]
pub fn TopBar(who: Option<Who>, here: String) -> impl IntoView {
    let live = Live::new(who.as_ref().map_or(0, |w| w.unread));
    #[cfg(feature = "hydrate")]
    if let Some(w) = &who {
        parts::follow(live.feed, live.unread, w.id, w.role);
        socket::start(live, w.last_id);
    }
    let role = who.as_ref().map(|w| w.role);
    let link = |href: &'static str, text: &'static str| {
        // As the router's links mark it: the page itself and the pages under it.
        let current = (here == href
            || here
                .strip_prefix(href)
                .is_some_and(|rest| rest.starts_with('/')))
        .then_some("page");
        view! { <li><a href=href aria-current=current>{text}</a></li> }
    };
    let links = view! {
        {role.is_some().then(|| link("/orders", tr!(nav.orders)))}
        {(role == Some(Role::Client)).then(|| link("/services", tr!(nav.services)))}
        {(role == Some(Role::Admin)).then(|| view! {
            {link("/admin", tr!(nav.dashboard))}
            {link("/admin/users", tr!(nav.users))}
            {link("/admin/services", tr!(nav.services))}
            {link("/admin/transactions", tr!(nav.transactions))}
            {link("/admin/deliveries", tr!(nav.deliveries))}
        })}
        {role.is_some().then(|| view! {
            <li>
                <a href="/notifications" class="bell" aria-current=(here == "/notifications").then_some("page")>
                    {tr!(nav.notifications)}
                    <span
                        id="unread-badge"
                        class="badge"
                        class:hidden=move || live.unread.get() == 0
                        aria-live="polite"
                        aria-label=tr!(nav.unread)
                    >
                        {move || live.unread.get()}
                    </span>
                </a>
            </li>
            {link("/settings", tr!(nav.settings))}
        })}
    };
    let account = match who {
        Some(w) => view! {
            <span class="who" title=w.username>
                <span id="conn" class=move || format!("conn {}", live.state.get().css())
                    title=move || live.state.get().label(locale())
                    aria-label=move || live.state.get().label(locale())></span>
                {w.name} " · " {lang::role(locale(), w.role)}
            </span>
            <form method="post" action=SignOut::url() class="inline">
                <button type="submit" class="link" id="sign-out">{tr!(nav.sign_out)}</button>
            </form>
        }
        .into_any(),
        None => view! {
            <a href="/signin">{tr!(nav.sign_in)}</a>
            <a href="/signup" class="button">{tr!(nav.sign_up)}</a>
        }
        .into_any(),
    };
    view! {
        <header class="top">
            <nav aria-label=tr!(nav.main)>
                <a href="/" class="brand">"Task"</a>
                <ul class="links">{links}</ul>
                <div class="account">
                    <LanguageSwitch />
                    {account}
                </div>
            </nav>
        </header>
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || live.toasts.get() key=|n| n.id let:n>
                <a class="toast" href=format!("/orders/{}", n.order_id)>
                    {lang::notification(locale(), n.kind, n.order_id, &n.data)}
                </a>
            </For>
        </div>
    }
}

/// Switches the language: a plain form (submitted on change by the shell's script, or by its button without
/// JavaScript) to the server, which remembers the choice in the cookie and on the account, and sends the reader
/// back to the page, rendered in the new language.
#[component]
fn LanguageSwitch() -> impl IntoView {
    let current = locale();
    view! {
        <form method="post" action=SetLanguage::url() class="lang">
            <label>
                <span class="sr-only">{tr!(nav.language)}</span>
                <select id="language" name="language" data-submit-on-change="">
                    {Locale::get_all()
                        .iter()
                        .map(|&l| {
                            view! {
                                <option value=lang::tag(l) selected=l == current>
                                    {lang::native_name(l)}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <button type="submit" class="lang-apply">{tr!(nav.language)}</button>
        </form>
    }
}

#[cfg(feature = "hydrate")]
mod socket {
    use std::{cell::Cell, rc::Rc, time::Duration};

    use leptos::prelude::*;
    use wasm_bindgen::{JsCast as _, prelude::Closure};
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    use super::{Conn, Live};
    use crate::models::ServerFrame;

    /// The close code of a socket that gave way to the user's newer ones (too many open at once).
    const CLOSE_REPLACED: u16 = 4003;

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
                        // What happened meanwhile is replayed after `after_id`; read marks made meanwhile are
                        // not: settle the badge once the replay is in.
                        let live = feed.live;
                        set_timeout(
                            move || leptos::task::spawn_local(live.settle()),
                            Duration::from_millis(500),
                        );
                    }
                    // Events come in id order, and a replay after a reconnect starts after the newest
                    // received: an id not above it was seen already.
                    ServerFrame::Notification {
                        notification,
                        order,
                    } => {
                        if notification.id > feed.after.get() {
                            feed.after.set(notification.id);
                            feed.live.receive(notification, order);
                        }
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
        // Every close reconnects after `after_id` — a resync (4000), an expired token (4002: the request `lost`
        // makes first renews the session cookie), a restart — except one that gave way to the user's newer
        // sockets, which waits until its tab is looked at again (or tabs would keep closing each other).
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            if event.code() == CLOSE_REPLACED {
                replaced(feed.clone());
            } else {
                lost(feed.clone());
            }
        });
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        on_close.forget();
    }

    /// The socket gave way to newer ones: reconnect now if this tab is shown, else once it is shown again.
    fn replaced(feed: Rc<Feed>) {
        feed.live.state.set(Conn::Offline);
        if !document().hidden() {
            lost(feed);
            return;
        }
        let waiting = Cell::new(Some(feed));
        let shown = Closure::<dyn FnMut()>::new(move || {
            if !document().hidden()
                && let Some(feed) = waiting.take()
            {
                lost(feed);
            }
        });
        let _ = document()
            .add_event_listener_with_callback("visibilitychange", shown.as_ref().unchecked_ref());
        shown.forget();
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
                    let _ = crate::api::get_unread_count().await;
                    feed.busy.set(false);
                    open(feed);
                });
            },
            delay,
        );
    }
}

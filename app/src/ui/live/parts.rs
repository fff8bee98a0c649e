//! The page's live parts, following the socket's frames in the browser.
//!
//! The socket pushes every event and read mark into the [`Feed`] signal. Each live part found on the page gets
//! an effect over that signal which applies the changes it has not seen yet (an effect may run once for several
//! changes), straight to the server-rendered HTML. What each part takes from the frames, and the one small read
//! (a server function answering one row as JSON) it makes only where a frame cannot tell enough:
//!
//! - the notification page (`data-live="feed"`, carrying its page and filters): a new event on top of page 1
//!   when it passes the filters; read marks (an unread-only list drops the item); "mark all read" (`#read-all`)
//!   follows the unread count. No read.
//! - the order page (`#order-status`, carrying the order's id): the status, the buttons of the moves the reader
//!   may make now (the status machine is compiled in), the timeline, the conversation. Reads: the order, for a
//!   new worker's name; a message, when its sender is named nowhere on the page (an admin); a payment's
//!   transaction.
//! - the order lists (`data-live="orders"`, carrying page and status filter): status cells; rows leaving the
//!   filter. Reads: the row of an order arriving (placed, newly assigned, entering the filter) or changing
//!   worker.
//! - the dashboard (`data-live="figures"`, carrying the figures as JSON; `#recent`): orders by status, orders and
//!   revenue per day and in all, redrawn with the server's own components; recent events. Read: the day a
//!   refunded payment was confirmed.
//! - the transactions (`data-live="transactions"`, carrying page and filters). Read: a payment's transaction.
//!
//! New rows are rendered with the same components the server renders them with. A list's pager keeps the
//! figures it was rendered with until the page is loaded again, and read marks made while the socket was away
//! show on the next load (the badge is settled from the server's count).

use std::collections::VecDeque;

use crate::models::{Notification, Order};

/// One thing the socket reported.
#[derive(Debug, Clone)]
#[cfg_attr(
    not(feature = "hydrate"),
    expect(
        dead_code,
        reason = "read by the live parts, which run only in the browser (`hydrate`)"
    )
)]
pub enum Change {
    /// The order an event placed, assigned or moved, as the change left it (a live event's frame carries it):
    /// pushed just before that event.
    Order(Box<Order>),
    /// A new event (or one replayed after a reconnect).
    Event(Notification),
    /// Notifications of the user that were unread were marked read (in another tab or device).
    Read(Vec<i64>),
}

/// The socket's news for the page's live parts: the latest changes, numbered in arrival order, so that each part
/// applies each change once, however many arrived before its effect ran.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    /// The number of the latest change (0: none yet).
    last: u64,
    changes: VecDeque<(u64, Change)>,
}

/// How many changes the feed keeps for parts that have not applied them yet (effects run soon after each
/// change, so a handful would do).
const KEPT: usize = 64;

impl Feed {
    /// Adds a change.
    pub fn push(&mut self, change: Change) {
        self.last += 1;
        self.changes.push_back((self.last, change));
        if self.changes.len() > KEPT {
            self.changes.pop_front();
        }
    }

    /// The changes after number `seen`, oldest first.
    #[cfg(feature = "hydrate")]
    fn after(&self, seen: u64) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(move |(n, _)| *n > seen)
            .map(|(_, c)| c)
    }
}

#[cfg(feature = "hydrate")]
pub use self::browser::follow;

#[cfg(feature = "hydrate")]
mod browser {
    use std::str::FromStr;

    use leptos::prelude::*;
    use web_sys::{Element, Node};

    use super::{Change, Feed};
    use crate::{
        api::{self, PAGE_SIZE},
        lang,
        models::{
            Dashboard, DayFigures, Message, NotificationKind, Order, OrderStatus, PaymentProvider,
            Role, Transaction, TransactionStatus, UserSummary, status::Party,
        },
        ui::{
            admin::{Figures, RECENT, RecentItem, TransactionRow, TransactionsTable},
            notifications::NotificationItem,
            orders::{
                MessageItem, Moves, OrderPayment, OrderPayments, OrderRow, OrdersTable,
                TimelineItem,
            },
            widgets::Status,
        },
    };

    /// A live part of the page: applies each change once.
    trait Part: 'static {
        fn apply(&mut self, change: &Change);
    }

    /// Finds the page's live parts and has each follow the feed. `me` and `role` are the signed-in user's.
    pub fn follow(feed: RwSignal<Feed>, unread: RwSignal<i64>, me: i64, role: Role) {
        let doc = document();
        let found = |selector: &str| doc.query_selector(selector).ok().flatten();
        if let Some(root) = found("[data-live=feed]") {
            track(feed, NotificationList::new(root));
        }
        if let Some(button) = doc.get_element_by_id("read-all") {
            Effect::new(move |_| {
                let _ = button.toggle_attribute_with_force("disabled", unread.get() == 0);
            });
        }
        if let Some(status) = doc.get_element_by_id("order-status")
            && let Some(id) = attr(&status, "data-order")
        {
            track(
                feed,
                OrderPage {
                    id,
                    me,
                    role,
                    framed: None,
                },
            );
        }
        if let Some(root) = found("[data-live=orders]") {
            track(feed, OrderList::new(root, role));
        }
        if let Some(root) = found("[data-live=figures]")
            && let Some(figures) = root
                .get_attribute("data-figures")
                .and_then(|json| serde_json::from_str::<Dashboard>(&json).ok())
        {
            let figures = RwSignal::new(figures);
            // The drawing follows the figures (its first run is the server's drawing already).
            Effect::new(move |drawn: Option<()>| {
                let d = figures.get();
                if drawn.is_some() {
                    replace_children(&root, view! { <Figures d /> });
                }
            });
            track(
                feed,
                DashboardPart {
                    figures,
                    recent: doc.get_element_by_id("recent"),
                },
            );
        }
        if let Some(root) = found("[data-live=transactions]") {
            track(feed, TransactionList::new(root));
        }
    }

    /// Has `part` apply every change of the feed once, in order.
    fn track(feed: RwSignal<Feed>, mut part: impl Part) {
        Effect::new(move |seen: Option<u64>| {
            feed.with(|f| {
                for change in f.after(seen.unwrap_or(0)) {
                    part.apply(change);
                }
                f.last
            })
        });
    }

    // ---- the DOM ------------------------------------------------------------------------------------------

    /// Renders `view` in the browser and inserts it into `parent` before `before` (at the end without).
    fn insert(parent: &Element, before: Option<&Node>, view: impl IntoView) {
        view.into_view().build().mount(parent, before);
    }

    /// Puts `view` in place of `old`.
    fn replace(old: &Element, view: impl IntoView) {
        if let Some(parent) = old.parent_element() {
            insert(&parent, Some(old.as_ref()), view);
            old.remove();
        }
    }

    /// Puts `view` in place of everything `parent` holds.
    fn replace_children(parent: &Element, view: impl IntoView) {
        parent.set_text_content(None);
        insert(parent, None, view);
    }

    fn find(root: &Element, selector: &str) -> Option<Element> {
        root.query_selector(selector).ok().flatten()
    }

    fn by_id(id: &str) -> Option<Element> {
        document().get_element_by_id(id)
    }

    /// An attribute's value, parsed (absent or empty: `None`).
    fn attr<T: FromStr>(el: &Element, name: &str) -> Option<T> {
        el.get_attribute(name)
            .filter(|v| !v.is_empty())
            .and_then(|v| v.parse().ok())
    }

    /// The elements of `list` (its children) carrying `key`, with its value, in order.
    fn rows(list: &Element, key: &str) -> Vec<(i64, Element)> {
        let Ok(nodes) = list.query_selector_all(&format!(":scope > [{key}]")) else {
            return Vec::new();
        };
        (0..nodes.length())
            .filter_map(|i| {
                let el: Element = wasm_bindgen::JsCast::dyn_into(nodes.item(i)?).ok()?;
                Some((attr(&el, key)?, el))
            })
            .collect()
    }

    /// Puts the row `view` of item `id` into a list page shown newest (highest id) first: in place of the row
    /// of the same item, else where its id falls if the page holds it (page 1 takes the newest), keeping at most
    /// a page of rows.
    fn place_newest_first(list: &Element, key: &str, id: i64, page: i64, view: impl IntoView) {
        let rows = rows(list, key);
        if let Some((_, old)) = rows.iter().find(|(n, _)| *n == id) {
            replace(old, view);
            return;
        }
        let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= PAGE_SIZE;
        let above_page = page > 1 && rows.first().is_none_or(|(n, _)| id > *n);
        let below_page = full && rows.last().is_some_and(|(n, _)| id < *n);
        if above_page || below_page {
            return;
        }
        let before: Option<&Node> = rows
            .iter()
            .find(|(n, _)| *n < id)
            .map(|(_, el)| el.as_ref());
        insert(list, before, view);
        let page_size = usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
        for (_, extra) in self::rows(list, key).iter().skip(page_size) {
            extra.remove();
        }
    }

    /// Appends the item `view` of `id` to a list shown oldest first, in id order, unless it is there already.
    fn place_oldest_first(list: &Element, key: &str, id: i64, view: impl IntoView) {
        let rows = rows(list, key);
        if rows.iter().any(|(n, _)| *n == id) {
            return;
        }
        let before: Option<&Node> = rows
            .iter()
            .find(|(n, _)| *n > id)
            .map(|(_, el)| el.as_ref());
        insert(list, before, view);
    }

    fn data_i64(n: &crate::models::Notification, field: &str) -> Option<i64> {
        n.data.get(field).and_then(serde_json::Value::as_i64)
    }

    fn data_status(n: &crate::models::Notification, field: &str) -> Option<OrderStatus> {
        n.data.get(field)?.as_str()?.parse().ok()
    }

    // ---- the notification page ----------------------------------------------------------------------------

    /// `/notifications`: new events on top of page 1 when they pass the filters; read marks applied.
    struct NotificationList {
        root: Element,
        page: i64,
        kind: Option<NotificationKind>,
        order: Option<i64>,
        unread_only: bool,
    }

    impl NotificationList {
        fn new(root: Element) -> Self {
            Self {
                page: attr(&root, "data-page").unwrap_or(1),
                kind: attr(&root, "data-kind"),
                order: attr(&root, "data-order"),
                unread_only: root.has_attribute("data-unread"),
                root,
            }
        }
    }

    impl Part for NotificationList {
        fn apply(&mut self, change: &Change) {
            match change {
                Change::Event(n) => {
                    let shown = self.page == 1
                        && self.kind.is_none_or(|k| k == n.kind)
                        && self.order.is_none_or(|o| o == n.order_id);
                    if !shown {
                        return;
                    }
                    let list = find(&self.root, "#feed").or_else(|| {
                        // The first item of an empty page: the list takes the empty state's place.
                        if let Some(empty) = find(&self.root, ".empty") {
                            empty.remove();
                        }
                        insert(
                            &self.root,
                            self.root.first_child().as_ref(),
                            view! {
                                <ul class="feed" id="feed"></ul>
                            },
                        );
                        find(&self.root, "#feed")
                    });
                    if let Some(list) = list {
                        let n = n.clone();
                        place_newest_first(
                            &list,
                            "data-id",
                            n.id,
                            1,
                            view! { <NotificationItem n /> },
                        );
                    }
                }
                Change::Order(_) => {}
                Change::Read(ids) => {
                    for id in ids {
                        let Some(item) = find(&self.root, &format!("#feed > [data-id=\"{id}\"]"))
                        else {
                            continue;
                        };
                        if self.unread_only {
                            item.remove();
                        } else {
                            let _ = item.class_list().remove_1("unread");
                            if let Some(form) = find(&item, "form") {
                                form.remove();
                            }
                        }
                    }
                }
            }
        }
    }

    // ---- the order page -----------------------------------------------------------------------------------

    /// `/orders/{id}`: its status and the buttons that go with it, the worker, the timeline, the conversation
    /// and the payments.
    struct OrderPage {
        id: i64,
        me: i64,
        role: Role,
        /// The order as the last event's frame carried it, if it did.
        framed: Option<Box<Order>>,
    }

    impl OrderPage {
        fn status(&self, to: OrderStatus) {
            if let Some(badge) = by_id("order-status") {
                replace_children(&badge, view! { <Status status=to /> });
            }
            if !(self.role == Role::Client && to == OrderStatus::Pending)
                && let Some(pay) = by_id("pay-form")
            {
                pay.remove();
            }
            if let Some(actions) = by_id("order-actions") {
                if let Some(moves) = by_id("moves") {
                    moves.remove();
                }
                let (id, next) = (self.id, to.next_for(Party::of(self.role)));
                insert(&actions, None, view! { <Moves id next /> });
            }
            if to.is_terminal()
                && let Some(assign) = document().query_selector("form.assign").ok().flatten()
            {
                assign.remove();
            }
        }

        fn message(&self, n: &crate::models::Notification) {
            let (Some(id), Some(text), Some(sender)) = (
                data_i64(n, "message_id"),
                n.data.get("text").and_then(serde_json::Value::as_str),
                n.actor_id,
            ) else {
                return;
            };
            let me = self.me;
            // The sender is named on the page (the client, the worker, an earlier message), else read.
            let named = document()
                .query_selector(&format!("[data-person=\"{sender}\"]"))
                .ok()
                .flatten()
                .and_then(|el| el.text_content())
                .map(|name| name.trim().to_owned());
            match named {
                Some(full_name) => show_message(
                    Message {
                        id,
                        order_id: n.order_id,
                        sender: UserSummary {
                            id: sender,
                            username: String::new(),
                            full_name,
                        },
                        text: text.to_owned(),
                        created_at: n.created_at,
                    },
                    me,
                ),
                None => {
                    let order_id = n.order_id;
                    leptos::task::spawn_local(async move {
                        if let Ok(m) = api::get_order_message(order_id, id).await {
                            show_message(m, me);
                        }
                    });
                }
            }
        }
    }

    fn show_message(m: Message, me: i64) {
        let Some(list) = by_id("messages") else {
            return;
        };
        if let Some(empty) = find(&list, ".empty") {
            empty.remove();
        }
        let (id, mine) = (m.id, m.sender.id == me);
        place_oldest_first(&list, "data-id", id, view! { <MessageItem m mine /> });
    }

    impl Part for OrderPage {
        fn apply(&mut self, change: &Change) {
            let n = match change {
                Change::Order(o) if o.id == self.id => {
                    self.framed = Some(o.clone());
                    return;
                }
                Change::Event(n) if n.order_id == self.id => n,
                _ => return,
            };
            let framed = self.framed.take();
            if let Some(timeline) = by_id("timeline") {
                let n = n.clone();
                place_oldest_first(&timeline, "data-id", n.id, view! { <TimelineItem n /> });
            }
            match n.kind {
                NotificationKind::OrderStatusChanged => {
                    if let Some(to) = data_status(n, "to") {
                        self.status(to);
                    }
                }
                NotificationKind::OrderMessage => self.message(n),
                NotificationKind::OrderAssigned => {
                    let id = self.id;
                    leptos::task::spawn_local(async move {
                        let order = match framed {
                            Some(order) => *order,
                            None => match api::get_order_row(id).await {
                                Ok(order) => order,
                                Err(_) => return,
                            },
                        };
                        if let Some(worker) = by_id("order-worker") {
                            let name =
                                order.worker.as_ref().map_or("—", |w| w.full_name.as_str());
                            worker.set_text_content(Some(name));
                            if let Some(w) = &order.worker {
                                let _ = worker.set_attribute("data-person", &w.id.to_string());
                            }
                        }
                    });
                }
                NotificationKind::PaymentConfirmed | NotificationKind::PaymentCanceled => {
                    if self.role == Role::Worker {
                        return;
                    }
                    let Some(txn) = data_i64(n, "transaction_id") else {
                        return;
                    };
                    leptos::task::spawn_local(async move {
                        let Ok(tx) = api::get_transaction(txn).await else {
                            return;
                        };
                        match by_id("order-payments") {
                            Some(list) => place_newest_first(
                                &list,
                                "data-txn",
                                tx.id,
                                1,
                                view! {
                                    <OrderPayment tx />
                                },
                            ),
                            None => {
                                if let Some(slot) = by_id("order-transactions") {
                                    let transactions = vec![tx];
                                    replace_children(
                                        &slot,
                                        view! { <OrderPayments transactions /> },
                                    );
                                }
                            }
                        }
                    });
                }
                NotificationKind::OrderCreated => {}
            }
        }
    }

    // ---- order lists --------------------------------------------------------------------------------------

    /// `/orders` (and `/` signed in): status cells from the frames; an order arriving (new, newly assigned,
    /// entering the status filter) or changing worker is put in place from the order its frame carries, or read
    /// as one row when the frame carries none (a replay after a reconnect).
    struct OrderList {
        root: Element,
        page: i64,
        status: Option<OrderStatus>,
        role: Role,
        /// The order the last frame carried: its event needs no read.
        framed: Option<i64>,
    }

    impl OrderList {
        fn new(root: Element, role: Role) -> Self {
            Self {
                page: attr(&root, "data-page").unwrap_or(1),
                status: attr(&root, "data-status"),
                root,
                role,
                framed: None,
            }
        }

        fn row(&self, id: i64) -> Option<Element> {
            find(&self.root, &format!("tr[data-order=\"{id}\"]"))
        }

        /// Reads the order's row and puts it in its place.
        fn read(&self, id: i64) {
            let (root, page, status, role) = (self.root.clone(), self.page, self.status, self.role);
            leptos::task::spawn_local(async move {
                if let Ok(o) = api::get_order_row(id).await {
                    place_order(&root, page, status, role, o);
                }
            });
        }
    }

    /// Puts order `o` in its place in the list `root` (page `page`, filtered by `status`): replaces its row if
    /// shown, removes it if it left the filter, adds it if new here.
    fn place_order(root: &Element, page: i64, status: Option<OrderStatus>, role: Role, o: Order) {
        let shown = find(root, &format!("tr[data-order=\"{}\"]", o.id));
        if status.is_some_and(|s| s != o.status) {
            if let Some(row) = shown {
                row.remove();
            }
            return;
        }
        if let Some(row) = shown {
            replace(&row, view! { <OrderRow o role /> });
            return;
        }
        match find(root, "tbody") {
            Some(body) => place_newest_first(
                &body,
                "data-order",
                o.id,
                page,
                view! {
                    <OrderRow o role />
                },
            ),
            None if page == 1 => {
                let orders: Vec<Order> = vec![o];
                replace_children(root, view! { <OrdersTable orders role /> });
            }
            None => {}
        }
    }

    impl Part for OrderList {
        fn apply(&mut self, change: &Change) {
            let n = match change {
                Change::Order(o) => {
                    self.framed = Some(o.id);
                    place_order(&self.root, self.page, self.status, self.role, (**o).clone());
                    return;
                }
                Change::Event(n) => n,
                Change::Read(_) => return,
            };
            let id = n.order_id;
            // Its frame carried the order, which is in place already.
            if self.framed.take() == Some(id) {
                return;
            }
            match n.kind {
                NotificationKind::OrderCreated
                    if self.row(id).is_none()
                        && self.status.is_none_or(|s| s == OrderStatus::Pending) =>
                {
                    self.read(id);
                }
                NotificationKind::OrderStatusChanged => {
                    let Some(to) = data_status(n, "to") else {
                        return;
                    };
                    match self.row(id) {
                        Some(row) if self.status.is_some_and(|s| s != to) => row.remove(),
                        Some(row) => {
                            if let Some(cell) = find(&row, "[data-cell=status]") {
                                replace_children(&cell, view! { <Status status=to /> });
                            }
                        }
                        None if self.status == Some(to) => self.read(id),
                        None => {}
                    }
                }
                NotificationKind::OrderAssigned => self.read(id),
                _ => {}
            }
        }
    }

    // ---- the dashboard ------------------------------------------------------------------------------------

    /// `/admin`: the figures counted on from the frames; recent events on top.
    struct DashboardPart {
        figures: RwSignal<Dashboard>,
        recent: Option<Element>,
    }

    /// Adds `by` to the orders in `status`.
    fn count(d: &mut Dashboard, status: OrderStatus, by: i64) {
        if let Some(s) = d.by_status.iter_mut().find(|s| s.status == status) {
            s.count += by;
        }
    }

    /// The figures of the Tashkent day of `at`, if the series shows it; a new day starts a new column, the
    /// oldest leaving.
    fn day(d: &mut Dashboard, at: chrono::DateTime<chrono::Utc>) -> Option<&mut DayFigures> {
        let day = lang::tashkent_day(at);
        while let Some(last) = d.days.last().map(|x| x.day)
            && last < day
            && let Some(next) = last.succ_opt()
        {
            d.days.push(DayFigures {
                day: next,
                orders: 0,
                revenue: 0,
            });
            d.days.remove(0);
        }
        d.days.iter_mut().find(|x| x.day == day)
    }

    impl Part for DashboardPart {
        fn apply(&mut self, change: &Change) {
            let Change::Event(n) = change else {
                return;
            };
            // The figures already count the events up to `as_of` (a reconnect replays some of them).
            if n.id <= self.figures.with_untracked(|d| d.as_of) {
                return;
            }
            self.figures.update(|d| d.as_of = n.id);
            if let Some(recent) = &self.recent
                && !rows(recent, "data-id").iter().any(|(id, _)| *id == n.id)
            {
                let n = n.clone();
                insert(
                    recent,
                    recent.first_child().as_ref(),
                    view! { <RecentItem n /> },
                );
                for (_, old) in rows(recent, "data-id").iter().skip(RECENT) {
                    old.remove();
                }
            }
            let amount = data_i64(n, "amount").unwrap_or(0);
            match n.kind {
                NotificationKind::OrderCreated => self.figures.update(|d| {
                    count(d, OrderStatus::Pending, 1);
                    if let Some(x) = day(d, n.created_at) {
                        x.orders += 1;
                    }
                }),
                NotificationKind::OrderStatusChanged => {
                    if let (Some(from), Some(to)) = (data_status(n, "from"), data_status(n, "to")) {
                        self.figures.update(|d| {
                            count(d, from, -1);
                            count(d, to, 1);
                        });
                    }
                }
                // Revenue is what confirmed payments bring, on the day they were confirmed (the event's).
                NotificationKind::PaymentConfirmed => self.figures.update(|d| {
                    d.revenue += amount;
                    if let Some(x) = day(d, n.created_at) {
                        x.revenue += amount;
                    }
                }),
                // A refund takes a confirmed payment back, from the day it was confirmed: read that day.
                NotificationKind::PaymentCanceled
                    if n.data.get("refund").and_then(serde_json::Value::as_bool) == Some(true) =>
                {
                    self.figures.update(|d| d.revenue -= amount);
                    let (figures, txn) = (self.figures, data_i64(n, "transaction_id"));
                    leptos::task::spawn_local(async move {
                        let Some(txn) = txn else {
                            return;
                        };
                        if let Ok(Transaction {
                            performed_at: Some(at),
                            ..
                        }) = api::get_transaction(txn).await
                        {
                            figures.update(|d| {
                                if let Some(x) = day(d, at) {
                                    x.revenue -= amount;
                                }
                            });
                        }
                    });
                }
                _ => {}
            }
        }
    }

    // ---- transactions -------------------------------------------------------------------------------------

    /// `/admin/transactions`: a payment's transaction read as one row and put in its place.
    struct TransactionList {
        root: Element,
        page: i64,
        provider: Option<PaymentProvider>,
        status: Option<TransactionStatus>,
    }

    impl TransactionList {
        fn new(root: Element) -> Self {
            Self {
                page: attr(&root, "data-page").unwrap_or(1),
                provider: attr(&root, "data-provider"),
                status: attr(&root, "data-status"),
                root,
            }
        }
    }

    impl Part for TransactionList {
        fn apply(&mut self, change: &Change) {
            let Change::Event(n) = change else {
                return;
            };
            if !matches!(
                n.kind,
                NotificationKind::PaymentConfirmed | NotificationKind::PaymentCanceled
            ) {
                return;
            }
            let Some(txn) = data_i64(n, "transaction_id") else {
                return;
            };
            let (root, page, provider, status) =
                (self.root.clone(), self.page, self.provider, self.status);
            leptos::task::spawn_local(async move {
                let Ok(tx) = api::get_transaction(txn).await else {
                    return;
                };
                let row = find(&root, &format!("tr[data-txn=\"{}\"]", tx.id));
                if provider.is_some_and(|p| p != tx.provider)
                    || status.is_some_and(|s| s != tx.status)
                {
                    if let Some(row) = row {
                        row.remove();
                    }
                    return;
                }
                match find(&root, "tbody") {
                    Some(body) => place_newest_first(
                        &body,
                        "data-txn",
                        tx.id,
                        page,
                        view! {
                            <TransactionRow tx />
                        },
                    ),
                    None if page == 1 => {
                        let items = vec![tx];
                        replace_children(&root, view! { <TransactionsTable items /> });
                    }
                    None => {}
                }
            });
        }
    }
}

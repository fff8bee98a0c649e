//! `/notifications` (also `/api/v1/notification-page/`): the caller's role-scoped feed, newest first, with
//! filters by kind, order and unread. New events and read marks made in any tab show live: the list's element
//! carries the page and its filters, and the top bar's island applies the socket's frames to it (see
//! `live/parts.rs`).

use leptos::{prelude::*, server_fn::ServerFn as _};

use crate::{
    api::{self, MarkAllNotificationsRead, MarkNotificationRead},
    lang,
    models::{Notification, NotificationKind},
    ui::{
        Guard, SessionCtx, locale,
        widgets::{Empty, FormError, Listed, When, page_param, query_param},
    },
};

#[component]
pub fn NotificationsPage() -> impl IntoView {
    view! { <Guard view=|_| view! { <Feed /> } /> }
}

#[component]
fn Feed() -> impl IntoView {
    let page = page_param();
    let kind = query_param("kind");
    let order = query_param("order_id");
    let unread_only = query_param("unread");
    let list = Resource::new(
        move || {
            (
                page.get(),
                kind.get(),
                order.get(),
                unread_only.get().is_some(),
            )
        },
        |(p, k, o, u)| {
            api::list_notifications(
                p,
                u,
                k.and_then(|k| k.parse::<NotificationKind>().ok()),
                o.and_then(|o| o.parse::<i64>().ok()),
            )
        },
    );
    let unread = expect_context::<SessionCtx>().get().map_or(0, |s| s.unread);
    let mark = ServerAction::<MarkAllNotificationsRead>::new();
    view! {
        <div class="heading">
            <h1>{tr!(notifications.title)}</h1>
            <ActionForm action=mark attr:class="inline">
                <button type="submit" id="read-all" class="secondary" disabled=unread == 0>
                    {tr!(notifications.read_all)}
                </button>
            </ActionForm>
        </div>
        <form class="filters" method="get">
            <label>
                {tr!(notifications.kind)}
                <select name="kind">
                    <option value="">{tr!(common.all)}</option>
                    {NotificationKind::ALL.iter().map(|&k| view! {
                        <option value=k.as_str() selected=move || kind.get().as_deref() == Some(k.as_str())>
                            {lang::kind(locale(), k)}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <label>
                {tr!(notifications.order)}
                <input
                    name="order_id"
                    type="number"
                    min="1"
                    inputmode="numeric"
                    value=move || order.get().unwrap_or_default()
                />
            </label>
            <label class="check">
                <input type="checkbox" name="unread" value="1" checked=move || unread_only.get().is_some() />
                {tr!(notifications.unread_only)}
            </label>
            <button type="submit" class="secondary">{tr!(common.filter)}</button>
        </form>
        <FormError error=Signal::derive(move || mark.value().get().and_then(Result::err)) />
        // New events and read marks (from any tab) arrive as the socket's frames (see `live/parts.rs`).
        <div
            data-live="feed"
            data-page=page.get_untracked()
            data-kind=kind.get_untracked()
            data-order=order.get_untracked()
            data-unread=unread_only.get_untracked().is_some().then_some("1")
        >
            <Listed
                list
                empty=|| view! { <Empty><p>{tr!(notifications.empty)}</p></Empty> }
                rows={|items: Vec<Notification>| view! {
                    <ul class="feed" id="feed">
                        {items.into_iter().map(|n| view! { <NotificationItem n /> }).collect_view()}
                    </ul>
                }}
            />
        </div>
    }
}

/// One notification of the page (rendered on the server, and in the browser for one arriving live).
#[component]
pub(crate) fn NotificationItem(n: Notification) -> impl IntoView {
    let unread = !n.read;
    view! {
        <li class="note" class:unread=unread data-id=n.id data-kind=n.kind.as_str()>
            <a href=format!("/orders/{}", n.order_id)>
                {lang::notification(locale(), n.kind, n.order_id, &n.data)}
            </a>
            <When at=n.created_at />
            {unread.then(|| view! {
                <form method="post" action=MarkNotificationRead::url() class="inline">
                    <input type="hidden" name="id" value=n.id />
                    <button type="submit" class="link mark-read">{tr!(notifications.mark_read)}</button>
                </form>
            })}
        </li>
    }
}

//! `/notifications` (also `/api/v1/notification-page/`): the caller's role-scoped feed, newest first, with the
//! events arriving live on top, filters by kind, order and unread, and read state synced across tabs.

use leptos::prelude::*;

use crate::{
    api, lang,
    models::{Notification, NotificationKind},
    ui::{
        Guard,
        live::Live,
        locale,
        widgets::{Empty, Listed, When, page_param, query_param},
    },
};

#[component]
pub fn NotificationsPage() -> impl IntoView {
    view! { <Guard view=|_| view! { <Feed /> } /> }
}

#[component]
fn Feed() -> impl IntoView {
    let live = expect_context::<Live>();
    let page = page_param();
    let kind = query_param("kind");
    let order = query_param("order_id");
    let unread_only = query_param("unread");
    let filters = move || {
        (
            kind.get().and_then(|k| k.parse::<NotificationKind>().ok()),
            order.get().and_then(|o| o.parse::<i64>().ok()),
            unread_only.get().is_some(),
        )
    };
    // The stored feed as of the page's load (and after filter changes); live events go on top of it.
    let stored = Resource::new(
        move || (page.get(), filters()),
        |(p, (k, o, u))| api::notifications(p, u, k, o),
    );
    let matches = move |n: &Notification| {
        let (k, o, _) = filters();
        k.is_none_or(|k| k == n.kind) && o.is_none_or(|o| o == n.order_id)
    };
    let fresh = move || {
        if page.get() != 1 {
            return Vec::new();
        }
        let shown_from = stored
            .get()
            .and_then(Result::ok)
            .and_then(|l| l.items.first().map(|n| n.id))
            .unwrap_or(0);
        live.events
            .get()
            .into_iter()
            .filter(|n| n.id > shown_from && matches(n))
            .collect::<Vec<_>>()
    };
    view! {
        <div class="heading">
            <h1>{tr!(notifications.title)}</h1>
            <button id="read-all" class="secondary" on:click=move |_| live.mark_read(Vec::new())
                disabled=move || live.unread.get() == Some(0)>
                {tr!(notifications.read_all)}
            </button>
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
                <input name="order_id" type="number" min="1" inputmode="numeric" value=move || order.get().unwrap_or_default() />
            </label>
            <label class="check">
                <input type="checkbox" name="unread" value="1" checked=move || unread_only.get().is_some() />
                {tr!(notifications.unread_only)}
            </label>
            <button type="submit" class="secondary">{tr!(common.filter)}</button>
        </form>
        <ul class="feed" id="feed">
            <For each=fresh key=|n| n.id let:n>
                <Item n live />
            </For>
        </ul>
        <Listed
            list=stored
            // Live events above count: "nothing yet" only when there are none either.
            empty={move || fresh().is_empty().then(|| view! { <Empty><p>{tr!(notifications.empty)}</p></Empty> })}
            rows={move |items: Vec<Notification>| view! {
                <ul class="feed">
                    {items.into_iter().map(|n| view! { <Item n live /> }).collect_view()}
                </ul>
            }}
        />
    }
}

#[component]
fn Item(n: Notification, live: Live) -> impl IntoView {
    let id = n.id;
    let unread = {
        let n = n.clone();
        move || !live.is_read(&n)
    };
    view! {
        <li class="note" class:unread=unread data-id=id data-kind=n.kind.as_str()>
            <a href=format!("/orders/{}", n.order_id)>
                {lang::notification(locale(), n.kind, n.order_id, &n.data)}
            </a>
            <When at=n.created_at />
            <Show when=unread.clone()>
                <button class="link mark-read" on:click=move |_| live.mark_read(vec![id])>
                    {tr!(notifications.mark_read)}
                </button>
            </Show>
        </li>
    }
}

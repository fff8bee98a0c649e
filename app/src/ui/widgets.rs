//! Small pieces every page uses: loading, error and empty states, the pager, status badges, money and dates.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Serialize, de::DeserializeOwned};

use leptos_router::hooks::use_query_map;

use crate::{
    api::{ApiError, Listing},
    i18n::{td, td_string},
    lang,
    models::OrderStatus,
    ui::locale,
};

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="loading" role="status">{tr!(common.loading)}</p> }
}

/// A failed load or action, in the reader's language; the server's sentence under it.
#[component]
pub fn ErrorBox(error: ApiError) -> impl IntoView {
    let status = error.status;
    let title = move || {
        let l = locale();
        match status {
            0 => td_string!(l, errors.network),
            401 => td_string!(l, errors.unauthenticated),
            403 => td_string!(l, errors.forbidden),
            404 => td_string!(l, errors.not_found),
            409 => td_string!(l, errors.conflict),
            429 => td_string!(l, errors.throttled),
            400 | 413 | 415 => td_string!(l, errors.invalid),
            _ => td_string!(l, errors.server),
        }
        .to_owned()
    };
    view! {
        <div class="error" role="alert">
            <strong>{title}</strong>
            <p>{error.detail}</p>
            {(status == 401).then(|| view! { <a href="/signin">{tr!(nav.sign_in)}</a> })}
        </div>
    }
}

/// A page that does not exist.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="card narrow">
            <h1>{tr!(errors.not_found)}</h1>
            <p><a href="/">{tr!(common.home)}</a></p>
        </section>
    }
}

/// An empty list, with what to do about it.
#[component]
pub fn Empty(children: Children) -> impl IntoView {
    view! { <div class="empty">{children()}</div> }
}

/// An order status, colour-coded.
#[component]
pub fn Status(status: OrderStatus) -> impl IntoView {
    view! {
        <span class=format!("status status-{}", status.as_str()) data-status=status.as_str()>
            {lang::status(locale(), status)}
        </span>
    }
}

/// An amount in tiyin, as so'm.
#[component]
pub fn Money(tiyin: i64) -> impl IntoView {
    view! { <span class="money">{lang::money(locale(), tiyin)}</span> }
}

/// A moment, in Tashkent time.
#[component]
pub fn When(at: DateTime<Utc>) -> impl IntoView {
    view! { <time datetime=at.to_rfc3339()>{lang::datetime(locale(), at)}</time> }
}

/// The page number in the URL (`?page=`), from 1.
pub fn page_param() -> Memo<i64> {
    let query = use_query_map();
    Memo::new(move |_| {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse().ok())
            .filter(|p: &i64| *p >= 1)
            .unwrap_or(1)
    })
}

/// A query parameter (`?name=`), if present and non-empty.
pub fn query_param(name: &'static str) -> Memo<Option<String>> {
    let query = use_query_map();
    Memo::new(move |_| query.read().get(name).filter(|v| !v.is_empty()))
}

/// Previous/next links keeping the other query parameters; plain links, so they work before the WASM loads.
#[component]
pub fn Pager(count: i64, page: i64, pages: i64) -> impl IntoView {
    let query = use_query_map();
    let href = move |to: i64| {
        let mut params: Vec<(String, String)> = query
            .get()
            .into_iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.into_owned(), v))
            .collect();
        params.push(("page".to_owned(), to.to_string()));
        let encoded: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        format!("?{}", encoded.join("&"))
    };
    (pages > 1).then(|| {
        view! {
            <nav class="pager" aria-label=tr!(common.pages)>
                {(page > 1).then(|| view! { <a href=href(page - 1) rel="prev">"← " {tr!(common.previous)}</a> })}
                <span>{td!(locale(), common.page_of, page, pages, count)}</span>
                {(page < pages).then(|| view! { <a href=href(page + 1) rel="next">{tr!(common.next)} " →"</a> })}
            </nav>
        }
    })
}

/// A paginated list's states in one place: loading, the server's error, empty (with what to say), and the rows
/// with the pager under them.
#[component]
pub fn Listed<T, R, V>(
    list: Resource<Result<Listing<T>, ApiError>>,
    #[prop(into)] empty: ViewFn,
    rows: R,
) -> impl IntoView
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    R: Fn(Vec<T>) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            {move || {
                list.get()
                    .map(|result| match result {
                        Ok(l) if l.items.is_empty() => empty.run(),
                        Ok(l) => {
                            let (count, page, pages) = (l.count, l.page, l.pages());
                            view! { {rows(l.items)} <Pager count page pages /> }.into_any()
                        }
                        Err(error) => view! { <ErrorBox error /> }.into_any(),
                    })
            }}
        </Transition>
    }
}

/// Percent-encodes a query value.
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The server's message for one form field, under the field.
#[component]
pub fn FieldError(error: Signal<Option<ApiError>>, field: &'static str) -> impl IntoView {
    move || {
        error
            .get()
            .and_then(|e| e.field(field))
            .map(|m| view! { <p class="field-error" id=format!("{field}-error")>{m}</p> })
    }
}

/// A form's error when it is not about one field.
#[component]
pub fn FormError(error: Signal<Option<ApiError>>) -> impl IntoView {
    move || error.get().map(|e| view! { <ErrorBox error=e /> })
}

//! The REST API's handlers, one module per feature, each a thin adapter over [`app::domain`].

pub mod auth;
pub mod channels;
pub mod headers;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod notifications;
pub mod orders;
pub mod origin;
pub mod payments;
pub mod redirects;
pub mod services;
pub mod transactions;
pub mod users;
pub mod web;

use app::{
    domain::{Context, page::Slice},
    models::Page,
};
use axum::http::Uri;

/// Wraps a slice into the DRF-style page, with absolute `next` / `previous` links (on the deployment's public
/// address) that keep the other query parameters.
pub fn paginate<T>(ctx: &Context, uri: &Uri, slice: Slice<T>) -> axum::Json<Page<T>> {
    let base_url = ctx.payments.public_url.as_str();
    let Slice {
        count,
        window,
        results,
    } = slice;
    let link = |offset: i64| {
        let mut query: Vec<String> = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| {
                !pair.is_empty() && !pair.starts_with("limit=") && !pair.starts_with("offset=")
            })
            .map(str::to_owned)
            .collect();
        query.push(format!("limit={}", window.limit));
        if offset > 0 {
            query.push(format!("offset={offset}"));
        }
        format!("{base_url}{}?{}", uri.path(), query.join("&"))
    };
    let end = window.offset.saturating_add(window.limit);
    let next = (end < count).then(|| link(end));
    let previous = (window.offset > 0).then(|| link((window.offset - window.limit).max(0)));
    axum::Json(Page {
        count,
        next,
        previous,
        results,
    })
}

//! No answer sends the browser to another site (API.md, "Requests authenticated by the cookie"). Every `Location`
//! the server produces — the handlers', Leptos's form redirects back to the `Referer`, the form-error scrub — is
//! checked here, in one place, on its way out, whatever the request's path or parameters.

use std::borrow::Cow;

use app::api::{CreatePayment, CreateTelegramLink, web};
use axum::{
    extract::{Request, State},
    http::{HeaderValue, Method, Uri, header},
    middleware::Next,
    response::Response,
};
use leptos::server_fn::ServerFn as _;

use crate::state::AppState;

/// Keeps every `Location` on this site (see [`keep_on_site`]). The payment providers' checkout pages are let
/// through only in the answer of the server function that pays, which sends the payer there on purpose, and the
/// bot's deep link (`https://t.me/…`) only in the answer of the one that starts linking Telegram.
pub async fn stay_on_site(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    let paying = request.method() == Method::POST && request.uri().path() == CreatePayment::PATH;
    let linking =
        request.method() == Method::POST && request.uri().path() == CreateTelegramLink::PATH;
    let mut response = next.run(request).await;
    let Some(location) = response.headers().get(header::LOCATION) else {
        return response;
    };
    // A value that is not even text (bytes above ASCII) cannot be checked: it goes home.
    let given = location.to_str().unwrap_or("\u{0}");
    let mut site = Site {
        own: vec![
            host.as_deref().unwrap_or_default(),
            &state.config.public_url,
        ],
        checkouts: Vec::new(),
    };
    if paying {
        let payments = &state.ctx.payments;
        site.checkouts
            .extend(payments.payme.as_ref().map(|p| p.checkout_url.as_str()));
        site.checkouts
            .extend(payments.click.as_ref().map(|c| c.checkout_url.as_str()));
    }
    if linking && state.ctx.notify.telegram.is_some() {
        site.checkouts
            .push(app::domain::delivery::telegram::DEEP_LINKS);
    }
    let kept = keep_on_site(given, &site);
    if kept != given {
        tracing::warn!(location = %given.escape_debug(), kept = %kept, "Kept a redirect on this site");
        let value = HeaderValue::try_from(kept.as_ref()).unwrap_or(HeaderValue::from_static("/"));
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Where this site is, as a redirect may name it.
pub struct Site<'a> {
    /// This site's addresses: the public URL and the host the request was sent to (`host[:port]` or a URL).
    pub own: Vec<&'a str>,
    /// The outside pages a redirect may lead to (URLs; their scheme and host count).
    pub checkouts: Vec<&'a str>,
}

impl Site<'_> {
    fn is_own(&self, authority: &str) -> bool {
        self.own
            .iter()
            .any(|own| authority_of(own).is_some_and(|own| own.eq_ignore_ascii_case(authority)))
    }

    fn is_checkout(&self, scheme: &str, authority: &str) -> bool {
        self.checkouts.iter().any(|url| {
            url.parse::<Uri>().is_ok_and(|url| {
                url.scheme_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
                    && url
                        .authority()
                        .is_some_and(|a| a.as_str().eq_ignore_ascii_case(authority))
            })
        })
    }
}

/// The `host[:port]` of a URL, or the value itself when it is one already.
fn authority_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then_some(authority)
}

/// `location` as a path on this site: a local path is kept; an absolute address of this site becomes its path; a
/// checkout page of [`Site::checkouts`] is kept; any other path-like value is made local
/// ([`web::local_path`]: `//host`, `/\host`, `/<tab>/host` collapse into paths here); anything else is `/`.
pub fn keep_on_site<'l>(location: &'l str, site: &Site<'_>) -> Cow<'l, str> {
    if web::is_local_path(location) {
        return Cow::Borrowed(location);
    }
    if location.starts_with(['/', '\\']) {
        return Cow::Owned(web::local_path(location));
    }
    let Ok(uri) = location.parse::<Uri>() else {
        return Cow::Borrowed("/");
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Cow::Borrowed("/");
    };
    if !["http", "https"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return Cow::Borrowed("/");
    }
    if site.is_own(authority.as_str()) {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        return Cow::Owned(web::local_path(path));
    }
    if site.is_checkout(scheme, authority.as_str()) {
        return Cow::Borrowed(location);
    }
    Cow::Borrowed("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_this_site() {
        let site = Site {
            own: vec!["task.example.uz", "https://task.example.uz"],
            checkouts: vec!["https://checkout.paycom.uz"],
        };
        let cases = [
            ("/orders/3?saved=1", "/orders/3?saved=1"),
            ("//evil.example", "/evil.example"),
            ("//evil.example/path?q=1", "/evil.example/path?q=1"),
            ("/\\evil.example", "/%5Cevil.example"),
            ("\\\\evil.example", "/%5C%5Cevil.example"),
            ("/\t/evil.example", "/%09/evil.example"),
            ("https://task.example.uz/orders/3", "/orders/3"),
            ("https://TASK.example.uz//evil.example", "/evil.example"),
            ("https://evil.example/", "/"),
            ("https://task.example.uz.evil.example/", "/"),
            ("https://task.example.uz@evil.example/", "/"),
            ("javascript:alert(1)", "/"),
            ("evil.example", "/"),
            ("https:evil.example", "/"),
            (
                "https://checkout.paycom.uz/bT0x",
                "https://checkout.paycom.uz/bT0x",
            ),
            ("http://checkout.paycom.uz/bT0x", "/"),
            ("https://checkout.paycom.uz.evil.example/", "/"),
        ];
        for (given, kept) in cases {
            assert_eq!(keep_on_site(given, &site), kept, "{given:?}");
        }
        let elsewhere = Site {
            own: vec!["task.example.uz"],
            checkouts: vec![],
        };
        assert_eq!(
            keep_on_site("https://checkout.paycom.uz/bT0x", &elsewhere),
            "/",
            "a checkout page only where paying"
        );
    }
}

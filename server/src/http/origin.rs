//! The session cookie works only from this site's own pages (API.md, "Requests authenticated by the cookie").
//!
//! Browsers send cookies with requests that other pages start: `SameSite=Lax` stops other *sites*, but a page on
//! a sibling subdomain is the same site, and a socket upgrade is a `GET`. So every request authenticated by the
//! session cookie that can change something (an unsafe method, on any route, with or without a body) or open the
//! live feed must say it comes from this origin: `Sec-Fetch-Site: same-origin`, or, from browsers that do not send
//! it, an `Origin` equal to this site's. Requests with `Authorization: Bearer` are not affected: a page elsewhere
//! cannot add that header (there is no CORS), and integrators send no `Origin`.

use app::{api::web, domain::Error};
use axum::{
    extract::{Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::{IntoResponse as _, Response},
};

use crate::state::AppState;

/// Refuses with 403 `permission_denied`, before anything runs, a cookie-authenticated unsafe request or socket
/// upgrade that does not come from this site's own pages. The app's own endpoints (server functions, the
/// sandbox) also refuse an unsafe request that a browser says comes from elsewhere even without a cookie (a
/// sign-in form posted from another site).
pub async fn own_pages_only(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let changes = !request.method().is_safe() || is_socket_upgrade(headers);
    if changes {
        let origin = Origin {
            public_url: &state.config.public_url,
            headers,
        };
        let app_endpoint = ["/_fn/", "/sandbox/"]
            .iter()
            .any(|prefix| request.uri().path().starts_with(prefix));
        let refused = if by_cookie(headers) {
            !origin.own_pages()
        } else {
            app_endpoint && origin.elsewhere()
        };
        if refused {
            tracing::debug!(
                method = %request.method(),
                path = %request.uri().path(),
                "Refused a request from another origin"
            );
            return Error::PermissionDenied.into_response();
        }
    }
    next.run(request).await
}

/// Whether the request is authenticated by a session cookie (one is present) rather than by a bearer token.
pub fn by_cookie(headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
    !bearer
        && web::SESSION_COOKIES
            .iter()
            .any(|name| web::cookie(headers, name).is_some_and(|v| !v.is_empty()))
}

/// Whether the request asks to become a WebSocket.
fn is_socket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// Where a request says it comes from.
struct Origin<'a> {
    public_url: &'a str,
    headers: &'a HeaderMap,
}

impl Origin<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Sec-Fetch-Site: same-origin`, else (browsers without Fetch Metadata) an `Origin` of this site.
    fn own_pages(&self) -> bool {
        match self.header("sec-fetch-site") {
            Some(site) => site.eq_ignore_ascii_case("same-origin"),
            None => self
                .header(header::ORIGIN.as_str())
                .is_some_and(|o| self.is_own(o)),
        }
    }

    /// Whether a browser says the request comes from another origin (a script that says nothing is not refused).
    fn elsewhere(&self) -> bool {
        match self.header("sec-fetch-site") {
            Some(site) => !site.eq_ignore_ascii_case("same-origin"),
            None => self
                .header(header::ORIGIN.as_str())
                .is_some_and(|o| !self.is_own(o)),
        }
    }

    /// Whether `origin` is this site: the public URL's origin, or the origin of the host the request was sent to
    /// (a proxy in front must pass `Host` on, as `deploy/nginx/task.conf` does).
    fn is_own(&self, origin: &str) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false; // `null` (a sandboxed frame, a file) or garbage
        };
        if !["http", "https"].contains(&scheme) || authority.is_empty() || authority.contains('/') {
            return false;
        }
        let public = self.public_url.trim_end_matches('/');
        let host = self.header(header::HOST.as_str());
        public.eq_ignore_ascii_case(origin)
            || host.is_some_and(|h| h.eq_ignore_ascii_case(authority))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        map
    }

    #[test]
    fn only_this_sites_pages_are_its_own() {
        let cases: [(&[(&str, &str)], bool); 10] = [
            (&[("sec-fetch-site", "same-origin")], true),
            (
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "https://evil.example"),
                ],
                true,
            ),
            (
                &[
                    ("sec-fetch-site", "same-site"),
                    ("origin", "https://task.example.uz"),
                ],
                false,
            ),
            (&[("sec-fetch-site", "cross-site")], false),
            (&[("sec-fetch-site", "none")], false),
            (&[("origin", "https://task.example.uz")], true),
            (&[("origin", "http://127.0.0.1:3000")], true),
            (&[("origin", "https://sub.task.example.uz")], false),
            (&[("origin", "null")], false),
            (&[], false),
        ];
        for (pairs, own) in cases {
            let mut map = headers(pairs);
            map.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
            let origin = Origin {
                public_url: "https://task.example.uz/",
                headers: &map,
            };
            assert_eq!(origin.own_pages(), own, "{pairs:?}");
        }
    }

    #[test]
    fn a_bearer_token_is_not_a_cookie_session() {
        let cookie = headers(&[("cookie", "i18n_pref_locale=uz; task_access=a.b.c")]);
        assert!(by_cookie(&cookie));
        let refresh_only = headers(&[("cookie", "task_refresh=r")]);
        assert!(
            by_cookie(&refresh_only),
            "the refresh cookie renews the session"
        );
        let both = headers(&[
            ("cookie", "task_access=a.b.c"),
            ("authorization", "Bearer x.y.z"),
        ]);
        assert!(!by_cookie(&both));
        let language_only = headers(&[("cookie", "i18n_pref_locale=uz; task_access=")]);
        assert!(!by_cookie(&language_only));
    }
}

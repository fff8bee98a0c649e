//! The web adapter's helpers, shared by the server functions and the server's page middleware: who the caller is,
//! the application context, session and language cookies, and where a form post goes back to. Everything about
//! HTTP that the domain must not know.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header, request::Parts};
use leptos::prelude::use_context;

use super::{ApiError, Listing, PAGE_SIZE};
use crate::{
    domain::{Actor, Context, Error, page::Slice, page::Window},
    models::Session,
};

/// The cookie carrying the access token (sent with every request of the site). Its name inside the server; on the
/// wire it carries the [`HOST_PREFIX`] when cookies are secure (see [`CookiePolicy::wire_name`]).
pub const ACCESS_COOKIE: &str = "task_access";
/// The cookie carrying the refresh token (named like [`ACCESS_COOKIE`]).
pub const REFRESH_COOKIE: &str = "task_refresh";
/// The session cookies, by their names inside the server.
pub const SESSION_COOKIES: [&str; 2] = [ACCESS_COOKIE, REFRESH_COOKIE];
/// The prefix that makes browsers accept a cookie only from this very host, over HTTPS, for the whole site: no
/// sibling subdomain can set or shadow it.
pub const HOST_PREFIX: &str = "__Host-";
/// The cookie remembering the UI language (the one `leptos_i18n` reads and writes).
pub const LANGUAGE_COOKIE: &str = "i18n_pref_locale";

/// The parameters by which a page's address carries a failed form post's error back to it (Leptos's form
/// redirects: the error, and the server function it came from).
pub const FORM_ERROR_PARAMS: [&str; 2] = ["__err", "__path"];

/// The notices a page shows once after a form post (`?saved=`, `?created=`).
const NOTICES: [&str; 2] = ["saved", "created"];

/// Who sent the request: put into the request's extensions by the server's middleware.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The client's address (as the REST API's rate limits see it).
    pub ip: String,
    /// The signed-in user, if the session cookie is valid.
    pub actor: Option<Actor>,
    /// For page requests of a signed-in user: their session.
    pub session: Option<Session>,
}

/// How session cookies are written (`HttpOnly`, `SameSite=Lax`).
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    /// Adds `Secure` (behind HTTPS), and names the session cookies with the [`HOST_PREFIX`].
    pub secure: bool,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl CookiePolicy {
    /// The two `Set-Cookie` values for a token pair, or (with `None`) the two that clear them.
    pub fn session(&self, pair: Option<(&str, &str)>) -> [String; 2] {
        let (access, refresh, access_age, refresh_age) = match pair {
            Some((a, r)) => (a, r, self.access_ttl.as_secs(), self.refresh_ttl.as_secs()),
            None => ("", "", 0, 0),
        };
        [
            self.cookie(&self.wire_name(ACCESS_COOKIE), access, access_age, true),
            self.cookie(&self.wire_name(REFRESH_COOKIE), refresh, refresh_age, true),
        ]
    }

    /// The name a session cookie has in browsers: with the [`HOST_PREFIX`] when cookies are secure (the prefix
    /// needs `Secure`, which plain-HTTP local runs cannot have).
    pub fn wire_name(&self, name: &str) -> String {
        if self.secure {
            format!("{HOST_PREFIX}{name}")
        } else {
            name.to_owned()
        }
    }

    /// The `Set-Cookie` value remembering the UI language for a year (readable by the page's script, which
    /// switches it).
    pub fn language(&self, tag: &str) -> String {
        self.cookie(LANGUAGE_COOKIE, tag, 365 * 24 * 3600, false)
    }

    fn cookie(&self, name: &str, value: &str, max_age: u64, http_only: bool) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        let http_only = if http_only { "; HttpOnly" } else { "" };
        format!("{name}={value}; Path=/; Max-Age={max_age}{http_only}; SameSite=Lax{secure}")
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Whether `location` is a path on this site as every browser reads it: a `/` not followed by a second `/` (`//host`
/// names another host), in visible ASCII only (browsers drop tabs and newlines from an address, so `/<tab>/host`
/// would be `//host`), and without any backslash (browsers read it as `/`, so `/\host` is `//host`).
pub fn is_local_path(location: &str) -> bool {
    let bytes = location.as_bytes();
    bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && bytes.iter().all(|&b| b.is_ascii_graphic() && b != b'\\')
}

/// `candidate` (a path, perhaps with a query) made a path on this site (see [`is_local_path`]): every byte that is
/// not visible ASCII, and every backslash, percent-encoded (browsers do not decode them back when resolving an
/// address), and the leading slashes collapsed into one. Anything else (an absolute or relative address) is `/`.
pub fn local_path(candidate: &str) -> String {
    if !candidate.starts_with(['/', '\\']) {
        return "/".to_owned();
    }
    let mut encoded = String::with_capacity(candidate.len());
    for b in candidate.bytes() {
        if b.is_ascii_graphic() && b != b'\\' {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("/{}", encoded.trim_start_matches('/'))
}

/// A page's address, `path` with its `query` less the parameters `drop` names, plus `add` if given.
pub fn address(
    path: &str,
    query: &str,
    drop: impl Fn(&str) -> bool,
    add: Option<(&str, &str)>,
) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if !drop(&k) {
            out.append_pair(&k, &v);
        }
    }
    if let Some((k, v)) = add {
        out.append_pair(k, v);
    }
    match out.finish() {
        query if query.is_empty() => path.to_owned(),
        query => format!("{path}?{query}"),
    }
}

/// Where a form post returns to: the page it came from (its path and query, without earlier notices and
/// errors), or `page` when the request does not say; with `notice` (`key=value`) added.
pub fn back_to(page: &str, notice: Option<(&str, &str)>) -> String {
    let referer = use_context::<Parts>().and_then(|parts| {
        parts
            .headers
            .get(header::REFERER)?
            .to_str()
            .ok()
            .map(str::to_owned)
    });
    let local = referer.as_deref().and_then(|referer| {
        let rest = referer.split_once("://").map_or(referer, |(_, rest)| rest);
        let local = &rest[rest.find('/')?..];
        // Only a path on this site: `//host`, `/\host` or `/<tab>/host` would leave it.
        is_local_path(local).then_some(local)
    });
    let local = local.unwrap_or(page);
    let local = local.split('#').next().unwrap_or(page);
    let (path, query) = local.split_once('?').unwrap_or((local, ""));
    let dropped = |k: &str| FORM_ERROR_PARAMS.contains(&k) || NOTICES.contains(&k);
    address(path, query, dropped, notice)
}

/// The application context, provided by the server for every page and server-function request.
pub fn context() -> Result<Context, ApiError> {
    use_context::<Context>()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("no Context in the context")).into())
}

/// How this server writes cookies, provided with the [`context`].
pub fn cookies() -> Result<CookiePolicy, ApiError> {
    use_context::<CookiePolicy>()
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("no CookiePolicy in the context")).into())
}

/// Who sent the request.
pub fn caller() -> Caller {
    use_context::<Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>().cloned())
        .unwrap_or_default()
}

/// The signed-in caller, or 401.
pub fn actor() -> Result<Actor, ApiError> {
    caller().actor.ok_or_else(|| Error::NotAuthenticated.into())
}

/// The value of cookie `name` in this request.
pub fn request_cookie(name: &str) -> Option<String> {
    use_context::<Parts>().and_then(|parts| cookie(&parts.headers, name).map(str::to_owned))
}

/// The rows of page `page` (from 1); a page past [`crate::domain::page::MAX_OFFSET`] is a 400.
pub fn window(page: i64) -> Result<Window, ApiError> {
    Ok(Window::page(page, PAGE_SIZE)?)
}

/// Page `page` of a list, as the UI shows it.
pub fn listing<T>(page: i64, slice: Slice<T>) -> Listing<T> {
    Listing {
        count: slice.count,
        page: page.max(1),
        items: slice.results,
    }
}

/// Adds a `Set-Cookie` header to the answer.
pub fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::try_from(value),
    ) {
        response.append_header(header::SET_COOKIE, value);
    }
}

/// Hands the browser a new session (the two cookies), or clears it.
pub fn set_session_cookies(cookies: &CookiePolicy, pair: Option<(&str, &str)>) {
    for cookie in cookies.session(pair) {
        set_cookie(&cookie);
    }
}

/// Parses an optional id typed into a form ("" is none).
pub fn optional_id(field: &str, value: &str) -> Result<Option<i64>, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| Error::field(field, "Not a valid id.").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_http_only_lax_and_cleared_with_zero_age() {
        let policy = CookiePolicy {
            secure: true,
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
        };
        let [access, refresh] = policy.session(Some(("a.b.c", "r1")));
        assert_eq!(
            access,
            "__Host-task_access=a.b.c; Path=/; Max-Age=900; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            refresh,
            "__Host-task_refresh=r1; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure"
        );
        let [access, _] = policy.session(None);
        assert_eq!(
            access,
            "__Host-task_access=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            policy.language("uz"),
            "i18n_pref_locale=uz; Path=/; Max-Age=31536000; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn session_cookies_keep_their_plain_names_without_https() {
        let policy = CookiePolicy {
            secure: false,
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
        };
        let [access, refresh] = policy.session(Some(("a.b.c", "r1")));
        assert_eq!(
            access,
            "task_access=a.b.c; Path=/; Max-Age=900; HttpOnly; SameSite=Lax"
        );
        assert!(refresh.starts_with("task_refresh=r1;"), "{refresh}");
    }

    #[test]
    fn only_paths_of_this_site_are_local() {
        let local = [
            "/",
            "/orders/3",
            "/signin?next=1&__err=x",
            "/a/b//c",
            "/%2F%2Fevil.example",
        ];
        for path in local {
            assert!(is_local_path(path), "{path:?} is a path of this site");
            assert_eq!(local_path(path), path, "{path:?} is kept as it is");
        }
        let elsewhere = [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "https://evil.example/",
            "evil.example",
            "",
            "/caf\u{e9}",
        ];
        for candidate in elsewhere {
            assert!(
                !is_local_path(candidate),
                "{candidate:?} is not a local path"
            );
            let made = local_path(candidate);
            assert!(is_local_path(&made), "{candidate:?} became {made:?}");
        }
        assert_eq!(local_path("//evil.example/x?y=1"), "/evil.example/x?y=1");
        assert_eq!(local_path("/\\evil.example"), "/%5Cevil.example");
        assert_eq!(local_path("/\t/evil.example"), "/%09/evil.example");
        assert_eq!(local_path("https://evil.example/"), "/");
    }
}

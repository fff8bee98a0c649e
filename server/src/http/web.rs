//! The browser app's side of the HTTP surface: who is calling (for pages and server functions), with the
//! session renewed from the refresh cookie when the access cookie has expired, the session cookies' names, page
//! addresses carrying form errors, and the static bundle served precompressed with long-lived caching.

use app::{
    api::web::{self, Caller},
    domain::{auth, session},
};
use axum::{
    extract::{FromRequestParts as _, Request, State},
    http::{HeaderMap, HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse as _, Redirect, Response},
};

use crate::{
    extract::{AuthUser, ClientIp, REFRESH_COOKIE, cookie},
    state::AppState,
};

/// Puts a [`Caller`] into the request for the pages and server functions. A missing or expired access cookie
/// with a valid refresh cookie renews the session (new cookies on the response); an unusable refresh cookie is
/// cleared. Any failure leaves the caller signed out rather than failing the page.
pub async fn resolve_caller(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let ip = ClientIp::from_request_parts(&mut parts, &state)
        .await
        .map(|ClientIp(ip)| ip)
        .unwrap_or_default();
    let mut renewed = None;
    let actor = match AuthUser::from_request_parts(&mut parts, &state).await {
        Ok(AuthUser(actor)) => Some(actor),
        Err(_) => match cookie(&parts.headers, REFRESH_COOKIE).filter(|r| !r.is_empty()) {
            None => None,
            Some(refresh) => match auth::renew(&state.ctx, refresh).await {
                Ok((pair, actor)) => {
                    renewed = Some(state.cookies.session(Some((&pair.access, &pair.refresh))));
                    Some(actor)
                }
                Err(_) => {
                    renewed = Some(state.cookies.session(None));
                    None
                }
            },
        },
    };
    // A page starts from the user's session (name, unread count, where its live feed starts).
    let page = parts.method == axum::http::Method::GET
        && !["/_fn/", "/pkg/", "/sandbox/"]
            .iter()
            .any(|prefix| parts.uri.path().starts_with(prefix));
    let session = match &actor {
        Some(actor) if page => session::load(&state.ctx, actor).await.ok(),
        _ => None,
    };
    parts.extensions.insert(Caller { ip, actor, session });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // A form post's redirect back to its page strips an earlier error from the address, leaving an empty query
    // (`/orders/3?`): send the clean address.
    if let Some(clean) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.strip_suffix('?'))
        .and_then(|l| HeaderValue::try_from(l).ok())
    {
        response.headers_mut().insert(header::LOCATION, clean);
    }
    for value in renewed.into_iter().flatten() {
        if let Ok(value) = HeaderValue::try_from(value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A page address carrying a form error (`__err`, which the page renders in its error box) reached from anywhere
/// but this site is answered with the same address without it: no link from elsewhere can put its words into the
/// app's error box. Browsers say where a navigation comes from in `Sec-Fetch-Site`. (Posts from elsewhere are
/// refused in [`super::origin`].)
pub async fn drop_foreign_form_errors(request: Request, next: Next) -> Response {
    let elsewhere =
        header_str(request.headers(), "sec-fetch-site").is_some_and(|site| site != "same-origin");
    if request.method() == Method::GET
        && elsewhere
        && let Some(query) = request.uri().query().filter(|q| q.contains("__err"))
    {
        // The path as the request gave it may name another host once it is a `Location` (`//host`).
        let to = web::address(
            &web::local_path(request.uri().path()),
            query,
            |k| web::FORM_ERROR_PARAMS.contains(&k),
            None,
        );
        return Redirect::to(&to).into_response();
    }
    next.run(request).await
}

/// The session cookies under the names the rest of the server reads ([`web::ACCESS_COOKIE`],
/// [`web::REFRESH_COOKIE`]). When cookies are secure, browsers hold them with the `__Host-` prefix, which only this
/// host, over HTTPS, can set: only those are read, and a cookie of the plain name (which a sibling subdomain could
/// have planted) is ignored.
pub async fn session_cookie_names(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if state.cookies.secure && request.headers().contains_key(header::COOKIE) {
        let renamed: Vec<String> = request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| {
                let name = pair.split_once('=').map_or(pair, |(name, _)| name);
                if web::SESSION_COOKIES.contains(&name) {
                    return None;
                }
                Some(
                    pair.strip_prefix(web::HOST_PREFIX)
                        .unwrap_or(pair)
                        .to_owned(),
                )
            })
            .collect();
        let headers = request.headers_mut();
        headers.remove(header::COOKIE);
        if let Ok(value) = HeaderValue::try_from(renamed.join("; "))
            && !renamed.is_empty()
        {
            headers.insert(header::COOKIE, value);
        }
    }
    next.run(request).await
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Cache-Control` for the bundle: its file names carry a content hash, so a file never changes.
pub async fn immutable(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response.status().is_success() {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    response
}

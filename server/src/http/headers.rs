//! The security headers of every answer: a Content-Security-Policy whose script and style sources are this site
//! and the inline elements carrying this response's nonce (Leptos writes it on its hydration scripts, the app on
//! its own inline script and styles), `X-Content-Type-Options`, `Referrer-Policy`, no framing, and HSTS when the
//! cookies are secure (that is, behind HTTPS).

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::Response,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::state::AppState;

/// This response's CSP nonce (16 random bytes, base64url), in the request's extensions for whatever renders
/// inline scripts or styles.
#[derive(Debug, Clone)]
pub struct CspNonce(pub Arc<str>);

impl CspNonce {
    fn new() -> Self {
        Self(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()).into())
    }
}

/// The policy of the interactive API docs (`/api/docs`): Swagger UI's own files only, but its React views set
/// inline styles.
const DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
    form-action 'self'";

/// One year: browsers keep to HTTPS for the site that long after their last visit.
const HSTS: &str = "max-age=31536000";

/// The policy of every other answer: scripts and styles from this site or inline with this response's `nonce`,
/// WebAssembly compiled from this site's bundle, no plugins, no `<base>`, never framed. (`form-action` is left
/// out: paying posts a form that ends on the payment provider's checkout page.)
fn policy(nonce: &CspNonce, watching: bool) -> String {
    // `cargo leptos watch` reloads the page through a socket on its own port.
    let connect = if watching {
        "'self' ws: wss:"
    } else {
        "'self'"
    };
    let nonce = &nonce.0;
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; connect-src {connect}; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'"
    )
}

/// Gives the request its [`CspNonce`] and every response the security headers.
pub async fn security_headers(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = CspNonce::new();
    request.extensions_mut().insert(nonce.clone());
    let docs = request.uri().path().starts_with("/api/docs");
    let mut response = next.run(request).await;
    let csp = if docs {
        DOCS_POLICY.to_owned()
    } else {
        policy(&nonce, std::env::var_os("LEPTOS_WATCH").is_some())
    };
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::try_from(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    let fixed: [(HeaderName, &'static str); 3] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if state.cookies.secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

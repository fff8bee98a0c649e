//! The server functions' error type, and (on the server) the one mapping of a domain error to its HTTP status and
//! response, which the REST API uses too.

use std::collections::BTreeMap;

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// A failed server function: the REST error envelope plus the HTTP status (0 when the server was not reached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{detail}")]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub detail: String,
    /// Messages by field, for forms.
    #[serde(default)]
    pub errors: BTreeMap<String, Vec<String>>,
}

impl ApiError {
    /// The messages of one field, joined.
    pub fn field(&self, name: &str) -> Option<String> {
        self.errors.get(name).map(|m| m.join(" "))
    }

    /// Whether signing in again would help.
    pub fn is_unauthenticated(&self) -> bool {
        self.status == 401
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let (status, code, detail) = match value {
            ServerFnErrorErr::Request(e) => (0, "network", e),
            ServerFnErrorErr::Args(e) | ServerFnErrorErr::MissingArg(e) => (400, "invalid", e),
            ServerFnErrorErr::Deserialization(e) | ServerFnErrorErr::Response(e) => {
                (502, "bad_response", e)
            }
            _ => (500, "server_error", "A server error occurred.".to_owned()),
        };
        Self {
            status,
            code: code.to_owned(),
            detail,
            errors: BTreeMap::new(),
        }
    }
}

#[cfg(feature = "ssr")]
pub use http::{ErrorCause, HttpStatus};

#[cfg(feature = "ssr")]
mod http {
    use std::sync::Arc;

    use axum::{
        Json,
        http::{HeaderValue, StatusCode, header},
        response::{IntoResponse, Response},
    };
    use leptos::prelude::use_context;

    use super::ApiError;
    use crate::domain::Error;

    /// The HTTP status a domain error is answered with, on every way in.
    pub trait HttpStatus {
        fn status(&self) -> StatusCode;
    }

    impl HttpStatus for Error {
        fn status(&self) -> StatusCode {
            match self {
                Self::Validation(_) | Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
                Self::NotAuthenticated | Self::TokenInvalid | Self::BadCredentials => {
                    StatusCode::UNAUTHORIZED
                }
                Self::PermissionDenied => StatusCode::FORBIDDEN,
                Self::NotFound => StatusCode::NOT_FOUND,
                Self::InvalidTransition { .. } | Self::Conflict(_) => StatusCode::CONFLICT,
                Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
                Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
                Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                Self::Database(_) if self.lost_database() => StatusCode::SERVICE_UNAVAILABLE,
                Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
    }

    /// The `Retry-After` of a 503 `unavailable`, in seconds.
    const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

    /// The cause of a 5xx answer, put into the response's extensions so the server logs it once, at the boundary.
    #[derive(Debug, Clone)]
    pub struct ErrorCause(pub Arc<String>);

    impl IntoResponse for Error {
        fn into_response(self) -> Response {
            let status = self.status();
            let mut response = (status, Json(self.body())).into_response();
            let headers = response.headers_mut();
            match &self {
                Self::NotAuthenticated | Self::TokenInvalid => {
                    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                Self::Throttled { retry_after } => {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
                }
                _ => {}
            }
            // Every 503 (a saturated password hasher, a database out of reach) is worth retrying shortly.
            if status == StatusCode::SERVICE_UNAVAILABLE {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
            }
            if status.is_server_error() {
                response
                    .extensions_mut()
                    .insert(ErrorCause(Arc::new(format!("{self:#}"))));
            }
            response
        }
    }

    /// Whether the request is a plain form post from a page to a server function (it accepts HTML), rather
    /// than a call by a script or a page being rendered.
    pub fn is_form_post() -> bool {
        use_context::<axum::http::request::Parts>().is_some_and(|parts| {
            parts.method == axum::http::Method::POST
                && parts.uri.path().starts_with("/_fn/")
                && parts
                    .headers
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("text/html"))
        })
    }

    impl From<Error> for ApiError {
        fn from(e: Error) -> Self {
            let status = e.status();
            if status.is_server_error() {
                tracing::error!(error = %format!("{e:#}"), status = status.as_u16(), "Server function failed");
            }
            // A plain form post is answered with a redirect back to its page, which shows the error (see
            // `leptos_axum`'s form redirects); an error status would replace that redirect with a raw body.
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>()
                && !is_form_post()
            {
                response.set_status(status);
                // The same rate limit as REST, told the same way: when to try again.
                if let Error::Throttled { retry_after } = &e {
                    response.insert_header(header::RETRY_AFTER, HeaderValue::from(*retry_after));
                }
            }
            let body = e.body();
            Self {
                status: status.as_u16(),
                code: body.code,
                detail: body.detail,
                errors: body.errors.unwrap_or_default(),
            }
        }
    }
}

//! The domain's one error type and its envelope (the contract's `{detail, code, errors}`). Its HTTP status is
//! the adapters' business (`crate::api::error`).

use std::collections::BTreeMap;

use crate::models::{ErrorBody, OrderStatus};

/// Shorthand for results of domain operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a domain operation or an adapter can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 `invalid`: some fields failed validation.
    #[error("Invalid input.")]
    Validation(FieldErrors),
    /// 400 with a code of its own (`parse_error`, `invalid`).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 401 `not_authenticated`: no credentials were given.
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    /// 401 `token_invalid`: a token is malformed, expired, of the wrong type, or its user is gone or inactive.
    #[error("Given token is not valid.")]
    TokenInvalid,
    /// 401 `bad_credentials`: a login with a wrong username or password.
    #[error("No active account found with the given credentials.")]
    BadCredentials,
    /// 403 `permission_denied`: the caller's role may not do this.
    #[error("You do not have permission to perform this action.")]
    PermissionDenied,
    /// 404 `not_found`: no such object, or not visible to the caller.
    #[error("Not found.")]
    NotFound,
    /// 409 `invalid_transition`: the status machine has no such move.
    #[error("An order cannot move from {from} to {to}.")]
    InvalidTransition { from: OrderStatus, to: OrderStatus },
    /// 409 `conflict`: the current state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// 413 `payload_too_large`.
    #[error("Request body is too large (the limit is {limit} bytes).")]
    PayloadTooLarge { limit: usize },
    /// 415 `unsupported_media_type`.
    #[error("Expected a request with `Content-Type: {expected}`.")]
    UnsupportedMediaType { expected: &'static str },
    /// 429 `throttled`, with `Retry-After`.
    #[error("Request was throttled. Try again in {retry_after} seconds.")]
    Throttled { retry_after: u64 },
    /// 502 `bad_gateway`: an outside service we depend on (a payment provider's API) failed or did not answer.
    #[error("{0}")]
    BadGateway(String),
    /// 503 `unavailable`: a dependency is down.
    #[error("The service is temporarily unavailable.")]
    Unavailable,
    /// 500: a database failure (its text is logged, never sent).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// 500: anything else unexpected (its text is logged, never sent).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// A 400 `invalid` error on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        Self::Validation(errors)
    }

    /// Whether this is a database error that means the database is out of reach (down, restarting, out of
    /// connections) rather than a fault of ours: answered as `unavailable`, and the client may retry.
    pub fn lost_database(&self) -> bool {
        match self {
            Self::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ) => true,
            // Class 08: connection exception; class 57: operator intervention (shutdown, restart).
            Self::Database(sqlx::Error::Database(e)) => e
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57")),
            _ => false,
        }
    }

    /// Whether the cause is ours (a bug or a broken dependency) rather than the request's: logged, never shown.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Database(_) | Self::Internal(_)) && !self.lost_database()
    }

    /// The stable machine code of the envelope.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "invalid",
            Self::BadRequest { code, .. } => code,
            Self::NotAuthenticated => "not_authenticated",
            Self::TokenInvalid => "token_invalid",
            Self::BadCredentials => "bad_credentials",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::Throttled { .. } => "throttled",
            Self::BadGateway(_) => "bad_gateway",
            Self::Unavailable => "unavailable",
            Self::Database(_) if self.lost_database() => "unavailable",
            Self::Database(_) | Self::Internal(_) => "server_error",
        }
    }

    /// The envelope sent to the client; internal causes are replaced by a generic sentence.
    pub fn body(&self) -> ErrorBody {
        let detail = match self {
            Self::Database(_) if self.lost_database() => Self::Unavailable.to_string(),
            Self::Database(_) | Self::Internal(_) => "A server error occurred.".to_owned(),
            other => other.to_string(),
        };
        let errors = match self {
            Self::Validation(fields) => Some(fields.0.clone()),
            _ => None,
        };
        ErrorBody {
            detail,
            code: self.code().to_owned(),
            errors,
        }
    }
}

/// Validation messages by field, collected before anything is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// Records `message` against `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// Records the outcome of a rule from [`crate::models::validate`].
    pub fn check(&mut self, field: &str, outcome: Option<String>) -> &mut Self {
        if let Some(message) = outcome {
            self.add(field, message);
        }
        self
    }

    /// `Ok` when nothing was recorded, else a 400 with every message.
    pub fn finish(&mut self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(std::mem::take(self)))
        }
    }
}

/// Turns database constraint violations into client errors by constraint name.
pub trait ResultExt<T> {
    /// Maps a violation of `constraint` to the error `map` builds; other errors pass through.
    fn on_constraint(self, constraint: &str, map: impl FnOnce() -> Error) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn on_constraint(self, constraint: &str, map: impl FnOnce() -> Error) -> Result<T> {
        self.map_err(|e| match e.into() {
            Error::Database(sqlx::Error::Database(db)) if db.constraint() == Some(constraint) => {
                map()
            }
            other => other,
        })
    }
}

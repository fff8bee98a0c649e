//! Request extractors whose rejections use the contract's error envelope: JSON bodies, query strings, path ids
//! and the authenticated caller.

use app::{
    domain::{Actor, Context, Error, FieldErrors, auth, users},
    i18n::Locale,
    lang,
};
use axum::extract::ConnectInfo;
use axum::{
    body::Bytes,
    extract::{FromRef, FromRequest, FromRequestParts, OptionalFromRequestParts, Request},
    http::{HeaderMap, StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

use crate::state::AppState;

pub use app::api::web::{ACCESS_COOKIE, REFRESH_COOKIE, cookie};

/// The largest request body accepted (64 KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body: `Content-Type: application/json` required, size-limited, and deserialized with the path of the
/// offending field in the error (`{"errors": {"service_id": ["invalid type: ..."]}}`).
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(Error::UnsupportedMediaType {
                expected: "application/json",
            });
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge { limit: BODY_LIMIT }
            } else {
                Error::BadRequest {
                    code: "parse_error",
                    detail: "Could not read the request body.".to_owned(),
                }
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == "application"
                && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
        })
}

/// Deserializes a JSON object, telling syntax errors (`parse_error`) from wrong shapes (`invalid`, by field).
/// Every request body of the API is an object; serde would also accept an array for a struct, so other
/// top-level values are refused first.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(e) => Error::BadRequest {
                    code: "parse_error",
                    detail: format!("JSON parse error: {}", strip_position(&e)),
                },
                Ok(_) => Error::field("non_field_errors", "Expected a JSON object."),
            },
        );
    }
    if has_nul_escape(bytes) {
        return Err(Error::field(
            "non_field_errors",
            "Text may not contain NUL (\\u0000) characters.",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return Error::BadRequest {
                code: "parse_error",
                detail: format!("JSON parse error: {}", strip_position(inner)),
            };
        }
        let message = strip_position(inner);
        let path = e.path().to_string();
        let field = if path == "." {
            // A missing or unknown field is reported on its parent: name the field itself.
            message
                .split('`')
                .nth(1)
                .unwrap_or("non_field_errors")
                .to_owned()
        } else {
            path
        };
        let mut errors = FieldErrors::default();
        errors.add(&field, message);
        Error::Validation(errors)
    })?;
    de.end().map_err(|e| Error::BadRequest {
        code: "parse_error",
        detail: format!("JSON parse error: {}", strip_position(&e)),
    })?;
    Ok(value)
}

/// Whether a JSON text holds the escape `\u0000` (PostgreSQL's text cannot store NUL). JSON allows no raw control
/// characters in strings, so the escape is the only way in; `\\u0000` (an escaped backslash) is not one.
fn has_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(6).enumerate().any(|(i, w)| {
        w == b"\\u0000" && bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
    })
}

/// serde_json's message without its " at line L column C" suffix.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// A query string (`?status=paid&limit=10`), rejected as 400 `invalid` when a value has the wrong type.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) = form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(Error::field(&name, "Text may not contain NUL characters."));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let mut errors = FieldErrors::default();
                errors.add(&e.path().to_string(), e.inner().to_string());
                Error::Validation(errors)
            })
    }
}

/// A numeric id in the path. An id that is not a number names nothing, so it is a 404.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        <axum::extract::Path<i64> as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(|p| Id(p.0))
            .map_err(|_| Error::NotFound)
    }
}

/// The client's address, for rate limits: the TCP peer, or, when `TRUST_PROXY` says a proxy in front sets it, the
/// last (rightmost) `X-Forwarded-For` hop: the one the proxy itself added. Hops to its left come from the client
/// and prove nothing (the shipped nginx overwrites the header with the address it saw, so there is only one).
pub struct ClientIp(pub String);

impl<S> FromRequestParts<S> for ClientIp
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        if state.config.trust_proxy {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty());
            if let Some(ip) = forwarded {
                return Ok(Self(ip.to_owned()));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Self(peer.unwrap_or_else(|| "unknown".to_owned())))
    }
}

/// The authenticated caller: an access token from `Authorization: Bearer` or the `task_access` cookie, whose user
/// is loaded fresh or from the short-lived cache (deactivated users are refused at once), and whose session
/// epoch must still be the user's (a token issued before a password change, a new role or a deactivation is
/// refused).
pub struct AuthUser(pub Actor);

/// The raw access token of a request, if it carries one.
pub fn access_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    cookie(headers, ACCESS_COOKIE)
}

impl<S> FromRequestParts<S> for AuthUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(actor) = parts.extensions.get::<Actor>() {
            return Ok(Self(actor.clone()));
        }
        let state = AppState::from_ref(state);
        let token = access_token(&parts.headers).ok_or(Error::NotAuthenticated)?;
        let access = state.ctx.tokens.verify_access(token)?;
        let cached = state.feed.actors().get(access.user_id);
        // A cached user of another session epoch is not trusted either way: the token may be older than a change
        // that ended its session, or newer than the cached entry (another instance made the change).
        let actor = match cached
            .actor
            .filter(|actor| actor.session_epoch == access.epoch)
        {
            Some(actor) => actor,
            None => {
                let actor = auth::load_actor(&state.ctx.db, access.user_id).await?;
                state.feed.actors().put(actor.clone(), cached.generation);
                auth::check_epoch(&actor, &access)?;
                actor
            }
        };
        parts.extensions.insert(actor.clone());
        Ok(Self(actor))
    }
}

impl<S> OptionalFromRequestParts<S> for AuthUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if access_token(&parts.headers).is_none() {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// What an authenticated handler starts from: the application context and the caller.
pub struct Call {
    pub ctx: Context,
    pub actor: Actor,
}

impl<S> FromRequestParts<S> for Call
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthUser(actor) =
            <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        Ok(Self {
            ctx: AppState::from_ref(state).ctx.clone(),
            actor,
        })
    }
}

/// The answer of a handler that answers JSON.
pub type Reply<T> = Result<axum::Json<T>, Error>;

/// The answer of a handler that creates something: 201 with it.
pub type Created<T> = Result<(StatusCode, axum::Json<T>), Error>;

/// 201 with what was created.
pub fn created<T>(value: T) -> (StatusCode, axum::Json<T>) {
    (StatusCode::CREATED, axum::Json(value))
}

/// The language to answer in: the signed-in caller's chosen language (the actor must be extracted first), else
/// the best supported one of `Accept-Language`, else English.
pub struct Language(pub Locale);

impl<S> FromRequestParts<S> for Language
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(actor) = parts.extensions.get::<Actor>() {
            let state = AppState::from_ref(state);
            if let Some(locale) = users::language(&state.ctx, actor.id)
                .await?
                .as_deref()
                .and_then(lang::from_tag)
            {
                return Ok(Self(locale));
            }
        }
        Ok(Self(
            parts
                .headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(lang::from_accept_language)
                .unwrap_or(Locale::en),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Input {
        service_id: i64,
        description: Option<String>,
    }

    fn field_errors(result: Result<Input, Error>) -> (String, Vec<String>) {
        match result {
            Err(Error::Validation(errors)) => {
                errors.0.into_iter().next().expect("one field has an error")
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_offending_field() {
        let cases = [
            (r#"{"service_id": "x"}"#, "service_id"),
            (r#"{"description": "x"}"#, "service_id"),
            (r#"{"service_id": 1, "role": "admin"}"#, "role"),
            (r#"{"service_id": 1e40}"#, "service_id"),
            (r#"{"service_id": 99999999999999999999}"#, "service_id"),
        ];
        for (body, field) in cases {
            let (named, messages) = field_errors(parse_json(body.as_bytes()));
            assert_eq!(named, field, "body {body} gave {messages:?}");
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_invalid() {
        for body in ["[]", "[1, 2]", "\"text\"", "3", "null"] {
            let (field, _) = field_errors(parse_json(body.as_bytes()));
            assert_eq!(field, "non_field_errors", "{body}");
        }
    }

    #[test]
    fn malformed_json_is_a_parse_error() {
        for body in ["{", "", "[1,", r#"{"service_id": 1} trailing"#] {
            match parse_json::<Input>(body.as_bytes()) {
                Err(Error::BadRequest {
                    code: "parse_error",
                    ..
                }) => {}
                other => panic!("{body:?} gave {other:?}"),
            }
        }
    }
}

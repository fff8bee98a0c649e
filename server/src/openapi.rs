//! The OpenAPI 3.1 document's frame and the error answers its operations share; the paths come from the handlers
//! themselves (see [`crate::router::api`]).
//!
//! Each shared answer is declared once, below, as a `components/responses` entry. [`add_common_responses`] adds
//! those that follow from an operation's shape (401, 400, 413, 415); a handler names the others it can give with
//! `(status = 404, response = NotFound)`, and describes only the answers particular to it.

use app::models::ErrorBody;
use utoipa::{
    Modify, OpenApi, ToResponse,
    openapi::{
        Ref, RefOr,
        path::Operation,
        security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        },
    },
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Task API",
        description = "Order services, move them through their statuses, follow them live and pay with Payme or \
                       Click. Money is integer tiyin; errors are `{detail, code, errors?}`; lists paginate with \
                       `limit`/`offset`. Authenticate with `Authorization: Bearer <access>` (or the browser's \
                       `task_access` cookie). A notification's `message` is written in the caller's chosen UI \
                       language (en, ru, uz), else the best match of `Accept-Language`, else English; live socket \
                       frames carry English.",
        license(name = "MIT"),
    ),
    modifiers(&Security),
    components(responses(
        InvalidInput,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
    )),
    tags(
        (name = "auth", description = "Sign-up, sign-in, tokens and the caller's profile"),
        (name = "users", description = "User management (admins)"),
        (name = "services", description = "The service catalogue"),
        (name = "orders", description = "Orders, their status machine, timeline and conversation"),
        (name = "notifications", description = "The caller's event feed"),
        (
            name = "channels",
            description = "Notifications away from the page: settings, Telegram, push subscriptions, the delivery log"
        ),
        (
            name = "payments",
            description = "Checkout, payment transactions, fiscal receipts and the Payme and Click webhooks"
        ),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "payme",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("Payme's server: `Paycom:<cashbox key>`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "telegram",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Telegram-Bot-Api-Secret-Token",
                "Telegram's server: the `secret_token` given to `setWebhook` (`TELEGRAM_WEBHOOK_SECRET`)",
            ))),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::extract::ACCESS_COOKIE,
            ))),
        );
    }
}

/// The document before the handlers' paths are merged in.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// 400 `invalid` or `parse_error`: added to every operation with a body or parameters.
#[derive(ToResponse)]
#[response(description = "Invalid input (`invalid` or `parse_error`)")]
pub struct InvalidInput(pub ErrorBody);

/// 401 `not_authenticated` or `token_invalid`: added to every operation that takes a bearer token.
#[derive(ToResponse)]
#[response(
    description = "Not authenticated (`not_authenticated`) or the token is not valid (`token_invalid`)"
)]
pub struct Unauthorized(pub ErrorBody);

/// 403 `permission_denied`.
#[derive(ToResponse)]
#[response(description = "The caller's role may not do this (`permission_denied`)")]
pub struct Forbidden(pub ErrorBody);

/// 404 `not_found`.
#[derive(ToResponse)]
#[response(description = "No such object, or not visible to the caller (`not_found`)")]
pub struct NotFound(pub ErrorBody);

/// 409 `conflict`.
#[derive(ToResponse)]
#[response(description = "The current state does not allow it (`conflict`)")]
pub struct Conflict(pub ErrorBody);

/// 413 `payload_too_large`: added to every operation with a body.
#[derive(ToResponse)]
#[response(description = "The body is over 64 KiB (`payload_too_large`)")]
pub struct PayloadTooLarge(pub ErrorBody);

/// 415 `unsupported_media_type`: added to every operation with a body.
#[derive(ToResponse)]
#[response(description = "The body is not `application/json` (`unsupported_media_type`)")]
pub struct UnsupportedMediaType(pub ErrorBody);

/// 429 `throttled`, for the rate-limited operations.
#[derive(ToResponse)]
#[response(
    description = "Rate limited (`throttled`); see `Retry-After`",
    headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))
)]
pub struct RateLimited(pub ErrorBody);

/// Where the payment providers call. Those operations always answer 200, with errors in each provider's own
/// format, so they get none of the shared answers.
const WEBHOOKS: &str = "/api/v1/payment/";

/// Adds to every operation the shared answers its shape implies, unless its handler lists that status itself:
/// 401 when it takes a bearer token, 400 when it has a body or parameters, 413 and 415 when it has a body.
pub fn add_common_responses(spec: &mut utoipa::openapi::OpenApi) {
    for (path, item) in &mut spec.paths.paths {
        if path.starts_with(WEBHOOKS) {
            continue;
        }
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add_common_to(operation);
        }
    }
}

fn add_common_to(operation: &mut Operation) {
    let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
    let authenticated = operation
        .security
        .as_ref()
        .is_some_and(|requirements| requirements.contains(&bearer));
    let has_body = operation.request_body.is_some();
    let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut add = |status: &str, (name, _): (&str, RefOr<utoipa::openapi::Response>)| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| Ref::from_response_name(name).into());
    };
    if authenticated {
        add("401", Unauthorized::response());
    }
    if has_body || has_params {
        add("400", InvalidInput::response());
    }
    if has_body {
        add("413", PayloadTooLarge::response());
        add("415", UnsupportedMediaType::response());
    }
}

//! The OpenAPI 3.1 document's frame; the paths come from the handlers themselves (see [`crate::router::api`]).

use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Task API",
        description = "Order services, move them through their statuses, follow them live and pay with Payme or \
                       Click. Money is integer tiyin; errors are `{detail, code, errors?}`; lists paginate with \
                       `limit`/`offset`. Authenticate with `Authorization: Bearer <access>` (or the browser's \
                       `task_access` cookie). A notification's `message` is written in the caller's chosen UI language (en, ru, \
                       uz), else the best match of `Accept-Language`, else English; live socket frames carry English.",
        license(name = "MIT"),
    ),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Sign-up, sign-in, tokens and the caller's profile"),
        (name = "users", description = "User management (admins)"),
        (name = "services", description = "The service catalogue"),
        (name = "orders", description = "Orders, their status machine, timeline and conversation"),
        (name = "notifications", description = "The caller's event feed"),
        (name = "payments", description = "Checkout, payment transactions, fiscal receipts and the Payme and Click webhooks"),
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

/// Adds the answers the extractors give on every operation that its handler does not list itself: 400 for a
/// malformed query, path or body, and 413 and 415 for bodies. The payment webhooks (always 200) are left alone.
pub fn add_common_responses(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    for (path, item) in &mut spec.paths.paths {
        if path.starts_with("/api/v1/payment/") {
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
            let has_body = operation.request_body.is_some();
            let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let mut add = |code: &str, description: &str| {
                operation
                    .responses
                    .responses
                    .entry(code.to_owned())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build()
                            .into()
                    });
            };
            if has_body || has_params {
                add("400", "Invalid input (`invalid` or `parse_error`)");
            }
            if has_body {
                add("413", "The body is over 64 KiB (`payload_too_large`)");
                add(
                    "415",
                    "The body is not `application/json` (`unsupported_media_type`)",
                );
            }
        }
    }
}

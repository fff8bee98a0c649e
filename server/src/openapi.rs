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
                       `task_access` cookie).",
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

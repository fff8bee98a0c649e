//! The service catalogue and its workers: server functions over [`crate::domain::services`].

use leptos::prelude::*;

use super::{ApiError, Listing};
use crate::models::{Offer, Service, UserSummary};
#[cfg(feature = "ssr")]
use {
    super::web::{actor, back_to, context, listing, window},
    crate::domain::services,
    crate::models::{CreateServiceInput, SetWorkersInput, UpdateServiceInput},
};

/// The services: active ones; admins may ask for all.
#[server(prefix = "/_fn", endpoint = "list_services")]
pub async fn list_services(page: i64, all: bool) -> Result<Listing<Service>, ApiError> {
    let active = (!all).then_some(true);
    let slice = services::list(&context()?, &actor()?, active, window(page)?).await?;
    Ok(listing(page, slice))
}

/// The catalogue: a page of active services, each with the workers a client may choose from.
#[server(prefix = "/_fn", endpoint = "list_catalogue")]
pub async fn list_catalogue(page: i64) -> Result<Listing<Offer>, ApiError> {
    let slice = services::catalogue(&context()?, &actor()?, window(page)?).await?;
    Ok(listing(page, slice))
}

/// An admin creates a service; the price is typed in so'm, the fiscal codes are optional (blank: none).
#[server(prefix = "/_fn", endpoint = "create_service")]
pub async fn create_service(
    name: String,
    description: String,
    price: String,
    #[server(default)] ikpu_code: String,
    #[server(default)] package_code: String,
    #[server(default)] vat_percent: String,
) -> Result<Service, ApiError> {
    let vat_percent = typed_vat(&vat_percent)?;
    let input = CreateServiceInput {
        name,
        description,
        price: services::som_to_tiyin("price", &price)?,
        is_active: true,
        ikpu_code: Some(ikpu_code),
        package_code: Some(package_code),
        vat_percent,
    };
    let service = services::create(&context()?, &actor()?, input).await?;
    leptos_axum::redirect(&back_to("/admin/services", None));
    Ok(service)
}

/// An admin sets a service's fiscal codes (a blank code clears it, a blank rate leaves it); a form post returns to
/// its page, saying it saved. The same change as `PATCH /api/v1/services/{id}` with those fields.
#[server(prefix = "/_fn", endpoint = "set_service_fiscal")]
pub async fn set_service_fiscal(
    id: i64,
    #[server(default)] ikpu_code: String,
    #[server(default)] package_code: String,
    #[server(default)] vat_percent: String,
) -> Result<Service, ApiError> {
    let input = UpdateServiceInput {
        ikpu_code: Some(Some(ikpu_code)),
        package_code: Some(Some(package_code)),
        vat_percent: typed_vat(&vat_percent)?,
        ..UpdateServiceInput::default()
    };
    let service = services::update(&context()?, &actor()?, id, input).await?;
    leptos_axum::redirect(&back_to(
        "/admin/services",
        Some(("saved", &id.to_string())),
    ));
    Ok(service)
}

/// A VAT rate as typed into a form: blank is none.
#[cfg(feature = "ssr")]
fn typed_vat(typed: &str) -> Result<Option<i32>, crate::domain::Error> {
    match typed.trim() {
        "" => Ok(None),
        typed => typed.parse::<i32>().map(Some).map_err(|_| {
            crate::domain::Error::field(
                "vat_percent",
                "The VAT rate is a whole percent from 0 to 100.",
            )
        }),
    }
}

/// An admin sets which workers do a service (a form post returns to its page, saying it saved).
#[server(prefix = "/_fn", endpoint = "set_service_workers")]
pub async fn set_service_workers(
    id: i64,
    #[server(default)] worker_ids: Vec<i64>,
) -> Result<Vec<UserSummary>, ApiError> {
    let input = SetWorkersInput { worker_ids };
    let workers = services::set_workers(&context()?, &actor()?, id, input).await?;
    leptos_axum::redirect(&back_to(
        "/admin/services",
        Some(("saved", &id.to_string())),
    ));
    Ok(workers)
}

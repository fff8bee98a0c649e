//! Accounts, for admins: server functions over [`crate::domain::users`].

use leptos::prelude::*;

use super::{ApiError, Listing};
use crate::models::{Role, RosterEntry, User};
#[cfg(feature = "ssr")]
use {
    super::web::{actor, back_to, context, listing, window},
    crate::domain::users,
    crate::models::{CreateUserInput, UpdateUserInput},
};

/// Users (admins), optionally of one role.
#[server(prefix = "/_fn", endpoint = "list_users")]
pub async fn list_users(page: i64, role: Option<Role>) -> Result<Listing<User>, ApiError> {
    let slice = users::list(&context()?, &actor()?, role, window(page)?).await?;
    Ok(listing(page, slice))
}

/// The admin's users page: users (optionally of one role), each with their PINFL/TIN.
#[server(prefix = "/_fn", endpoint = "list_roster")]
pub async fn list_roster(page: i64, role: Option<Role>) -> Result<Listing<RosterEntry>, ApiError> {
    let slice = users::roster(&context()?, &actor()?, role, window(page)?).await?;
    Ok(listing(page, slice))
}

/// An admin sets a worker's PINFL or TIN (blank clears it): the same change as `PATCH /api/v1/users/{id}
/// {"tax_id": …}`.
#[server(prefix = "/_fn", endpoint = "set_tax_id")]
pub async fn set_tax_id(id: i64, tax_id: String) -> Result<(), ApiError> {
    let input = UpdateUserInput {
        tax_id: Some(Some(tax_id)),
        ..UpdateUserInput::default()
    };
    users::update(&context()?, &actor()?, id, input).await?;
    leptos_axum::redirect(&back_to("/admin/users", None));
    Ok(())
}

/// An admin creates a user of any role (a form post returns to its page, naming the new account).
#[server(prefix = "/_fn", endpoint = "create_user")]
pub async fn create_user(
    username: String,
    password: String,
    role: Role,
    full_name: String,
) -> Result<User, ApiError> {
    let input = CreateUserInput {
        username,
        password,
        role,
        email: None,
        full_name: Some(full_name),
        phone: None,
    };
    let user = users::create(&context()?, &actor()?, input).await?;
    leptos_axum::redirect(&back_to("/admin/users", Some(("created", &user.username))));
    Ok(user)
}

/// An admin deactivates a user: their sessions and sockets end at once.
#[server(prefix = "/_fn", endpoint = "deactivate_user")]
pub async fn deactivate_user(id: i64) -> Result<(), ApiError> {
    users::deactivate(&context()?, &actor()?, id).await?;
    leptos_axum::redirect(&back_to("/admin/users", None));
    Ok(())
}

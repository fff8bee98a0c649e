//! The admin dashboard: a server function over [`crate::domain::dashboard`].

use leptos::prelude::*;

use super::ApiError;
#[cfg(feature = "ssr")]
use super::web::{actor, context};
use crate::models::Dashboard;

/// The admin dashboard's figures.
#[server(prefix = "/_fn", endpoint = "get_dashboard")]
pub async fn get_dashboard() -> Result<Dashboard, ApiError> {
    Ok(crate::domain::dashboard::get(&context()?, &actor()?).await?)
}

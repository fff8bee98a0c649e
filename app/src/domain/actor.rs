//! The authenticated caller of a domain operation.

use super::error::{Error, Result};
use crate::models::{Role, UserSummary};

/// The authenticated caller of a domain operation: who they are, loaded fresh from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: i64,
    pub role: Role,
    pub username: String,
    pub full_name: String,
    /// The user's session epoch: moved on by every change that ends all their sessions, so an access token of an
    /// earlier one is refused.
    pub session_epoch: i64,
}

impl Actor {
    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Fails with 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<()> {
        self.require(Role::Admin)
    }

    /// Fails with 403 unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<()> {
        if self.role == role {
            Ok(())
        } else {
            Err(Error::PermissionDenied)
        }
    }

    /// The caller as nested in other objects.
    pub fn summary(&self) -> UserSummary {
        UserSummary {
            id: self.id,
            username: self.username.clone(),
            full_name: self.full_name.clone(),
        }
    }
}

/// Parses a database text column into a wire enum; the column's check constraint makes a failure a bug.
pub fn parse_column<T>(value: &str) -> Result<T>
where
    T: std::str::FromStr<Err = crate::models::UnknownValue>,
{
    value.parse().map_err(|e: crate::models::UnknownValue| {
        Error::Internal(anyhow::anyhow!("bad stored value: {e}"))
    })
}

//! Limit/offset pagination (DRF style): parameters in, a counted slice out.

use serde::Deserialize;

use super::{Error, Result};

/// The default page size.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest page size; larger requests are capped to it.
pub const MAX_LIMIT: i64 = 100;

/// `?limit=&offset=` as given.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Checked pagination: `limit` in 1..=100, `offset` ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: i64,
    pub offset: i64,
}

impl PageParams {
    /// Validates the parameters: a limit below 1 or a negative offset is a 400; a limit over 100 is capped.
    pub fn window(self) -> Result<Window> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        let offset = self.offset.unwrap_or(0);
        if limit < 1 {
            return Err(Error::field("limit", "Must be at least 1."));
        }
        if offset < 0 {
            return Err(Error::field("offset", "Must not be negative."));
        }
        Ok(Window {
            limit: limit.min(MAX_LIMIT),
            offset,
        })
    }
}

/// One page of results and how many there are in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice<T> {
    pub count: i64,
    pub window: Window,
    pub results: Vec<T>,
}

impl<T> Slice<T> {
    /// Converts every result.
    pub fn try_map<U>(self, f: impl FnMut(T) -> Result<U>) -> Result<Slice<U>> {
        Ok(Slice {
            count: self.count,
            window: self.window,
            results: self.results.into_iter().map(f).collect::<Result<_>>()?,
        })
    }
}

//! Limit/offset pagination (DRF style): parameters in, a counted slice out.

use serde::Deserialize;

use super::{Error, Result};

/// The default page size.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest page size; larger requests are capped to it.
pub const MAX_LIMIT: i64 = 100;
/// The largest offset accepted (far beyond any list; it keeps `offset + limit` and every bound derived from it
/// inside `bigint`).
pub const MAX_OFFSET: i64 = 1_000_000_000;

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
    /// Validates the parameters (see [`Window::new`]); a missing limit is [`DEFAULT_LIMIT`], a missing offset 0.
    pub fn window(self) -> Result<Window> {
        Window::new(
            self.limit.unwrap_or(DEFAULT_LIMIT),
            self.offset.unwrap_or(0),
        )
    }
}

impl Window {
    /// The one way to a window, whatever way in asked for it: a limit below 1, a negative offset or one over
    /// [`MAX_OFFSET`] is a 400; a limit over [`MAX_LIMIT`] is capped.
    pub fn new(limit: i64, offset: i64) -> Result<Self> {
        if limit < 1 {
            return Err(Error::field("limit", "Must be at least 1."));
        }
        if offset < 0 {
            return Err(Error::field("offset", "Must not be negative."));
        }
        if offset > MAX_OFFSET {
            return Err(Error::field(
                "offset",
                format!("Must be at most {MAX_OFFSET}."),
            ));
        }
        Ok(Self {
            limit: limit.min(MAX_LIMIT),
            offset,
        })
    }

    /// Page `page` (from 1; anything lower is the first) of `size` rows.
    pub fn page(page: i64, size: i64) -> Result<Self> {
        Self::new(size, (page.max(1) - 1).saturating_mul(size))
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

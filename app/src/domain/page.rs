//! Limit/offset pagination (DRF style): parameters in, a counted slice out.
//!
//! A list writes its filter once. Its query names the filtered rows in a `not materialized` CTE and selects the
//! page from it together with their number, `(select count(*) from hit) as "total!"`: Postgres inlines both uses,
//! so it counts and finds the page (down an index in id order where it can) as two queries would, in one round
//! trip. [`counted`] takes the total from the page's rows, and asks again only for a page past the end.

use std::future::Future;

use serde::Deserialize;
use sqlx::{PgPool, Postgres, Transaction};

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
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Slice<U> {
        Slice {
            count: self.count,
            window: self.window,
            results: self.results.into_iter().map(f).collect(),
        }
    }

    /// Converts every result, or fails with the first failure.
    pub fn try_map<U>(self, f: impl FnMut(T) -> Result<U>) -> Result<Slice<U>> {
        Ok(Slice {
            count: self.count,
            window: self.window,
            results: self.results.into_iter().map(f).collect::<Result<_>>()?,
        })
    }
}

/// A list's page with the number of rows its filter matches. `fetch` runs the list's one query for a window and
/// returns each row with that total (see the module doc). A page past the end has no row to carry it, so then
/// `fetch` is asked again, for the first row.
pub async fn counted<R, F, Fut>(window: Window, fetch: F) -> Result<Slice<R>>
where
    F: Fn(Window) -> Fut,
    Fut: Future<Output = Result<Vec<(i64, R)>>>,
{
    let rows = fetch(window).await?;
    let count = match rows.first() {
        Some((total, _)) => *total,
        None if window.offset > 0 => {
            let first = Window {
                limit: 1,
                offset: 0,
            };
            fetch(first).await?.first().map_or(0, |(total, _)| *total)
        }
        None => 0,
    };
    Ok(Slice {
        count,
        window,
        results: rows.into_iter().map(|(_, row)| row).collect(),
    })
}

/// A list's page when its count may be known before the page is read (from a maintained tally): `fetch(window,
/// from_tail)` reads `window` of the list in its own order, or, with `from_tail`, of the list read from its other
/// end, and returns each row with the total (`known` where given). With the count known, a page past the end costs
/// nothing and a page in the list's far half is read from the far end, so the last page of a million rows costs
/// what the first does; without it, the page is read as [`counted`] reads it.
pub async fn counted_from_nearer_end<R, F, Fut>(
    window: Window,
    known: Option<i64>,
    fetch: F,
) -> Result<Slice<R>>
where
    F: Fn(Window, bool) -> Fut,
    Fut: Future<Output = Result<Vec<(i64, R)>>>,
{
    let Some(count) = known else {
        return counted(window, |window| fetch(window, false)).await;
    };
    if window.offset >= count {
        return Ok(Slice {
            count,
            window,
            results: Vec::new(),
        });
    }
    let left = count - window.offset;
    let take = window.limit.min(left);
    let from_tail = left - take;
    let results = if from_tail < window.offset {
        let mut rows = fetch(
            Window {
                limit: take,
                offset: from_tail,
            },
            true,
        )
        .await?;
        rows.reverse();
        rows
    } else {
        fetch(window, false).await?
    };
    Ok(Slice {
        count,
        window,
        results: results.into_iter().map(|(_, row)| row).collect(),
    })
}

/// A transaction whose statements are planned for their parameters each time they run. A list's query
/// has optional filters (`$n is null or column = $n`) and one gated branch per role and per end; a plan cached for
/// any parameters cannot know which of them are off, so it estimates every filter as selective and sorts a whole
/// scope where a plan for these parameters (filters and dead branches folded away) reads a page down an index.
/// Planning each time costs about a millisecond.
pub async fn planned_for_its_parameters(db: &PgPool) -> Result<Transaction<'static, Postgres>> {
    let mut tx = db.begin().await?;
    sqlx::query!(r#"select set_config('plan_cache_mode', 'force_custom_plan', true) as "mode!""#)
        .fetch_one(&mut *tx)
        .await?;
    Ok(tx)
}

/// Splits the records of a list's `query!` into their `total` and a row struct made of the named columns:
/// `counted_rows!(records => UserRow { id, username })`. (A `query_as!` row type would need a `total` field that
/// every other query of it would have to fill.)
macro_rules! counted_rows {
    ($records:expr => $row:ident { $($column:ident),+ $(,)? }) => {
        $records
            .into_iter()
            .map(|r| (r.total, $row { $($column: r.$column),+ }))
            .collect::<Vec<_>>()
    };
}
pub(crate) use counted_rows;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A list of `total` rows numbered from 0, as a list query would page it; records the windows asked for.
    fn list(
        total: i64,
        asked: &Mutex<Vec<Window>>,
    ) -> impl Fn(Window) -> std::future::Ready<Result<Vec<(i64, i64)>>> {
        move |window| {
            asked
                .lock()
                .expect("the test does not panic while holding the lock")
                .push(window);
            let rows = (window.offset..total).take(usize::try_from(window.limit).unwrap_or(0));
            std::future::ready(Ok(rows.map(|row| (total, row)).collect()))
        }
    }

    fn window(limit: i64, offset: i64) -> Window {
        Window { limit, offset }
    }

    #[tokio::test]
    async fn a_page_takes_its_count_from_its_rows_in_one_query() {
        let asked = Mutex::new(Vec::new());
        let slice = counted(window(2, 1), list(5, &asked))
            .await
            .expect("the list cannot fail");
        assert_eq!((slice.count, slice.results), (5, vec![1, 2]));
        assert_eq!(*asked.lock().unwrap(), vec![window(2, 1)]);
    }

    #[tokio::test]
    async fn a_page_past_the_end_asks_for_the_first_row_to_learn_the_count() {
        let asked = Mutex::new(Vec::new());
        let slice = counted(window(2, 7), list(5, &asked))
            .await
            .expect("the list cannot fail");
        assert_eq!((slice.count, slice.results), (5, vec![]));
        assert_eq!(*asked.lock().unwrap(), vec![window(2, 7), window(1, 0)]);
    }

    /// The same list read through [`counted_from_nearer_end`]: `fetch(window, true)` reads it from its end.
    fn two_ended(
        total: i64,
        asked: &Mutex<Vec<(Window, bool)>>,
    ) -> impl Fn(Window, bool) -> std::future::Ready<Result<Vec<(i64, i64)>>> {
        move |window, from_tail| {
            asked
                .lock()
                .expect("no panic while held")
                .push((window, from_tail));
            let order: Vec<i64> = if from_tail {
                (0..total).rev().collect()
            } else {
                (0..total).collect()
            };
            let rows = order
                .into_iter()
                .skip(usize::try_from(window.offset).unwrap_or(usize::MAX))
                .take(usize::try_from(window.limit).unwrap_or(0));
            std::future::ready(Ok(rows.map(|row| (total, row)).collect()))
        }
    }

    #[tokio::test]
    async fn with_the_count_known_every_page_equals_the_counted_one_and_reads_at_most_limit_rows_from_its_end()
     {
        for total in [0, 1, 2, 5, 6, 7, 40] {
            for limit in [1, 2, 3, 5, 100] {
                for offset in 0..=total + 2 {
                    let w = window(limit, offset);
                    let plain = counted(w, list(total, &Mutex::new(Vec::new())))
                        .await
                        .expect("cannot fail");
                    let asked = Mutex::new(Vec::new());
                    let ended = counted_from_nearer_end(w, Some(total), two_ended(total, &asked))
                        .await
                        .expect("cannot fail");
                    assert_eq!(ended, plain, "total {total}, {w:?}");
                    let asked = asked.into_inner().unwrap();
                    assert!(asked.len() <= 1, "total {total}, {w:?}: {asked:?}");
                    for (read, _) in asked {
                        // Read from the nearer end: never more rows skipped than half the list.
                        assert!(
                            read.offset <= total / 2,
                            "total {total}, {w:?} read {read:?}"
                        );
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn with_the_count_unknown_a_page_is_read_from_the_head_and_counted() {
        let asked = Mutex::new(Vec::new());
        let slice = counted_from_nearer_end(window(2, 3), None, two_ended(5, &asked))
            .await
            .expect("cannot fail");
        assert_eq!((slice.count, slice.results), (5, vec![3, 4]));
        assert_eq!(*asked.lock().unwrap(), vec![(window(2, 3), false)]);
    }

    #[tokio::test]
    async fn an_empty_list_counts_zero_whatever_the_offset() {
        for offset in [0, 3] {
            let asked = Mutex::new(Vec::new());
            let slice = counted(window(2, offset), list(0, &asked))
                .await
                .expect("the list cannot fail");
            assert_eq!((slice.count, slice.results), (0, vec![]), "offset {offset}");
            let expected = if offset == 0 { 1 } else { 2 };
            assert_eq!(asked.lock().unwrap().len(), expected, "offset {offset}");
        }
    }
}

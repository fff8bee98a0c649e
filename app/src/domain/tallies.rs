//! Maintained counts: how many orders are in each status (of all, and of each service), notifications of each
//! kind, transactions of each provider and status, orders and revenue per day. Statement triggers keep them, in the
//! transaction of every change to those tables (migrations `20261217000001_tallies`, which also says why they are
//! written as deltas, and `20261224000001_service_tallies_client_indexes`), so a list's `count`, an admin's unread
//! badge and the dashboard read a handful of rows instead of the history.

use std::collections::HashMap;

use sqlx::PgPool;

use super::{Result, context::Context, watermark};

/// A tally's value: how many, and their amount in tiyin where it counts money.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub n: i64,
    pub amount: i64,
}

/// Every tally whose key starts with `prefix` (`"orders:"`), by the rest of its key (`"pending"`). A key without
/// rows is absent, i.e. zero.
pub async fn under(db: &PgPool, prefix: &str) -> Result<HashMap<String, Tally>> {
    let rows = sqlx::query!(
        r#"select key as "key!", n as "n!", amount as "amount!" from tally_values($1)"#,
        prefix
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let rest = r.key.strip_prefix(prefix)?.to_owned();
            Some((
                rest,
                Tally {
                    n: r.n,
                    amount: r.amount,
                },
            ))
        })
        .collect())
}

/// The sum of every tally under `prefix` whose rest of key passes `keep`.
pub async fn sum(db: &PgPool, prefix: &str, keep: impl Fn(&str) -> bool) -> Result<Tally> {
    Ok(under(db, prefix)
        .await?
        .into_iter()
        .filter(|(rest, _)| keep(rest))
        .fold(Tally::default(), |acc, (_, t)| Tally {
            n: acc.n + t.n,
            amount: acc.amount + t.amount,
        }))
}

/// Folds the deltas written since the last fold into the tallies (the server does it four times a second, so a
/// tally reads its row and at most a quarter of a second's deltas). Returns how many deltas it folded.
pub async fn fold(ctx: &Context) -> Result<i64> {
    Ok(sqlx::query_scalar!(r#"select fold_tallies() as "n!""#)
        .fetch_one(&ctx.db)
        .await?)
}

/// Ids of notifications a roll-up covers per transaction, so that one after a bulk load stays short.
const ROLL_UP_BATCH: i64 = 200_000;

/// Rolls the clients' and workers' feed sizes (`feed_sizes`, migration `20261224000002_feed_sizes`) up to a stable
/// watermark: the live feed's, or one read from the database. The sizes are not written with each event, which
/// would cost every order placed; a reader adds the events above the mark. Returns how many ids it covered.
pub async fn roll_up_feed_sizes(ctx: &Context) -> Result<i64> {
    let upto = watermark::current(ctx).await?;
    let mut covered = 0;
    loop {
        let n = sqlx::query_scalar!(
            r#"select roll_up_feed_sizes($1, $2) as "n!""#,
            upto,
            ROLL_UP_BATCH
        )
        .fetch_one(&ctx.db)
        .await?;
        covered += n;
        if n < ROLL_UP_BATCH {
            return Ok(covered);
        }
    }
}

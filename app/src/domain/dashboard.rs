//! The admin dashboard's figures: orders by status, and orders and revenue per day (Tashkent days).

use super::{Actor, Result, context::Context, users, watermark};
use crate::models::{Dashboard, DayFigures, OrderStatus, StatusCount};

/// How many days the per-day series cover, today included.
pub const DAYS: i32 = 14;

/// The dashboard, for admins. Every figure comes from the maintained tallies: a handful of rows, whatever the
/// history. They are read as of a feed id (`as_of`), so that a page counting on from the live feed's frames counts
/// each event once: holding the feed's lock exclusively (which waits for the events being recorded to commit, and
/// makes new ones wait), the last id allocated is taken and then every figure in one statement, whose snapshot
/// holds exactly the events up to that id. The lock is held for that one read, about a millisecond.
pub async fn get(ctx: &Context, actor: &Actor) -> Result<Dashboard> {
    actor.require_admin()?;
    let mut tx = ctx.db.begin().await?;
    let as_of = watermark::hold(&mut tx).await?;
    // Both series over the same calendar of days, so a day without orders or payments still shows as zero. A
    // day's key is a prefix of no other key, so each reads that day's tally alone.
    let figures = sqlx::query!(
        r#"
        with days as (
            select generate_series(
                (now() at time zone 'Asia/Tashkent')::date - ($1::int - 1),
                (now() at time zone 'Asia/Tashkent')::date,
                interval '1 day')::date as day
        ), series as (
            select d.day,
                   coalesce((select sum(n) from tally_values('orders_on:' || to_char(d.day, 'YYYY-MM-DD'))), 0)
                       ::bigint as orders,
                   coalesce((select sum(amount) from tally_values('revenue_on:' || to_char(d.day, 'YYYY-MM-DD'))),
                       0)::bigint as revenue
            from days d
        )
        select (select jsonb_object_agg(substr(key, length('orders:') + 1), n) from tally_values('orders:'))
                   as "by_status",
               (select coalesce(sum(amount), 0) from tally_values('transactions:') where key like '%:confirmed')
                   ::bigint as "revenue!",
               array(select day from series order by day) as "days!",
               array(select orders from series order by day) as "orders!",
               array(select revenue from series order by day) as "revenues!"
        "#,
        DAYS
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let counts: std::collections::HashMap<String, i64> = figures
        .by_status
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| super::Error::Internal(e.into()))?
        .unwrap_or_default();
    let by_status = OrderStatus::ALL
        .iter()
        .map(|&status| StatusCount {
            status,
            count: counts.get(status.as_str()).copied().unwrap_or(0),
        })
        .collect();
    let days = figures
        .days
        .into_iter()
        .zip(figures.orders)
        .zip(figures.revenues)
        .map(|((day, orders), revenue)| DayFigures {
            day,
            orders,
            revenue,
        })
        .collect();
    Ok(Dashboard {
        by_status,
        days,
        revenue: figures.revenue,
        users: users::stats(ctx, actor).await?,
        as_of,
    })
}

//! The admin dashboard's figures: orders by status, and orders and revenue per day (Tashkent days).

use super::{Actor, Result, context::Context, tallies, users};
use crate::models::{Dashboard, DayFigures, OrderStatus, StatusCount};

/// How many days the per-day series cover, today included.
pub const DAYS: i32 = 14;

/// The dashboard, for admins. Every figure comes from the maintained [`tallies`]: a handful of rows, whatever
/// the history.
pub async fn get(ctx: &Context, actor: &Actor) -> Result<Dashboard> {
    let db = &ctx.db;
    actor.require_admin()?;
    let counts = tallies::under(db, "orders:").await?;
    let by_status = OrderStatus::ALL
        .iter()
        .map(|&status| StatusCount {
            status,
            count: counts.get(status.as_str()).map_or(0, |t| t.n),
        })
        .collect();
    // Both series over the same calendar of days, so a day without orders or payments still shows as zero.
    let days = sqlx::query!(
        r#"
        with days as (
            select generate_series(
                (now() at time zone 'Asia/Tashkent')::date - ($1::int - 1),
                (now() at time zone 'Asia/Tashkent')::date,
                interval '1 day')::date as day
        )
        select d.day as "day!",
               -- A day's key is a prefix of no other key, so each reads that day's tally alone.
               coalesce((select sum(n) from tally_values('orders_on:' || to_char(d.day, 'YYYY-MM-DD'))), 0)::bigint
                   as "orders!",
               coalesce((select sum(amount) from tally_values('revenue_on:' || to_char(d.day, 'YYYY-MM-DD'))), 0)
                   ::bigint as "revenue!"
        from days d order by d.day
        "#,
        DAYS
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| DayFigures {
        day: r.day,
        orders: r.orders,
        revenue: r.revenue,
    })
    .collect();
    let revenue = tallies::sum(db, "transactions:", |rest| rest.ends_with(":confirmed"))
        .await?
        .amount;
    Ok(Dashboard {
        by_status,
        days,
        revenue,
        users: users::stats(ctx, actor).await?,
    })
}

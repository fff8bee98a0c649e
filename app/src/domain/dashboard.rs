//! The admin dashboard's figures: orders by status, and orders and revenue per day (Tashkent days).

use super::{Actor, Result, context::Context, users};
use crate::models::{Dashboard, DayFigures, OrderStatus, StatusCount};

/// How many days the per-day series cover, today included.
pub const DAYS: i32 = 14;

/// The dashboard, for admins.
pub async fn get(ctx: &Context, actor: &Actor) -> Result<Dashboard> {
    let db = &ctx.db;
    actor.require_admin()?;
    let counts =
        sqlx::query!(r#"select status as "status!", count(*) as "n!" from orders group by status"#)
            .fetch_all(db)
            .await?;
    let by_status = OrderStatus::ALL
        .iter()
        .map(|&status| {
            let count = counts
                .iter()
                .find(|r| r.status == status.as_str())
                .map_or(0, |r| r.n);
            StatusCount { status, count }
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
               (select count(*) from orders o
                 where (o.created_at at time zone 'Asia/Tashkent')::date = d.day) as "orders!",
               (select coalesce(sum(t.amount), 0)::bigint from transactions t
                 where t.status = 'confirmed'
                   and (t.performed_at at time zone 'Asia/Tashkent')::date = d.day) as "revenue!"
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
    let revenue = sqlx::query_scalar!(
        r#"select coalesce(sum(amount), 0)::bigint as "n!" from transactions where status = 'confirmed'"#
    )
    .fetch_one(db)
    .await?;
    Ok(Dashboard {
        by_status,
        days,
        revenue,
        users: users::stats(ctx, actor).await?,
    })
}

//! The growth step: `bench/sql/grow.sql` run at a scale on the bench's database, then `vacuum analyze`, with what
//! it took and what the database then holds.

use std::time::Instant;

use anyhow::Context as _;
use sqlx::PgPool;

/// The growth script, run as one batch (it is one transaction).
const GROW_SQL: &str = include_str!("../../sql/grow.sql");

/// The tables the growth step writes, analyzed and vacuumed after it (the visibility map lets index-only scans
/// skip the heap, as autovacuum would have arranged on a live database).
const GROWN_TABLES: &str = "users, services, service_workers, orders, transactions, order_messages, \
                            notifications, notification_reads";

/// A population to load: the script's parameters (`grow.*` settings).
#[derive(Debug, Clone)]
pub struct Scale {
    /// Names the population's users (`<tag>_client_1`) and services.
    pub tag: &'static str,
    pub admins: u32,
    pub workers: u32,
    pub clients: u32,
    pub services: u32,
    pub orders: u32,
    /// The days the orders are spread over, up to now.
    pub days: u32,
}

impl Scale {
    /// The small database: about a thousand orders.
    pub fn small() -> Self {
        Self {
            tag: "small",
            admins: 2,
            workers: 20,
            clients: 200,
            services: 5,
            orders: 1000,
            days: 90,
        }
    }

    /// The large database at `factor` (1.0: a million orders over 20 000 clients, 500 workers, 5 admins and 50
    /// services; a smaller factor scales the orders, clients and workers down, for trying the phase out).
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "factor is a positive fraction of counts well inside u32"
    )]
    pub fn large(factor: f64) -> Self {
        let scaled = |n: f64| (n * factor).round().max(1.0) as u32;
        Self {
            tag: "large",
            admins: 5,
            workers: scaled(500.0).max(50),
            clients: scaled(20_000.0),
            services: 50,
            orders: scaled(1_000_000.0),
            days: 90,
        }
    }

    /// The script's settings.
    fn settings(&self) -> [(&'static str, String); 7] {
        [
            ("grow.tag", self.tag.to_owned()),
            ("grow.admins", self.admins.to_string()),
            ("grow.workers", self.workers.to_string()),
            ("grow.clients", self.clients.to_string()),
            ("grow.services", self.services.to_string()),
            ("grow.orders", self.orders.to_string()),
            ("grow.days", self.days.to_string()),
        ]
    }
}

/// What one growth step took and what the database held after it.
#[derive(Debug, Clone)]
pub struct Growth {
    /// The population loaded.
    pub scale: Scale,
    /// Seconds the script took (the load, in one transaction).
    pub load_seconds: f64,
    /// Seconds `vacuum analyze` took after it.
    pub vacuum_seconds: f64,
    /// Rows in each table afterwards: `(what they are, rows)`.
    pub rows: Vec<(&'static str, i64)>,
    /// Confirmed transactions afterwards.
    pub confirmed: i64,
    /// The database's size afterwards (bytes).
    pub bytes: i64,
}

/// Loads `scale` with `bench/sql/grow.sql` on its own connection, then vacuums and analyzes what it wrote.
pub async fn grow(db: &PgPool, scale: &Scale) -> anyhow::Result<Growth> {
    let mut conn = db.acquire().await?;
    for (name, value) in scale.settings() {
        sqlx::query("select set_config($1, $2, false)")
            .bind(name)
            .bind(value)
            .execute(&mut *conn)
            .await?;
    }
    let started = Instant::now();
    sqlx::raw_sql(GROW_SQL)
        .execute(&mut *conn)
        .await
        .with_context(|| format!("bench/sql/grow.sql failed at {scale:?}"))?;
    let load_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    sqlx::raw_sql(&format!("vacuum (analyze) {GROWN_TABLES}"))
        .execute(&mut *conn)
        .await
        .context("vacuum analyze after the growth step failed")?;
    let vacuum_seconds = started.elapsed().as_secs_f64();
    // The settings were the session's: this connection is not handed back to the pool.
    conn.close().await?;

    let mut rows = Vec::new();
    for (table, label) in [
        ("users", "users"),
        ("orders", "orders"),
        ("notifications", "notifications"),
        ("notification_reads", "notifications read one by one"),
        ("transactions", "transactions"),
        ("order_messages", "messages"),
    ] {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(db)
            .await?;
        rows.push((label, n));
    }
    let confirmed =
        sqlx::query_scalar("select count(*) from transactions where status = 'confirmed'")
            .fetch_one(db)
            .await?;
    let bytes = sqlx::query_scalar("select pg_database_size(current_database())")
        .fetch_one(db)
        .await?;
    Ok(Growth {
        scale: scale.clone(),
        load_seconds,
        vacuum_seconds,
        rows,
        confirmed,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_large_scale_is_the_issue_population_and_shrinks_by_its_factor() {
        let full = Scale::large(1.0);
        assert_eq!(
            (
                full.orders,
                full.clients,
                full.workers,
                full.admins,
                full.services
            ),
            (1_000_000, 20_000, 500, 5, 50)
        );
        let tried = Scale::large(0.01);
        assert_eq!((tried.orders, tried.clients), (10_000, 200));
        assert!(
            tried.workers >= tried.services,
            "every service keeps a worker"
        );
    }

    #[test]
    fn every_setting_is_one_the_script_reads() {
        for (name, _) in Scale::small().settings() {
            assert!(
                GROW_SQL.contains(&format!("current_setting('{name}', true)")),
                "{name} is not read by bench/sql/grow.sql"
            );
        }
    }
}

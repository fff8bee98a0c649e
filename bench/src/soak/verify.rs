//! The invariants checked after the run, against the tally of answers, the database, and what every socket
//! received; and the lines `scripts/test.sh` reads (`soak: N passed, N failed`).

use std::{
    collections::{HashMap, HashSet},
    sync::atomic::{AtomicU64, Ordering},
};

use anyhow::ensure;
use sqlx::PgPool;

use super::{
    ctx::{Ctx, Tally},
    socket::Listener,
};
use crate::Args;

/// Order statuses that mean the order was paid.
const PAID: [&str; 3] = ["paid", "in_process", "completed"];

/// Checks every invariant and prints the run's summary and the verdict; an error when any invariant failed.
pub async fn verify(
    args: &Args,
    ctx: &Ctx,
    pool: &PgPool,
    listeners: &[Listener],
) -> anyhow::Result<()> {
    let mut invariants = Invariants::default();
    invariants.check(
        "no 5xx answer but 503 while a dependency restarted",
        server_errors(&ctx.tally).await,
    );
    invariants.check(
        "every paid order has exactly one confirmed transaction",
        payments(pool).await?,
    );
    let sockets = SocketsCheck::run(pool, listeners).await?;
    invariants.check_all(
        "every socket received its events once and in order",
        sockets.failures,
    );
    let counts = orders_by_status(pool).await?;
    let tally = |count: &AtomicU64| count.load(Ordering::Relaxed);
    println!(
        "soak: {} s, 2 instances, {} clients: {} requests ({} answered 503 and {} found no server while a \
         dependency restarted, {} other 5xx), orders by status {counts:?}, {} frames on {} sockets \
         ({} reconnects, {} missing)",
        args.duration,
        args.clients,
        tally(&ctx.tally.requests),
        tally(&ctx.tally.unavailable),
        tally(&ctx.tally.failed_connections),
        tally(&ctx.tally.server_errors),
        sockets.frames,
        listeners.len(),
        sockets.reconnects,
        sockets.missing,
    );
    let paid: i64 = PAID
        .iter()
        .map(|status| counts.get(*status).copied().unwrap_or(0))
        .sum();
    invariants.check(
        "orders were paid",
        (paid == 0).then(|| "no order was paid: the run proved nothing".to_owned()),
    );
    invariants.report()
}

/// The run's invariants as they were checked: each one's name and, when it does not hold, what broke it.
#[derive(Default)]
struct Invariants(Vec<(&'static str, Vec<String>)>);

impl Invariants {
    /// Records one invariant; it holds when `broken` is `None`.
    fn check(&mut self, name: &'static str, broken: Option<String>) {
        self.check_all(name, broken.into_iter().collect());
    }

    /// Records one invariant; it holds when `broken` is empty.
    fn check_all(&mut self, name: &'static str, broken: Vec<String>) {
        self.0.push((name, broken));
    }

    /// Prints what broke each failed invariant, then the tally (`soak: N passed, N failed`) of the invariants
    /// checked; an error when any failed.
    fn report(&self) -> anyhow::Result<()> {
        let failed = self
            .0
            .iter()
            .filter(|(_, broken)| !broken.is_empty())
            .count();
        for (name, broken) in &self.0 {
            for why in broken {
                println!("soak: FAILED {name}: {why}");
            }
        }
        println!("soak: {} passed, {failed} failed", self.0.len() - failed);
        ensure!(failed == 0, "{failed} soak invariants failed");
        Ok(())
    }
}

/// No answer was a 5xx other than 503 (a dependency unavailable while it restarts).
async fn server_errors(tally: &Tally) -> Option<String> {
    let server_errors = tally.server_errors.load(Ordering::Relaxed);
    if server_errors == 0 {
        return None;
    }
    Some(format!(
        "{server_errors} answers were 5xx other than 503: {:?}",
        tally.errors.lock().await.iter().take(5).collect::<Vec<_>>()
    ))
}

/// Every paid order has exactly one confirmed transaction, every confirmed transaction's order is paid or
/// further, and no order was announced paid twice.
async fn payments(pool: &PgPool) -> anyhow::Result<Option<String>> {
    let doubly_paid: i64 = sqlx::query_scalar(
        "select count(*) from (
           select order_id from transactions where status = 'confirmed' group by order_id having count(*) > 1
         ) t",
    )
    .fetch_one(pool)
    .await?;
    let paid_without: i64 = sqlx::query_scalar(
        "select count(*) from orders o where o.status in ('paid', 'in_process', 'completed')
         and (select count(*) from transactions t where t.order_id = o.id and t.status = 'confirmed') <> 1",
    )
    .fetch_one(pool)
    .await?;
    let confirmed_unpaid: i64 = sqlx::query_scalar(
        "select count(*) from transactions t join orders o on o.id = t.order_id
         where t.status = 'confirmed' and o.status not in ('paid', 'in_process', 'completed')",
    )
    .fetch_one(pool)
    .await?;
    let announced_twice: i64 = sqlx::query_scalar(
        "select count(*) from (
           select order_id from notifications where kind = 'payment_confirmed'
           group by order_id having count(*) > 1
         ) t",
    )
    .fetch_one(pool)
    .await?;
    Ok(
        (doubly_paid + paid_without + confirmed_unpaid + announced_twice > 0).then(|| {
            format!(
                "payments: {doubly_paid} orders confirmed twice, {paid_without} paid orders without exactly one \
                 confirmed transaction, {confirmed_unpaid} confirmed transactions on unpaid orders, \
                 {announced_twice} orders announced paid twice"
            )
        }),
    )
}

/// What the sockets received against what they should have.
struct SocketsCheck {
    /// Notifications received, on all sockets.
    frames: usize,
    /// Reconnects, on all sockets.
    reconnects: u32,
    /// Notifications not received, on all sockets.
    missing: usize,
    /// One per socket that did not receive exactly what it should have.
    failures: Vec<String>,
}

impl SocketsCheck {
    /// Every socket received every event its user may see, committed after it first connected, exactly once and
    /// in id order, across its reconnects.
    async fn run(pool: &PgPool, listeners: &[Listener]) -> anyhow::Result<Self> {
        let mut check = Self {
            frames: 0,
            reconnects: 0,
            missing: 0,
            failures: Vec::new(),
        };
        for listener in listeners {
            let expected: Vec<i64> = sqlx::query_scalar(
                "select id from visible_notifications($3, $2) where id > $1 order by id",
            )
            .bind(listener.start)
            .bind(listener.user_id)
            .bind(listener.role)
            .fetch_all(pool)
            .await?;
            check.frames += listener.ids.len();
            check.reconnects += listener.reconnects;
            if expected != listener.ids {
                let got: HashSet<_> = listener.ids.iter().collect();
                let missing = expected.iter().filter(|id| !got.contains(id)).count();
                check.missing += missing;
                check.failures.push(format!(
                    "socket of {} {}: expected {} events, received {} ({missing} missing)",
                    listener.role,
                    listener.user_id,
                    expected.len(),
                    listener.ids.len()
                ));
            }
        }
        Ok(check)
    }
}

/// How many orders are in each status.
async fn orders_by_status(pool: &PgPool) -> anyhow::Result<HashMap<String, i64>> {
    Ok(
        sqlx::query_as::<_, (String, i64)>("select status, count(*) from orders group by status")
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect(),
    )
}

//! The report `scripts/bench.sh` writes to `docs/benchmarks.md`: a Markdown table per benchmark, and the curves
//! for the plot.

use std::{collections::HashMap, fmt::Write as _};

use crate::{
    channels::ChannelsRun,
    feed::FeedRun,
    live::LiveRun,
    pages::{Growth, Measured, PagesRun, Timing},
    plot::Curve,
    rest::{Operation, RestRun},
    stats::percentiles,
    storm::StormRun,
};

/// The pages phase's targets on the large database: the median and the slowest run of each read (ms), and its
/// median against its own on the small database.
const PAGE_MEDIAN_MS: f64 = 30.0;
const PAGE_SLOWEST_MS: f64 = 60.0;
const PAGE_GROWTH: f64 = 2.0;
/// The reconnect storm's targets: the last socket caught up within this many seconds of the storm's start, and
/// order creation's p99 meanwhile (ms).
const STORM_CAUGHT_UP_S: f64 = 5.0;
const STORM_ORDER_P99_MS: f64 = 100.0;
/// The live pages' target: the server's CPU, in cores.
const LIVE_CORES: f64 = 0.5;
/// The channels' targets: the delivery lag's p99 (ms), and order creation's p99 meanwhile (ms).
const CHANNEL_LAG_P99_MS: f64 = 2000.0;
const CHANNEL_ORDER_P99_MS: f64 = 50.0;

/// The PostgreSQL ceiling for order creation's transaction, in transactions per second by concurrency.
pub struct Ceiling(HashMap<usize, f64>);

impl Ceiling {
    /// Reads the output of `shared/bench/pg_ceiling.sh` (lines ending `concurrency C: T tps`); other lines, or
    /// none at all, leave it empty.
    pub fn parse(output: &str) -> Self {
        Self(
            output
                .lines()
                .filter_map(|line| {
                    let (left, tps) = line.rsplit_once(": ")?;
                    let c = left.rsplit_once("concurrency ")?.1.parse().ok()?;
                    Some((c, tps.trim_end_matches(" tps").parse().ok()?))
                })
                .collect(),
        )
    }
}

/// The tables written so far and every run's latency curve.
#[derive(Default)]
pub struct Report {
    /// The Markdown tables.
    pub text: String,
    /// One latency-by-percentile curve per run, in the order of the runs.
    pub curves: Vec<Curve>,
}

impl Report {
    /// Starts the REST table.
    pub fn rest_header(&mut self) -> std::fmt::Result {
        writeln!(self.text, "### REST\n")?;
        writeln!(
            self.text,
            "| operation | concurrency | requests/s | p50 (ms) | p99 (ms) | errors | PostgreSQL ceiling (tps) | \
             share of ceiling |"
        )?;
        writeln!(self.text, "|---|---:|---:|---:|---:|---:|---:|---:|")
    }

    /// Adds a REST run at concurrency `c`: its row (with its share of the ceiling, where one was measured) and its
    /// curve.
    pub fn rest_run(
        &mut self,
        operation: Operation,
        c: usize,
        run: &RestRun,
        ceiling: &Ceiling,
    ) -> std::fmt::Result {
        let name = operation.name();
        self.curves
            .push((format!("{name}, c={c}"), percentiles(&run.latencies)));
        let (ceil, share) = match ceiling.0.get(&c).filter(|_| operation.has_ceiling()) {
            Some(t) => (format!("{t:.0}"), format!("{:.0} %", 100.0 * run.rate / t)),
            None => ("–".to_owned(), "–".to_owned()),
        };
        writeln!(
            self.text,
            "| {} | {c} | {:.0} | {:.1} | {:.1} | {} | {ceil} | {share} |",
            operation.label(),
            run.rate,
            run.p50,
            run.p99,
            run.errors
        )
    }

    /// Starts the live-feed table.
    pub fn feed_header(&mut self) -> std::fmt::Result {
        writeln!(self.text, "\n### Live feed\n")?;
        writeln!(
            self.text,
            "| sockets | RSS per idle socket (KiB) | orders/s | frames expected | frames received | lost | \
             duplicated | delivery p50 (ms) | delivery p99 (ms) | read by the load generator p50 / p99 (ms) | \
             slowest order request (ms) | frames/s fanned out |"
        )?;
        writeln!(
            self.text,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        )
    }

    /// Adds a live-feed run with `n` sockets and `orders_per_second`: its row and its curve.
    pub fn feed_run(
        &mut self,
        n: usize,
        orders_per_second: u32,
        run: &FeedRun,
    ) -> std::fmt::Result {
        self.curves.push((
            format!("feed delivery, {n} sockets"),
            percentiles(&run.latencies),
        ));
        writeln!(
            self.text,
            "| {n} | {:.1} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} / {:.1} | {:.1} | {:.0} |",
            run.kib_per_socket,
            orders_per_second,
            run.expected,
            run.received,
            run.lost,
            run.duplicated,
            run.p50,
            run.p99,
            run.read_p50,
            run.read_p99,
            run.slowest_request,
            run.fanout
        )
    }
}

impl Report {
    /// Adds the reconnect storm: what it was, a row of figures, and whether it meets the targets.
    pub fn storm(&mut self, run: &StormRun) -> std::fmt::Result {
        let s = &run.settings;
        let p = &run.population;
        writeln!(self.text, "\n### Reconnect storm\n")?;
        writeln!(
            self.text,
            "{} sockets ({} of admins, {} of workers, {} of clients; {} clients, {} workers, {} admins) open and \
             go away; {} orders are placed meanwhile ({} for each client, so each client's and worker's socket \
             misses {:.0} events of its own feed, an admin's all {}); then every socket reconnects with \
             `?after_id=<the last id it saw>`, all starting within {:.1} s, while {:.0} orders/s are placed. Each \
             socket's ids are checked against its feed in the database after that id.\n",
            s.sockets,
            run.by_role[0],
            run.by_role[1],
            run.by_role[2],
            p.clients,
            p.workers,
            p.admins,
            run.events_missed,
            s.missed,
            run.missed_median,
            run.missed_admin,
            s.spread.as_secs_f64(),
            s.orders_per_second,
        )?;
        writeln!(
            self.text,
            "| sockets | frames expected | frames received | lost | duplicated | unexpected | out of order | \
             sockets failed | last hello (s) | caught up p50 (s) | last caught up (s) | last caught up, read (s) | \
             orders during the storm | order p50 (ms) | order p99 (ms) | order errors | meets the target |"
        )?;
        writeln!(
            self.text,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        )?;
        let mut missed = Vec::new();
        if run.caught_up_last.is_nan()
            || run.caught_up_last > STORM_CAUGHT_UP_S
            || run.caught_up < s.sockets
        {
            missed.push("catch-up");
        }
        if run.lost + run.duplicated + run.unexpected + run.out_of_order + run.failed > 0 {
            missed.push("frames");
        }
        if run.order_p99.is_nan() || run.order_p99 > STORM_ORDER_P99_MS || run.order_errors > 0 {
            missed.push("orders");
        }
        let verdict = if missed.is_empty() {
            "yes".to_owned()
        } else {
            format!("no ({})", missed.join(", "))
        };
        writeln!(
            self.text,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {} | \
             {verdict} |",
            s.sockets,
            run.expected,
            run.received,
            run.lost,
            run.duplicated,
            run.unexpected,
            run.out_of_order,
            run.failed,
            run.last_hello,
            run.caught_up_p50,
            run.caught_up_last,
            run.caught_up_last_read,
            run.order_latencies.len(),
            run.order_p50,
            run.order_p99,
            run.order_errors,
        )?;
        self.curves.push((
            format!("create order, storm of {}", s.sockets),
            percentiles(&run.order_latencies),
        ));
        writeln!(
            self.text,
            "\nTargets: the last socket caught up within {STORM_CAUGHT_UP_S} s of the storm's start (by the \
             kernel's receive time; \"read\" is when the load generator read it), no frame lost, duplicated, \
             unexpected or out of order, order creation p99 ≤ {STORM_ORDER_P99_MS} ms."
        )
    }

    /// Starts the live-pages table.
    pub fn live_header(&mut self) -> std::fmt::Result {
        writeln!(self.text, "\n### Live admin pages\n")?;
        writeln!(
            self.text,
            "Admin sockets whose clients do what a live island does on each event: apply the frame (parse it), \
             and, where the islands read, one `GET /api/v1/orders/{{id}}` for each `order_created` whose frame \
             does not carry the order (a live event's frame carries it; the orders list puts it in place from \
             there). The server's \
             CPU is its `utime + stime` (`/proc/<pid>/stat`) from the first order until every frame and read is \
             done, over that time.\n"
        )?;
        writeln!(
            self.text,
            "| admin sockets | islands | orders/s × s | orders | frames expected | frames received | lost | \
             duplicated | reads | reads failed or still queued at the end | read p50 / p99 (ms) | window (s) | \
             server CPU (cores) | \
             server CPU per order (ms) | meets the target |"
        )?;
        writeln!(
            self.text,
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        )
    }

    /// Adds a live-pages run.
    pub fn live_run(&mut self, run: &LiveRun) -> std::fmt::Result {
        let s = &run.settings;
        let mut missed = Vec::new();
        if run.cores().is_nan() || run.cores() > LIVE_CORES {
            missed.push("CPU");
        }
        if run.lost + run.duplicated + run.read_errors + run.order_errors > 0 {
            missed.push("frames");
        }
        let verdict = if missed.is_empty() {
            "yes".to_owned()
        } else {
            format!("no ({})", missed.join(", "))
        };
        writeln!(
            self.text,
            "| {} | {} | {:.0} × {} | {} | {} | {} | {} | {} | {} | {} | {:.1} / {:.1} | {:.1} | {:.2} | {:.1} | \
             {verdict} |",
            s.sockets,
            if s.reads {
                "as the browser's: frame, and a read of a new order its frame lacks"
            } else {
                "frame only"
            },
            s.orders_per_second,
            s.seconds,
            run.orders,
            run.expected,
            run.received,
            run.lost,
            run.duplicated,
            run.reads,
            run.read_errors,
            run.read_p50,
            run.read_p99,
            run.window,
            run.cores(),
            1000.0 * run.cpu / run.orders.max(1) as f64,
        )
    }
}

impl Report {
    /// Adds the pages phase: how each database was grown, who read it, and a row per read with both databases'
    /// figures side by side and whether the large one meets the targets.
    pub fn pages(&mut self, run: &PagesRun) -> std::fmt::Result {
        writeln!(
            self.text,
            "\n### Pages and lists on a small and a large database\n"
        )?;
        writeln!(
            self.text,
            "Each read made one at a time as a browser or an API client does (pages with the session cookie and \
             `Accept: text/html`, REST with the bearer token), once untimed, then {} times: median and slowest. \
             The large database is the small one after the growth step (`bench/sql/grow.sql`).\n",
            run.runs
        )?;
        for (name, measured) in [("small", &run.small), ("large", &run.large)] {
            self.growth_line(name, measured)?;
        }
        writeln!(
            self.text,
            "\n| read | small median (ms) | small slowest (ms) | large median (ms) | large slowest (ms) | \
             large / small | meets the target |"
        )?;
        writeln!(self.text, "|---|---:|---:|---:|---:|---:|---|")?;
        let mut met = 0;
        for large in &run.large.timings {
            let small = run.small.timings.iter().find(|t| t.label == large.label);
            let (row, meets) = page_row(large, small);
            met += usize::from(meets);
            writeln!(self.text, "{row}")?;
        }
        let mut slowest: Vec<&Timing> = run.large.timings.iter().collect();
        slowest.sort_by(|a, b| b.median.total_cmp(&a.median));
        let names: Vec<String> = slowest
            .iter()
            .take(3)
            .map(|t| format!("{} ({:.0} ms)", t.label, t.median))
            .collect();
        writeln!(
            self.text,
            "\n{met} of {} reads meet the target on the large database (median ≤ {PAGE_MEDIAN_MS} ms, slowest ≤ \
             {PAGE_SLOWEST_MS} ms, median ≤ {PAGE_GROWTH}× its own on the small one). Slowest medians: {}.",
            run.large.timings.len(),
            names.join("; ")
        )
    }

    /// A list item: the population grown, how long it took, what the database then held, and who read it.
    fn growth_line(&mut self, name: &str, measured: &Measured) -> std::fmt::Result {
        let Growth {
            scale,
            load_seconds,
            vacuum_seconds,
            rows,
            confirmed,
            bytes,
        } = &measured.growth;
        let held: Vec<String> = rows
            .iter()
            .map(|(what, n)| format!("{} {what}", grouped(*n)))
            .collect();
        let s = &measured.subjects;
        writeln!(
            self.text,
            "- **{name}**: {} clients, {} workers, {} admins, {} services and {} orders over {} days, grown in \
             {load_seconds:.1} s (then `vacuum analyze`: {vacuum_seconds:.1} s). The database then held {} \
             ({} confirmed transactions): {:.0} MiB. Read as its busiest client ({} orders, {} notifications of \
             which {} unread), its busiest worker ({} orders, {} notifications, {} unread) and its first admin, who \
             last read everything a week ago (all {} orders, {} notifications, {} unread).",
            grouped(i64::from(scale.clients)),
            grouped(i64::from(scale.workers)),
            scale.admins,
            scale.services,
            grouped(i64::from(scale.orders)),
            scale.days,
            held.join(", "),
            grouped(*confirmed),
            *bytes as f64 / 1_048_576.0,
            grouped(s.client.orders),
            grouped(s.client.notifications),
            grouped(s.client.unread),
            grouped(s.worker.orders),
            grouped(s.worker.notifications),
            grouped(s.worker.unread),
            grouped(s.admin.orders),
            grouped(s.admin.notifications),
            grouped(s.admin.unread),
        )
    }
}

/// A read's row (large figures against small ones) and whether it meets every target.
fn page_row(large: &Timing, small: Option<&Timing>) -> (String, bool) {
    let (small_median, small_slowest) =
        small.map_or((f64::NAN, f64::NAN), |t| (t.median, t.slowest));
    let ratio = large.median / small_median;
    let mut missed = Vec::new();
    if large.median > PAGE_MEDIAN_MS {
        missed.push("median");
    }
    if large.slowest > PAGE_SLOWEST_MS {
        missed.push("slowest");
    }
    // A ratio that is not a number (no small figure) does not meet the target either.
    if ratio.is_nan() || ratio > PAGE_GROWTH {
        missed.push("growth");
    }
    let verdict = if missed.is_empty() {
        "yes".to_owned()
    } else {
        format!("no ({})", missed.join(", "))
    };
    let row = format!(
        "| {} | {small_median:.1} | {small_slowest:.1} | {:.1} | {:.1} | {ratio:.1}× | {verdict} |",
        large.label, large.median, large.slowest
    );
    (row, missed.is_empty())
}

/// `n` with its thousands separated by spaces (`1 000 000`).
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

impl Report {
    /// Adds the channels phase: one row.
    pub fn channels(&mut self, run: &ChannelsRun) -> std::fmt::Result {
        writeln!(self.text, "\n### Channel deliveries\n")?;
        writeln!(
            self.text,
            "Orders placed at a steady rate, each for one of {} workers whose Telegram is linked (each worker's \
             defaults: a message for a new order), with {} linked admins on their default 15-minute digest; the \
             server sends through a fake Bot API served by the bench driver, which notes each message's arrival. \
             Lag: from the order's notification (`created_at`) to the message's arrival. Targets: every due \
             message delivered once, lag p99 ≤ {CHANNEL_LAG_P99_MS:.0} ms, order creation p99 ≤ \
             {CHANNEL_ORDER_P99_MS:.0} ms meanwhile.\n",
            run.workers, run.admins
        )?;
        writeln!(
            self.text,
            "| linked workers | admins on a digest | orders/s × s | orders | messages due | delivered | lost | \
             duplicated | lag p50 / p99 (ms) | digest messages waiting for their interval | order p99 (ms) | \
             order errors | meets the target |"
        )?;
        writeln!(
            self.text,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        )?;
        let mut missed = Vec::new();
        if run.lost + run.duplicated > 0 || run.order_errors > 0 {
            missed.push("delivery");
        }
        if run.lag_p99.is_nan() || run.lag_p99 > CHANNEL_LAG_P99_MS {
            missed.push("lag");
        }
        if run.order_p99.is_nan() || run.order_p99 > CHANNEL_ORDER_P99_MS {
            missed.push("order creation");
        }
        let verdict = if missed.is_empty() {
            "yes".to_owned()
        } else {
            format!("no ({})", missed.join(", "))
        };
        writeln!(
            self.text,
            "| {} | {} | {:.0} × {} | {} | {} | {} | {} | {} | {:.0} / {:.0} | {} | {:.1} | {} | {verdict} |",
            run.workers,
            run.admins,
            run.orders_per_second,
            run.seconds,
            run.orders,
            run.expected,
            run.delivered,
            run.lost,
            run.duplicated,
            run.lag_p50,
            run.lag_p99,
            run.digest_waiting,
            run.order_p99,
            run.order_errors,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest_run(rate: f64) -> RestRun {
        RestRun {
            latencies: vec![1.0, 2.0],
            rate,
            p50: 1.04,
            p99: 2.06,
            errors: 3,
        }
    }

    #[test]
    fn the_ceiling_is_read_by_concurrency_from_the_ceiling_script() {
        let ceiling = Ceiling::parse(
            "pgbench\nsame transaction, concurrency 16: 9000.4 tps\nconcurrency 64: 12000 tps",
        );
        assert_eq!(ceiling.0.get(&16), Some(&9000.4));
        assert_eq!(ceiling.0.get(&64), Some(&12000.0));
        assert_eq!(ceiling.0.len(), 2, "other lines are no ceiling");
        assert!(
            Ceiling::parse("").0.is_empty(),
            "no ceiling script, no ceiling"
        );
    }

    #[test]
    fn rest_rows_show_the_share_of_the_ceiling_for_order_creation_only() {
        let ceiling = Ceiling::parse("concurrency 16: 2000 tps");
        let mut report = Report::default();
        report.rest_header().unwrap();
        report
            .rest_run(Operation::CreateOrder, 16, &rest_run(1000.0), &ceiling)
            .unwrap();
        report
            .rest_run(Operation::CreateOrder, 64, &rest_run(1000.0), &ceiling)
            .unwrap();
        report
            .rest_run(Operation::ListOrders, 16, &rest_run(1500.0), &ceiling)
            .unwrap();

        let rows: Vec<&str> = report.text.lines().collect();
        assert_eq!(rows[0], "### REST");
        assert_eq!(
            rows[2],
            "| operation | concurrency | requests/s | p50 (ms) | p99 (ms) | errors | PostgreSQL ceiling (tps) | \
             share of ceiling |"
        );
        assert_eq!(
            rows[4],
            "| create order | 16 | 1000 | 1.0 | 2.1 | 3 | 2000 | 50 % |"
        );
        assert_eq!(
            rows[5],
            "| create order | 64 | 1000 | 1.0 | 2.1 | 3 | – | – |"
        );
        assert_eq!(
            rows[6],
            "| list orders (20 per page) | 16 | 1500 | 1.0 | 2.1 | 3 | – | – |"
        );
        let labels: Vec<&str> = report.curves.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "create order, c=16",
                "create order, c=64",
                "list orders, c=16"
            ]
        );
    }

    #[test]
    fn a_feed_row_has_a_cell_for_every_column_of_the_header() {
        let run = FeedRun {
            latencies: vec![3.0],
            kib_per_socket: 4.25,
            expected: 30,
            received: 29,
            lost: 1,
            duplicated: 0,
            p50: 3.0,
            p99: 12.04,
            read_p50: 3.5,
            read_p99: 14.0,
            slowest_request: 9.96,
            fanout: 1999.6,
        };
        let mut report = Report::default();
        report.feed_header().unwrap();
        report.feed_run(1000, 20, &run).unwrap();

        let rows: Vec<&str> = report.text.lines().collect();
        assert_eq!(rows[..2], ["", "### Live feed"]);
        assert_eq!(
            rows[5],
            "| 1000 | 4.2 | 20 | 30 | 29 | 1 | 0 | 3.0 | 12.0 | 3.5 / 14.0 | 10.0 | 2000 |"
        );
        let cells = |row: &str| row.matches('|').count();
        assert_eq!(cells(rows[3]), cells(rows[5]), "header and row");
        assert_eq!(cells(rows[4]), cells(rows[5]), "alignment and row");
        assert_eq!(report.curves[0].0, "feed delivery, 1000 sockets");
    }

    #[test]
    fn storm_and_live_rows_have_a_cell_for_every_column_and_say_whether_they_meet_the_targets() {
        let cells = |row: &str| row.matches('|').count();
        let mut storm = crate::storm::tests::a_run();
        let mut report = Report::default();
        report.storm(&storm).unwrap();
        let rows: Vec<&str> = report.text.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(cells(rows[0]), cells(rows[2]), "header and row");
        assert_eq!(cells(rows[1]), cells(rows[2]), "alignment and row");
        assert!(rows[2].ends_with("| yes |"), "{}", rows[2]);
        storm.caught_up_last = 5.2;
        storm.order_p99 = 101.0;
        let mut report = Report::default();
        report.storm(&storm).unwrap();
        assert!(
            report.text.contains("| no (catch-up, orders) |"),
            "{}",
            report.text
        );

        let mut live = LiveRun {
            settings: crate::live::LiveSettings {
                sockets: 500,
                orders_per_second: 20.0,
                seconds: 60,
                reads: true,
            },
            orders: 1200,
            order_errors: 0,
            expected: 600_000,
            received: 600_000,
            lost: 0,
            duplicated: 0,
            reads: 600_000,
            read_errors: 0,
            read_p50: 1.0,
            read_p99: 4.0,
            window: 61.0,
            cpu: 30.5,
        };
        let mut report = Report::default();
        report.live_header().unwrap();
        report.live_run(&live).unwrap();
        live.cpu = 30.6;
        live.lost = 1;
        report.live_run(&live).unwrap();
        let rows: Vec<&str> = report.text.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(cells(rows[0]), cells(rows[2]), "header and row");
        assert_eq!(cells(rows[1]), cells(rows[2]), "alignment and row");
        assert_eq!(
            rows[2],
            "| 500 | as the browser's: frame, and a read of a new order its frame lacks | 20 × 60 | 1200 | 600000 | \
             600000 | 0 | 0 | 600000 | 0 | \
             1.0 / 4.0 | 61.0 | 0.50 | 25.4 | yes |"
        );
        assert!(rows[3].ends_with("| no (CPU, frames) |"), "{}", rows[3]);
    }

    fn timing(label: &str, median: f64, slowest: f64) -> Timing {
        Timing {
            label: label.to_owned(),
            median,
            slowest,
        }
    }

    #[test]
    fn a_page_row_meets_the_target_only_under_every_bound() {
        let small = timing("admin: page `/admin`", 10.0, 14.0);
        for (large, verdict, description) in [
            (
                timing("admin: page `/admin`", 12.0, 20.0),
                "yes",
                "fast and flat",
            ),
            (
                timing("admin: page `/admin`", 31.0, 40.0),
                "no (median, growth)",
                "median over 30 ms",
            ),
            (
                timing("admin: page `/admin`", 18.0, 61.0),
                "no (slowest)",
                "slowest over 60 ms",
            ),
            (
                timing("admin: page `/admin`", 21.0, 30.0),
                "no (growth)",
                "more than twice the small",
            ),
        ] {
            let (row, meets) = page_row(&large, Some(&small));
            assert!(
                row.ends_with(&format!("| {verdict} |")),
                "{description}: {row}"
            );
            assert_eq!(meets, verdict == "yes", "{description}");
        }
        let (row, meets) = page_row(&timing("a", 1.0, 1.0), None);
        assert!(
            !meets && row.contains("no (growth)"),
            "no small figure: {row}"
        );
        let (row, _) = page_row(
            &timing("admin: page `/admin`", 6709.0, 7012.5),
            Some(&small),
        );
        assert_eq!(
            row,
            "| admin: page `/admin` | 10.0 | 14.0 | 6709.0 | 7012.5 | 670.9× | no (median, slowest, growth) |"
        );
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        for (n, shown) in [
            (0, "0"),
            (999, "999"),
            (1000, "1 000"),
            (3_050_123, "3 050 123"),
            (-1200, "-1 200"),
        ] {
            assert_eq!(grouped(n), shown);
        }
    }
}

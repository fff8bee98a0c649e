//! The report `scripts/bench.sh` writes to `docs/benchmarks.md`: a Markdown table per benchmark, and the curves
//! for the plot.

use std::{collections::HashMap, fmt::Write as _};

use crate::{
    feed::FeedRun,
    plot::Curve,
    rest::{Operation, RestRun},
    stats::percentiles,
};

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
}

//! The benchmark driver behind `make bench` (`scripts/bench.sh` starts the server and calls this).
//!
//! It measures a running release server on this machine and prints Markdown tables:
//! - REST: placing an order (JWT, JSON, order + notification in one transaction) and listing orders, at each
//!   concurrency, as requests per second and p50/p99 latency;
//! - live feed: with N authenticated sockets open (10 % admins), the server's RSS per idle socket, then orders at
//!   a fixed rate, the latency from the order's HTTP request to its frame's arrival on every socket that should
//!   see it (p50/p99, by the kernel's receive timestamp; also to when this process read it), the frames fanned out
//!   per second, and lost frames;
//! - reconnect storm: N sockets of many users go away, miss about twenty events each, and all reconnect within a
//!   second with `after_id` while orders are placed: until the last socket has caught up, lost and duplicated
//!   frames against each feed in the database, order creation's p99 meanwhile;
//! - live admin pages: admin sockets whose clients do what a live island does on each event (apply the frame, read
//!   a new order), orders at a steady rate: the server's CPU and lost frames;
//! - pages (only when asked for, with `--phases pages`): every page and list a user opens, timed on a small
//!   database and again after the growth step (`bench/sql/grow.sql`) has made it a large one;
//! - channels (only when asked for, with `--phases channels`, against a server whose Telegram points at this
//!   process): orders at a steady rate for a thousand linked workers, every message's delivery and its lag.
//!
//! Users are created directly in the database and their tokens signed with the server's secret, so setting up
//! ten thousand sockets does not spend minutes hashing passwords.

mod channels;
mod feed;
mod fixtures;
mod listener;
mod live;
mod pages;
mod plot;
mod report;
mod rest;
mod stats;
mod storm;

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use sqlx::PgPool;

use fixtures::World;
use report::{Ceiling, Report};
use rest::Operation;

/// A part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    /// Order creation and listing at each concurrency.
    Rest,
    /// The live feed with each number of sockets.
    Feed,
    /// The reconnect storm.
    Storm,
    /// Live admin pages: the server's CPU while admin islands apply frames (and read new orders).
    Live,
    /// Every page and list on a small database, then on a large one (grows the server's database: run it last).
    Pages,
    /// Channel deliveries through a fake Bot API served here (the server's `TELEGRAM_API_BASE` must point at it).
    Channels,
}

/// Measures a running Task server.
#[derive(Debug, Parser)]
struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3100")]
    base: String,
    /// The server's database (for fixtures).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The server's JWT secret (to sign the fixtures' tokens).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
    /// The server's process id (for its memory).
    #[arg(long)]
    server_pid: u32,
    /// REST concurrencies.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    concurrency: Vec<usize>,
    /// The REST operations to run.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "create-order,list-orders"
    )]
    operations: Vec<Operation>,
    /// Seconds per REST run.
    #[arg(long, default_value_t = 15)]
    rest_seconds: u64,
    /// Socket counts for the live-feed runs.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    sockets: Vec<usize>,
    /// Orders per second during a live-feed run.
    #[arg(long, default_value_t = 20)]
    orders_per_second: u32,
    /// Seconds of orders per live-feed run.
    #[arg(long, default_value_t = 15)]
    feed_seconds: u64,
    /// The output of `shared/bench/pg_ceiling.sh` from the same run, if any.
    #[arg(long, default_value = "")]
    ceiling: String,
    /// Where to write the latency plot (SVG), if anywhere.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
    /// The phases to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "rest,feed,storm,live"
    )]
    phases: Vec<Phase>,
    /// The pages phase's large database, relative to the (1.0: a million orders, three million
    /// notifications); smaller for trying the phase out.
    #[arg(long, default_value_t = 1.0)]
    large_scale: f64,
    /// Timed runs of each read in the pages phase.
    #[arg(long, default_value_t = 15)]
    page_runs: usize,
    /// Sockets in the reconnect storm.
    #[arg(long, default_value_t = 10_000)]
    storm_sockets: usize,
    /// Of those, admins' sockets (an admin's socket misses every event made while it was away).
    #[arg(long, default_value_t = 10)]
    storm_admin_sockets: usize,
    /// Events each client's and worker's socket misses while away.
    #[arg(long, default_value_t = 20)]
    storm_missed: usize,
    /// Orders placed per second during the storm.
    #[arg(long, default_value_t = 50.0)]
    storm_orders_per_second: f64,
    /// Admin sockets in the live-pages runs.
    #[arg(long, default_value_t = 500)]
    live_sockets: usize,
    /// Seconds of orders per live-pages run.
    #[arg(long, default_value_t = 60)]
    live_seconds: u64,
    /// What the islands do in the live-pages runs, one run each: `island` (what the browser's island does: apply
    /// the frame, and read a new order whose frame does not carry it) and `frames` (apply the frame only).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "island")]
    live_islands: Vec<Islands>,
    /// Where the channels phase serves its fake Bot API.
    #[arg(long, default_value = "127.0.0.1:3190")]
    bot_listen: String,
    /// Workers with a linked Telegram in the channels phase.
    #[arg(long, default_value_t = 1000)]
    channel_workers: usize,
    /// Orders per second in the channels phase.
    #[arg(long, default_value_t = 20)]
    channel_orders_per_second: u32,
    /// Seconds of orders in the channels phase.
    #[arg(long, default_value_t = 60)]
    channel_seconds: u64,
}

/// What a live-pages run's islands do on each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Islands {
    /// Apply the frame, and read a new order (`GET /api/v1/orders/{id}`) whose frame does not carry it.
    Island,
    /// Apply the frame only.
    Frames,
}

/// What the phases share: the settings, the HTTP client, the fixtures and the report so far.
struct Bench {
    args: Args,
    db: PgPool,
    http: reqwest::Client,
    world: Arc<World>,
    ceiling: Ceiling,
    report: Report,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let phases = args.phases.clone();
    let mut bench = Bench::prepare(args).await?;
    for phase in phases {
        match phase {
            Phase::Rest => bench.rest_phase().await?,
            Phase::Feed => bench.feed_phase().await?,
            Phase::Storm => bench.storm_phase().await?,
            Phase::Live => bench.live_phase().await?,
            Phase::Pages => bench.pages_phase().await?,
            Phase::Channels => {
                let run = channels::run(&bench.args, &bench.db).await?;
                bench.report.channels(&run)?;
            }
        }
    }
    bench.write_report()
}

impl Bench {
    /// Inserts the fixtures and reads the PostgreSQL ceiling.
    async fn prepare(args: Args) -> anyhow::Result<Self> {
        let db = PgPool::connect(&args.database_url)
            .await
            .context("Failed to connect to the bench database")?;
        let world = Arc::new(World::create(&db, &args.jwt_secret).await?);
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?;
        let ceiling = Ceiling::parse(&args.ceiling);
        Ok(Self {
            args,
            db,
            http,
            world,
            ceiling,
            report: Report::default(),
        })
    }

    /// Order creation, then order listing, at each concurrency.
    async fn rest_phase(&mut self) -> anyhow::Result<()> {
        self.report.rest_header()?;
        for operation in Operation::ALL {
            if !self.args.operations.contains(&operation) {
                continue;
            }
            for &c in &self.args.concurrency {
                let run = rest::run(&self.http, &self.args, &self.world, c, operation).await?;
                self.report.rest_run(operation, c, &run, &self.ceiling)?;
                eprintln!(
                    "{} at {c}: {:.0}/s p99 {:.1} ms",
                    operation.name(),
                    run.rate,
                    run.p99
                );
            }
        }
        Ok(())
    }

    /// The live feed with each number of sockets.
    async fn feed_phase(&mut self) -> anyhow::Result<()> {
        self.report.feed_header()?;
        for &n in &self.args.sockets {
            let run = feed::run(&self.http, &self.args, &self.world, n).await?;
            self.report.feed_run(n, self.args.orders_per_second, &run)?;
            eprintln!(
                "feed with {n} sockets: p99 {:.1} ms (read {:.1} ms), {:.1} KiB/socket, lost {}",
                run.p99, run.read_p99, run.kib_per_socket, run.lost
            );
        }
        Ok(())
    }

    /// The reconnect storm.
    async fn storm_phase(&mut self) -> anyhow::Result<()> {
        let settings = storm::StormSettings {
            sockets: self.args.storm_sockets,
            admin_sockets: self.args.storm_admin_sockets,
            missed: self.args.storm_missed,
            spread: std::time::Duration::from_secs(1),
            orders_per_second: self.args.storm_orders_per_second,
        };
        let run = storm::run(
            &self.http,
            &self.args.base,
            &self.db,
            &self.args.jwt_secret,
            settings,
        )
        .await?;
        self.report.storm(&run)?;
        eprintln!(
            "storm of {} sockets: last caught up after {:.2} s, lost {}, duplicated {}, order p99 {:.1} ms",
            settings.sockets, run.caught_up_last, run.lost, run.duplicated, run.order_p99
        );
        Ok(())
    }

    /// Live admin pages, once per kind of island asked for.
    async fn live_phase(&mut self) -> anyhow::Result<()> {
        self.report.live_header()?;
        for islands in self.args.live_islands.clone() {
            let settings = live::LiveSettings {
                sockets: self.args.live_sockets,
                orders_per_second: f64::from(self.args.orders_per_second),
                seconds: self.args.live_seconds,
                reads: islands == Islands::Island,
            };
            let run = live::run(
                &self.args.base,
                &self.db,
                &self.args.jwt_secret,
                self.args.server_pid,
                settings,
            )
            .await?;
            self.report.live_run(&run)?;
            eprintln!(
                "live pages ({islands:?}): server {:.2} cores, lost {}, {} reads ({} failed)",
                run.cores(),
                run.lost,
                run.reads,
                run.read_errors
            );
        }
        Ok(())
    }

    /// Every page and list on a small database, then on a large one.
    async fn pages_phase(&mut self) -> anyhow::Result<()> {
        let settings = pages::Settings {
            http: &self.http,
            base: &self.args.base,
            db: &self.db,
            secret: &self.args.jwt_secret,
            large_scale: self.args.large_scale,
            runs: self.args.page_runs,
        };
        let run = pages::run(&settings).await?;
        self.report.pages(&run)?;
        Ok(())
    }

    /// Writes the plot, if asked for, and prints the tables (`scripts/bench.sh` puts them in `docs/benchmarks.md`).
    fn write_report(&self) -> anyhow::Result<()> {
        if let Some(path) = self
            .args
            .plot
            .as_ref()
            .filter(|_| !self.report.curves.is_empty())
        {
            std::fs::write(path, plot::plot(&self.report.curves))
                .with_context(|| format!("Failed to write {}", path.display()))?;
        }
        println!("{}", self.report.text);
        Ok(())
    }
}

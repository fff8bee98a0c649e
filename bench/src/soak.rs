//! The bounded soak and fault run (`make soak`, and in the test command): two server instances over one
//! PostgreSQL and one Redis, concurrent clients ordering and paying (Payme and Click, with duplicated webhook
//! calls), workers moving orders on, live sockets on both instances reconnecting with `after_id` as a browser does,
//! and Redis and then PostgreSQL restarted mid-run. At the end it checks the invariants:
//! - no request was answered 500 (503 `unavailable` is allowed while a dependency restarts) and no webhook answered
//!   an HTTP error;
//! - every order that was paid has exactly one confirmed transaction, and every confirmed transaction's order is
//!   paid or further; no order was announced paid twice;
//! - every socket received every event its user may see, committed after it first connected, exactly once and in
//!   id order, across its reconnects.
//!
//! It starts the instances itself; `scripts/soak.sh` gives it private PostgreSQL and Redis servers to restart.
//! `main` runs the phases in order: start the instances, set up the cast, open the sockets, run the clients and
//! workers, restart Redis, restart PostgreSQL, drain, verify.

// A binary's root finds its modules beside it, in `src/`, where the bench binary's are; the soak's are in `soak/`.
#[path = "soak/cast.rs"]
mod cast;
#[path = "soak/ctx.rs"]
mod ctx;
#[path = "soak/instances.rs"]
mod instances;
#[path = "soak/load.rs"]
mod load;
#[path = "soak/payments.rs"]
mod payments;
#[path = "soak/socket.rs"]
mod socket;
#[path = "soak/verify.rs"]
mod verify;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use sqlx::PgPool;
use tokio::{process::Child, task::JoinHandle};

use cast::{Cast, User};
use ctx::{Ctx, Tally};
use socket::Listener;

#[derive(Debug, Parser)]
struct Args {
    /// The release server binary.
    #[arg(long)]
    server: String,
    /// The (empty) database both instances use.
    #[arg(long)]
    database_url: String,
    #[arg(long)]
    redis_url: String,
    /// Seconds of load.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Ports of the two instances.
    #[arg(long, default_value = "3511")]
    port_a: u16,
    #[arg(long, default_value = "3512")]
    port_b: u16,
    /// A shell command that restarts Redis (run at a third of the run).
    #[arg(long)]
    restart_redis: String,
    /// A shell command that restarts PostgreSQL (run at two thirds of the run).
    #[arg(long)]
    restart_postgres: String,
    #[arg(long, default_value_t = 8)]
    clients: usize,
}

const PAYME_KEY: &str = "soak-payme-key-0123456789abcdefghij";
const CLICK_SECRET: &str = "soak-click-secret";
const CLICK_SERVICE: i64 = 4242;
const PRICE: i64 = 250_000;
const ADMIN_NAME: &str = "soakadmin";
const ADMIN_PASSWORD: &str = "soak-admin-password";

/// What the phases share: the settings, the database (for the invariants), the instances and the tasks' context.
struct Soak {
    args: Args,
    pool: PgPool,
    /// The two instances; killed when dropped, so also when a phase fails.
    instances: [Child; 2],
    ctx: Arc<Ctx>,
}

/// The load under way: when it started, and its clients' and workers' tasks.
struct Load {
    started: Instant,
    actors: Vec<JoinHandle<()>>,
}

/// The sockets' tasks: each ends with what its socket received.
type Sockets = Vec<JoinHandle<anyhow::Result<Listener>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut soak = Soak::start(Args::parse()).await?;
    let cast = soak.enlist().await?;
    let sockets = soak.open_sockets(&cast).await;
    let load = soak.run_clients(&cast);
    soak.restart_redis(&load).await?;
    soak.restart_postgres(&load).await?;
    let listeners = soak.drain(load, sockets).await?;
    soak.verify(&listeners).await
}

impl Soak {
    /// Migrates the database, creates the admin, and starts the two instances over it.
    async fn start(args: Args) -> anyhow::Result<Self> {
        instances::prepare_database(&args).await?;
        let pool = PgPool::connect(&args.database_url).await?;
        let a = instances::start_instance(&args, args.port_a, "/tmp/task-soak-a.log").await?;
        let b = instances::start_instance(&args, args.port_b, "/tmp/task-soak-b.log").await?;
        let ctx = Arc::new(Ctx {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            bases: [
                format!("http://127.0.0.1:{}", args.port_a),
                format!("http://127.0.0.1:{}", args.port_b),
            ],
            tally: Tally::default(),
            stop: AtomicBool::new(false),
        });
        Ok(Self {
            args,
            pool,
            instances: [a, b],
            ctx,
        })
    }

    /// The cast: the admin, two workers serving one service, the clients.
    async fn enlist(&self) -> anyhow::Result<Cast> {
        Cast::enlist(&self.ctx, self.args.clients).await
    }

    /// Opens the sockets, every client's and worker's and the admin's on both instances, and gives them half a
    /// second to connect.
    async fn open_sockets(&self, cast: &Cast) -> Sockets {
        let listen = |instance: usize, user: &User, role: &'static str| {
            tokio::spawn(socket::listen(
                self.ctx.clone(),
                instance,
                user.token.clone(),
                user.id,
                role,
            ))
        };
        let mut sockets = Vec::new();
        for (i, client) in cast.clients.iter().enumerate() {
            sockets.push(listen(i, client, "client"));
        }
        for (i, worker) in cast.workers.iter().enumerate() {
            sockets.push(listen(i, worker, "worker"));
        }
        for i in 0..2 {
            sockets.push(listen(i, &cast.admin, "admin"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        sockets
    }

    /// Starts the load for `--duration` seconds: every client ordering and paying, every worker moving orders on.
    fn run_clients(&self, cast: &Cast) -> Load {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(self.args.duration);
        let mut actors = Vec::new();
        for (i, client) in cast.clients.iter().enumerate() {
            let (ctx, token) = (self.ctx.clone(), client.token.clone());
            actors.push(tokio::spawn(load::client(
                ctx,
                i,
                token,
                cast.service_id,
                deadline,
            )));
        }
        for (i, worker) in cast.workers.iter().enumerate() {
            let (ctx, token) = (self.ctx.clone(), worker.token.clone());
            actors.push(tokio::spawn(load::worker(ctx, i, token, deadline)));
        }
        Load { started, actors }
    }

    /// Restarts Redis a third of the way through the load.
    async fn restart_redis(&self, load: &Load) -> anyhow::Result<()> {
        self.restart_at(load, 1, "Redis", &self.args.restart_redis)
            .await
    }

    /// Restarts PostgreSQL two thirds of the way through the load.
    async fn restart_postgres(&self, load: &Load) -> anyhow::Result<()> {
        self.restart_at(load, 2, "PostgreSQL", &self.args.restart_postgres)
            .await
    }

    /// Runs `command` to restart `name` once `thirds` thirds of the load's time have passed.
    async fn restart_at(
        &self,
        load: &Load,
        thirds: u64,
        name: &str,
        command: &str,
    ) -> anyhow::Result<()> {
        let at = load.started + Duration::from_secs(thirds * self.args.duration / 3);
        tokio::time::sleep_until(at.into()).await;
        instances::restart(name, command).await
    }

    /// Waits for the load to end, lets the last events travel, then stops the sockets (each ends after 3 quiet
    /// seconds) and the instances: what every socket received.
    async fn drain(&mut self, load: Load, sockets: Sockets) -> anyhow::Result<Vec<Listener>> {
        for actor in load.actors {
            actor.await?;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.ctx.stop.store(true, Ordering::Relaxed);
        let mut listeners = Vec::new();
        for socket in sockets {
            listeners.push(socket.await??);
        }
        for instance in &mut self.instances {
            let _ = instance.start_kill();
        }
        Ok(listeners)
    }

    /// Checks the invariants and prints the verdict (`soak: N passed, N failed`).
    async fn verify(&self, listeners: &[Listener]) -> anyhow::Result<()> {
        verify::verify(&self.args, &self.ctx, &self.pool, listeners).await
    }
}

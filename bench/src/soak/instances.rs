//! The two server instances under test, and the faults: the server binary's own setup commands, its `serve`
//! with the soak's settings, and the shell commands that restart a dependency.

use std::{process::Stdio, time::Instant};

use anyhow::{Context as _, bail, ensure};
use tokio::process::{Child, Command};

use crate::{ADMIN_NAME, ADMIN_PASSWORD, Args, CLICK_SECRET, CLICK_SERVICE, PAYME_KEY};

/// The secret both instances sign tokens with, so a token from one is good on the other.
const JWT_SECRET: &str = "soak-jwt-secret-0123456789abcdefghijklmnopqrstuvwxyz";
/// How many times, 100 ms apart, an instance's readiness is asked before it counts as failed to start.
const READY_CHECKS: usize = 100;

/// Migrates the (empty) database and creates the admin, with the server binary's own commands.
pub async fn prepare_database(args: &Args) -> anyhow::Result<()> {
    for command in [
        vec!["migrate"],
        vec!["create-admin", "--username", ADMIN_NAME],
    ] {
        let status = Command::new(&args.server)
            .args(&command)
            .env("DATABASE_URL", &args.database_url)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .status()
            .await?;
        ensure!(status.success(), "server {command:?} failed");
    }
    Ok(())
}

/// Starts an instance on `port`, its output going to `log`, and waits until it is ready. It is killed when the
/// returned child is dropped.
pub async fn start_instance(args: &Args, port: u16, log: &str) -> anyhow::Result<Child> {
    let log_file = std::fs::File::create(log)?;
    let child = Command::new(&args.server)
        .arg("serve")
        .env("DATABASE_URL", &args.database_url)
        .env("REDIS_URL", &args.redis_url)
        .env("REDIS_PREFIX", "soak")
        .env("JWT_SECRET", JWT_SECRET)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LEPTOS_OUTPUT_NAME", "task")
        .env("LEPTOS_SITE_ROOT", "target/site")
        .env("COOKIE_SECURE", "false")
        .env("RUST_LOG", "warn")
        .env("LOGIN_RATE_LIMIT", "100000")
        .env("REGISTER_RATE_LIMIT", "100000")
        .env("ORDER_RATE_LIMIT", "100000")
        .env("PAYME_MERCHANT_ID", "soak-cashbox")
        .env("PAYME_KEY", PAYME_KEY)
        .env("CLICK_SERVICE_ID", CLICK_SERVICE.to_string())
        .env("CLICK_MERCHANT_ID", "1")
        .env("CLICK_MERCHANT_USER_ID", "2")
        .env("CLICK_SECRET_KEY", CLICK_SECRET)
        .stdout(Stdio::from(log_file.try_clone()?))
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .context("the server binary starts")?;
    let http = reqwest::Client::new();
    for _ in 0..READY_CHECKS {
        if http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(child);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("instance on {port} did not become ready (see {log})")
}

/// Runs a fault: the shell command that restarts one dependency.
pub async fn restart(name: &str, command: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let status = Command::new("sh").args(["-c", command]).status().await?;
    ensure!(status.success(), "restarting {name} failed");
    println!(
        "soak: {name} restarted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

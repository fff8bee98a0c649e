//! The pages phase: every page and list a user opens, timed one request at a time on a small database, then again
//! after the growth step (`bench/sql/grow.sql`) has loaded a year-like history on top of it: a million orders and
//! three million notifications.
//!
//! Each read is made once untimed, then timed `runs` times; the report gives its median and slowest run on both
//! databases. The users are each population's busiest client and busiest worker and one of its admins.

mod grow;
mod reads;
mod subjects;

use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::Value;
use sqlx::PgPool;

use crate::stats::percentile;
pub use grow::{Growth, Scale};
use reads::{Deep, Read, Shape, reads};
pub use subjects::Subjects;

/// The name of the session cookie the browser app sends (`app::api::web::ACCESS_COOKIE`).
const ACCESS_COOKIE: &str = "task_access";

/// What the phase needs of the bench.
pub struct Settings<'a> {
    pub http: &'a reqwest::Client,
    /// The server's base URL.
    pub base: &'a str,
    /// The server's database, where the populations are grown.
    pub db: &'a PgPool,
    /// The server's JWT secret (to sign the subjects' tokens).
    pub secret: &'a str,
    /// The large population's size relative to the issue's (1.0: a million orders).
    pub large_scale: f64,
    /// Timed runs per read.
    pub runs: usize,
}

/// One read's figures on one database.
#[derive(Debug, Clone)]
pub struct Timing {
    /// The read, the same on every database.
    pub label: String,
    /// The median run (ms).
    pub median: f64,
    /// The slowest run (ms).
    pub slowest: f64,
}

/// One database: how it was grown, who read it, and every read's figures.
#[derive(Debug, Clone)]
pub struct Measured {
    pub growth: Growth,
    pub subjects: Subjects,
    pub timings: Vec<Timing>,
}

/// The phase's result: the same reads on the small and on the large database.
#[derive(Debug, Clone)]
pub struct PagesRun {
    pub small: Measured,
    pub large: Measured,
    /// Timed runs per read.
    pub runs: usize,
}

/// Grows the small population and times every read, then grows the large one on top and times them again.
pub async fn run(settings: &Settings<'_>) -> anyhow::Result<PagesRun> {
    let small = grow_and_measure(settings, &Scale::small()).await?;
    let large = grow_and_measure(settings, &Scale::large(settings.large_scale)).await?;
    Ok(PagesRun {
        small,
        large,
        runs: settings.runs,
    })
}

async fn grow_and_measure(settings: &Settings<'_>, scale: &Scale) -> anyhow::Result<Measured> {
    eprintln!(
        "growing the {} population ({} orders)…",
        scale.tag, scale.orders
    );
    let growth = grow::grow(settings.db, scale).await?;
    eprintln!(
        "grew the {} population in {:.0} s (vacuum analyze {:.0} s)",
        scale.tag, growth.load_seconds, growth.vacuum_seconds
    );
    let subjects = subjects::pick(settings.db, scale.tag, settings.secret).await?;
    let mut timings = Vec::new();
    for read in reads(&subjects) {
        let timing = time(settings, &read).await?;
        eprintln!(
            "{}: {}: median {:.1} ms, slowest {:.1} ms",
            scale.tag, timing.label, timing.median, timing.slowest
        );
        timings.push(timing);
    }
    Ok(Measured {
        growth,
        subjects,
        timings,
    })
}

/// Makes `read` once untimed (a deep read first finds its list's end), then `runs` times, one after another.
async fn time(settings: &Settings<'_>, read: &Read) -> anyhow::Result<Timing> {
    let path = match &read.deep {
        None => read.path.clone(),
        Some(deep) => {
            let list = match deep {
                Deep::Offset => read.path.as_str(),
                Deep::LastPage(api) => api.as_str(),
            };
            let body = fetch(settings, Shape::Api, list, read).await?;
            let count = serde_json::from_slice::<Value>(&body)?["count"]
                .as_i64()
                .with_context(|| format!("{list} answered no count"))?;
            let query = read.deep_query(count).context("a deep read")?;
            format!("{}{query}", read.path)
        }
    };
    fetch(settings, read.shape, &path, read).await?;
    let mut runs = Vec::with_capacity(settings.runs);
    for _ in 0..settings.runs {
        let started = Instant::now();
        fetch(settings, read.shape, &path, read).await?;
        runs.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    runs.sort_by(f64::total_cmp);
    Ok(Timing {
        label: read.label.clone(),
        median: percentile(&runs, 0.5),
        slowest: runs.last().copied().unwrap_or(f64::NAN),
    })
}

/// One request for `path`, made as `read`'s user the way `shape` says; its body, once checked.
async fn fetch(
    settings: &Settings<'_>,
    shape: Shape,
    path: &str,
    read: &Read,
) -> anyhow::Result<Vec<u8>> {
    let request = settings.http.get(format!("{}{path}", settings.base));
    let request = match shape {
        Shape::Page => request.header(reqwest::header::ACCEPT, "text/html").header(
            reqwest::header::COOKIE,
            format!("{ACCESS_COOKIE}={}", read.token),
        ),
        Shape::Api => request
            .header(reqwest::header::ACCEPT, "application/json")
            .bearer_auth(&read.token),
    };
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!(
            "{} ({path}) answered {status}: {}",
            read.label,
            String::from_utf8_lossy(&body)
        );
    }
    if shape == Shape::Page {
        let html = String::from_utf8_lossy(&body);
        if !html.contains(&read.username) {
            bail!(
                "{} ({path}) was not rendered for {}",
                read.label,
                read.username
            );
        }
        if html.contains(r#"class="error" role="alert""#) {
            bail!("{} ({path}) rendered an error", read.label);
        }
    }
    Ok(body.to_vec())
}

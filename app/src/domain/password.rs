//! Argon2id password hashing, run on the blocking pool so it never stalls the async workers, and bounded: at most
//! a fixed number of hashes run at once (each holds its memory cost), and one that cannot start soon is refused
//! with 503 `unavailable` rather than queued without end.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Error, Result};

/// How many hashes may run at once, and how long one waits for its turn before it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    /// Hashes running at once (at least 1).
    pub permits: usize,
    /// How long a hash waits for a permit before the request is refused (503).
    pub wait: Duration,
}

impl Concurrency {
    /// As many hashes as fit in `budget_mib` of memory at `memory_kib` each, and no more than two per core (more
    /// would only queue on the blocking pool); at least one.
    pub fn from_budget(memory_kib: u32, budget_mib: u32, wait: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let by_memory = u64::from(budget_mib) * 1024 / u64::from(memory_kib.max(1));
        let by_memory = usize::try_from(by_memory).unwrap_or(usize::MAX);
        Self {
            permits: by_memory.min(cores * 2).max(1),
            wait,
        }
    }
}

/// Hashes and verifies passwords with fixed Argon2id parameters, a bounded number at a time.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// A hash of a random password, verified against when a login names no user, so both cases take as long.
    decoy: Arc<str>,
    permits: Arc<Semaphore>,
    wait: Duration,
    gauge: Arc<Gauge>,
}

/// How many hashes run now, and the most that ever ran at once.
#[derive(Default)]
struct Gauge {
    running: AtomicUsize,
    peak: AtomicUsize,
}

/// One running hash: holds its permit and counts in the gauge until dropped (on the blocking thread, when the hash
/// is done, even if the request that wanted it is gone).
struct Running {
    _permit: OwnedSemaphorePermit,
    gauge: Arc<Gauge>,
}

impl Running {
    fn start(permit: OwnedSemaphorePermit, gauge: Arc<Gauge>) -> Self {
        let now = gauge.running.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.peak.fetch_max(now, Ordering::SeqCst);
        Self {
            _permit: permit,
            gauge,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.gauge.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hasher {
    /// Argon2id with `memory_kib` of memory and `iterations` passes (OWASP: 19 MiB, 2 passes), running at most
    /// `concurrency.permits` hashes at once.
    pub fn new(memory_kib: u32, iterations: u32, concurrency: Concurrency) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let decoy = hash_with(&params, &uuid::Uuid::new_v4().to_string())?;
        Ok(Self {
            params,
            decoy: decoy.into(),
            permits: Arc::new(Semaphore::new(concurrency.permits.max(1))),
            wait: concurrency.wait,
            gauge: Arc::default(),
        })
    }

    /// The most hashes that ever ran at once in this hasher (and its clones): never above its permits.
    pub fn peak_concurrency(&self) -> usize {
        self.gauge.peak.load(Ordering::SeqCst)
    }

    /// A turn to hash: waits up to the configured time for a permit, else 503 `unavailable`.
    async fn turn(&self) -> Result<Running> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await;
        match permit {
            Ok(Ok(permit)) => Ok(Running::start(permit, self.gauge.clone())),
            Ok(Err(closed)) => Err(Error::Internal(closed.into())),
            Err(_elapsed) => {
                metrics::counter!("task_password_hashes_refused_total").increment(1);
                tracing::warn!("Every password-hashing slot stayed busy; refused the request");
                Err(Error::Unavailable)
            }
        }
    }

    /// Hashes `password` into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String> {
        let params = self.params.clone();
        let running = self.turn().await?;
        Ok(tokio::task::spawn_blocking(move || {
            let _running = running;
            hash_with(&params, &password)
        })
        .await
        .context("password hashing task failed")??)
    }

    /// Whether `password` matches the PHC string `hash`; with `None`, burns the same time and answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.to_string());
        let running = self.turn().await?;
        let matches = tokio::task::spawn_blocking(move || {
            let _running = running;
            match Argon2::default().verify_password(password.as_bytes(), hash.as_str()) {
                Ok(()) => anyhow::Ok(true),
                Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
                Err(e) => Err(anyhow::anyhow!("stored password hash is unusable: {e}")),
            }
        })
        .await
        .context("password verification task failed")??;
        Ok(known && matches)
    }
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("failed to hash a password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_follow_the_memory_budget_and_the_cores() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let wait = Duration::from_secs(2);
        let cases = [
            (19_456, 19, 1, "a budget of one hash"),
            (19_456, 1, 1, "a budget below one hash still allows one"),
            (19_456, 38, 2.min(cores * 2), "two hashes' worth"),
            (64, 1_000_000, cores * 2, "memory is no bound: two per core"),
        ];
        for (memory_kib, budget_mib, permits, description) in cases {
            assert_eq!(
                Concurrency::from_budget(memory_kib, budget_mib, wait).permits,
                permits,
                "{description}"
            );
        }
    }

    #[tokio::test]
    async fn a_hash_that_finds_every_permit_busy_is_refused_after_the_wait() {
        // Arrange: one permit, taken.
        let hasher = Hasher::new(
            64,
            1,
            Concurrency {
                permits: 1,
                wait: Duration::from_millis(20),
            },
        )
        .expect("valid parameters");
        let held = hasher.turn().await.expect("the only permit");

        // Act
        let refused = hasher.hash("a long password".to_owned()).await;
        drop(held);
        let served = hasher.hash("a long password".to_owned()).await;

        // Assert
        assert!(matches!(refused, Err(Error::Unavailable)), "{refused:?}");
        assert!(served.is_ok(), "{served:?}");
        assert_eq!(hasher.peak_concurrency(), 1);
    }
}

//! Argon2id password hashing, run on the blocking pool so it never stalls the async workers.

use std::sync::Arc;

use anyhow::Context as _;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};

use super::Result;

/// Hashes and verifies passwords with fixed Argon2id parameters.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// A hash of a random password, verified against when a login names no user, so both cases take as long.
    decoy: Arc<str>,
}

impl Hasher {
    /// Argon2id with `memory_kib` of memory and `iterations` passes (OWASP: 19 MiB, 2 passes).
    pub fn new(memory_kib: u32, iterations: u32) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let decoy = hash_with(&params, &uuid::Uuid::new_v4().to_string())?;
        Ok(Self {
            params,
            decoy: decoy.into(),
        })
    }

    /// Hashes `password` into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String> {
        let params = self.params.clone();
        Ok(
            tokio::task::spawn_blocking(move || hash_with(&params, &password))
                .await
                .context("password hashing task failed")??,
        )
    }

    /// Whether `password` matches the PHC string `hash`; with `None`, burns the same time and answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.to_string());
        let matches = tokio::task::spawn_blocking(move || {
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

//! The bench's users and service, inserted directly into the server's database with tokens signed by its secret,
//! so that setting up ten thousand sockets does not spend minutes hashing passwords.

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use sqlx::PgPool;

/// Tells apart the worlds made within one millisecond (their users' names must differ).
static NEXT_WORLD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A user with a signed access token.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The user's id.
    pub id: i64,
    /// An access token for the user.
    pub token: String,
}

/// Everyone the bench acts as, and the one service they order.
pub struct World {
    /// Admins: they see every order's events.
    pub admins: Vec<Fixture>,
    /// Workers, all serving `service`.
    pub workers: Vec<Fixture>,
    /// Clients, who place the orders.
    pub clients: Vec<Fixture>,
    /// The service every order is for.
    pub service: i64,
}

/// How many users of each role a [`World`] has.
#[derive(Debug, Clone, Copy)]
pub struct Population {
    pub admins: usize,
    pub workers: usize,
    pub clients: usize,
}

impl World {
    /// The REST and feed phases' world: 100 admins, 50 workers serving one service, 500 clients. Enough admins
    /// that the feed phase's 1 000 admin sockets (of 10 000) stay within the server's 20 sockets per user.
    pub async fn create(db: &PgPool, secret: &str) -> anyhow::Result<Self> {
        let population = Population {
            admins: 100,
            workers: 50,
            clients: 500,
        };
        Self::populate(db, secret, population).await
    }

    /// Admins, workers serving one service, and clients, inserted directly with signed tokens.
    pub async fn populate(
        db: &PgPool,
        secret: &str,
        population: Population,
    ) -> anyhow::Result<Self> {
        let tag = format!(
            "{}_{}",
            chrono::Utc::now().timestamp_millis(),
            NEXT_WORLD.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let make = async |role: &str, n: usize| -> anyhow::Result<Vec<Fixture>> {
            let ids: Vec<i64> = sqlx::query_scalar(
                "insert into users (username, password_hash, role, full_name)
                 select $1 || '_' || $2 || '_' || g, 'bench fixture: no password', $1, 'Bench ' || $1
                 from generate_series(1, $3) g returning id",
            )
            .bind(role)
            .bind(&tag)
            .bind(i64::try_from(n)?)
            .fetch_all(db)
            .await?;
            ids.into_iter()
                .map(|id| {
                    Ok(Fixture {
                        id,
                        token: sign(secret, id)?,
                    })
                })
                .collect()
        };
        let admins = make("admin", population.admins).await?;
        let workers = make("worker", population.workers).await?;
        let clients = make("client", population.clients).await?;
        let service: i64 = sqlx::query_scalar(
            "insert into services (name, price) values ('Bench service ' || $1, 100000) returning id",
        )
        .bind(&tag)
        .fetch_one(db)
        .await?;
        let worker_ids: Vec<i64> = workers.iter().map(|w| w.id).collect();
        sqlx::query(
            "insert into service_workers (service_id, worker_id) select $1, unnest($2::bigint[])",
        )
        .bind(service)
        .bind(&worker_ids)
        .execute(db)
        .await?;
        Ok(Self {
            admins,
            workers,
            clients,
            service,
        })
    }

    /// The client who places (and sees) the `i`-th order of a run.
    pub fn client(&self, i: usize) -> &Fixture {
        &self.clients[i % self.clients.len()]
    }

    /// The worker who serves (and sees) the `i`-th order of a run.
    pub fn worker(&self, i: usize) -> &Fixture {
        &self.workers[i % self.workers.len()]
    }
}

/// A six-hour access token for user `id`, as the server signs one.
pub fn sign(secret: &str, id: i64) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": id.to_string(), "typ": "access", "iat": now, "exp": now + 6 * 3600});
    Ok(jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

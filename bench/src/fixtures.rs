//! The bench's users and service, inserted directly into the server's database with tokens signed by its secret,
//! so that setting up ten thousand sockets does not spend minutes hashing passwords.

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use sqlx::PgPool;

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

impl World {
    /// Admins, workers serving one service, and clients, inserted directly with signed tokens.
    pub async fn create(db: &PgPool, secret: &str) -> anyhow::Result<Self> {
        let tag = chrono::Utc::now().timestamp_millis();
        let make = async |role: &str, n: usize| -> anyhow::Result<Vec<Fixture>> {
            let ids: Vec<i64> = sqlx::query_scalar(
                "insert into users (username, password_hash, role, full_name)
                 select $1 || '_' || $2 || '_' || g, 'bench fixture: no password', $1, 'Bench ' || $1
                 from generate_series(1, $3) g returning id",
            )
            .bind(role)
            .bind(tag.to_string())
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
        let admins = make("admin", 10).await?;
        let workers = make("worker", 50).await?;
        let clients = make("client", 500).await?;
        let service: i64 = sqlx::query_scalar(
            "insert into services (name, price) values ('Bench service ' || $1, 100000) returning id",
        )
        .bind(tag.to_string())
        .fetch_one(db)
        .await?;
        for w in &workers {
            sqlx::query("insert into service_workers (service_id, worker_id) values ($1, $2)")
                .bind(service)
                .bind(w.id)
                .execute(db)
                .await?;
        }
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

//! The soak's cast, set up through the API as people would: the admin, two workers serving one service, and the
//! clients, each logged in.

use anyhow::{Context as _, ensure};
use serde_json::json;

use super::ctx::{Ctx, Request};
use crate::{ADMIN_NAME, ADMIN_PASSWORD, PRICE};

/// How many workers serve the service.
const WORKERS: usize = 2;

/// A logged-in user.
pub struct User {
    /// The access token.
    pub token: String,
    /// The user's id.
    pub id: i64,
}

/// Everyone the soak acts as, and the service the clients order.
pub struct Cast {
    /// The admin (created by the server's `create-admin`).
    pub admin: User,
    /// The workers serving the service.
    pub workers: Vec<User>,
    /// The clients, who order and pay.
    pub clients: Vec<User>,
    /// The service every order is for.
    pub service_id: i64,
}

impl Cast {
    /// Logs the admin in, has them create the workers and the service, and registers `clients` clients.
    pub async fn enlist(ctx: &Ctx, clients: usize) -> anyhow::Result<Self> {
        let admin = login(ctx, ADMIN_NAME, ADMIN_PASSWORD).await?;
        let mut workers = Vec::new();
        for n in 0..WORKERS {
            let name = format!("soakworker{n}");
            let request = Request::post("/api/v1/users").bearer(&admin.token).json(
                json!({ "username": name, "password": "soak-worker-password", "role": "worker" }),
            );
            let (status, body) = ctx.send_retrying(n, &request).await.context("a worker")?;
            ensure!(status == 201, "worker: {body}");
            workers.push(login(ctx, &name, "soak-worker-password").await?);
        }
        let request = Request::post("/api/v1/services").bearer(&admin.token).json(
            json!({ "name": "Soak service", "description": "", "price": PRICE, "is_active": true }),
        );
        let (status, service) = ctx.send_retrying(0, &request).await.context("a service")?;
        ensure!(status == 201, "service: {service}");
        let service_id = service["id"].as_i64().context("service id")?;
        let request = Request::put(format!("/api/v1/services/{service_id}/workers"))
            .bearer(&admin.token)
            .json(json!({ "worker_ids": workers.iter().map(|w| w.id).collect::<Vec<_>>() }));
        let (status, _) = ctx
            .send_retrying(0, &request)
            .await
            .context("service workers")?;
        ensure!(status == 200, "service workers");
        let mut registered = Vec::new();
        for n in 0..clients {
            let name = format!("soakclient{n}");
            let request = Request::post("/api/v1/auth/register")
                .json(json!({ "username": name, "password": "soak-client-password" }));
            // Whatever it answered, the login below tells whether the client exists.
            ctx.send_retrying(n, &request).await;
            registered.push(login(ctx, &name, "soak-client-password").await?);
        }
        Ok(Self {
            admin,
            workers,
            clients: registered,
            service_id,
        })
    }
}

/// Logs a user in: their access token and id.
async fn login(ctx: &Ctx, username: &str, password: &str) -> anyhow::Result<User> {
    let request = Request::post("/api/v1/auth/login")
        .json(json!({ "username": username, "password": password }));
    let (status, body) = ctx
        .send_retrying(0, &request)
        .await
        .context("login answered")?;
    ensure!(status == 200, "login of {username}: {status} {body}");
    Ok(User {
        token: body["access"].as_str().context("access")?.to_owned(),
        id: body["user"]["id"].as_i64().context("id")?,
    })
}

//! The command line: `serve` (the default), `migrate`, `create-admin` and `seed-demo`.

use std::{
    ffi::OsString,
    io::{BufRead as _, Write as _},
    process::ExitCode,
};

use anyhow::Context as _;
use app::{
    domain::{Context, Error, auth, orders, services, users},
    models::{
        CreateOrderInput, CreateServiceInput, CreateUserInput, PaymentProvider, Role,
        SetWorkersInput,
    },
};
use clap::{Parser, Subcommand};

use crate::{
    Application, MIGRATOR, build_state,
    config::{DatabaseConfig, PasswordConfig, PaymentConfig, ServeConfig},
    connect, leptos_options,
    sandbox::{self, Action},
    shutdown_signal, telemetry,
};

/// Task: order services, follow them live, pay with Payme or Click.
#[derive(Debug, Parser)]
#[command(name = "server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (the default). Applies pending migrations first.
    Serve {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        serve: Box<ServeConfig>,
    },
    /// Apply pending migrations, or revert the latest one.
    Migrate {
        #[command(flatten)]
        db: DatabaseConfig,
        /// Revert the latest applied migration instead.
        #[arg(long)]
        revert: bool,
    },
    /// Create an admin account. The password comes from `ADMIN_PASSWORD` or, if unset, the first line of stdin.
    CreateAdmin {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        password_hashing: PasswordConfig,
        #[arg(long)]
        username: String,
        #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        full_name: Option<String>,
    },
    /// Load demo data (an admin, workers, a client, services, an order) and print the demo accounts.
    SeedDemo {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        password_hashing: PasswordConfig,
    },
    /// Print the OpenAPI 3.1 document of the REST API (the one served at `/api/v1/openapi.json`).
    Openapi,
    /// Print a new VAPID key pair for Web Push, as `.env` lines (`VAPID_PRIVATE_KEY`; the public key is served
    /// at `/api/v1/push/vapid-public-key`).
    VapidKeys,
    /// Play Payme or Click against a running server's webhooks (the built-in gateway sandbox), e.g.
    /// `server sandbox payme --order 5 --action pay`. Uses the same payment credentials as the server.
    Sandbox {
        /// `payme` or `click`.
        #[arg(value_parser = provider)]
        provider: PaymentProvider,
        /// The order to pay.
        #[arg(long)]
        order: i64,
        /// What the payer or the provider does.
        #[arg(long, value_enum)]
        action: Action,
        /// The server whose webhooks are called.
        #[arg(
            long,
            env = "SANDBOX_TARGET_URL",
            default_value = "http://127.0.0.1:3000"
        )]
        target: String,
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        payments: Box<PaymentConfig>,
    },
}

fn provider(value: &str) -> Result<PaymentProvider, String> {
    value
        .parse()
        .map_err(|_| "expected `payme` or `click`".to_owned())
}

/// Parses the command line (no subcommand means `serve`) and runs it.
pub fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    telemetry::init();
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.len() == 1 {
        args.push("serve".into());
    }
    let cli = Cli::parse_from(args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { db, serve } => {
            let pool = connect(&db).await?;
            MIGRATOR
                .run(&pool)
                .await
                .context("Failed to apply migrations")?;
            let state = build_state(*serve, pool, leptos_options()?).await?;
            let app = Application::bind(state).await?;
            tracing::info!("Listening on http://{}", app.local_addr()?);
            app.run_until(shutdown_signal())
                .await
                .context("Server failed")
        }
        Command::Migrate { db, revert } => {
            let pool = connect(&db).await?;
            if revert {
                let applied = sqlx::query_scalar!(
                    r#"select max(version) from _sqlx_migrations where success"#
                )
                .fetch_one(&pool)
                .await
                .context("No migrations are applied")?;
                let target = MIGRATOR
                    .iter()
                    .map(|m| m.version)
                    .filter(|&v| applied.is_some_and(|a| v < a))
                    .max()
                    .unwrap_or(0);
                MIGRATOR
                    .undo(&pool, target)
                    .await
                    .context("Failed to revert the latest migration")?;
                println!("Reverted to version {target}.");
            } else {
                MIGRATOR
                    .run(&pool)
                    .await
                    .context("Failed to apply migrations")?;
                println!("Migrations are up to date.");
            }
            Ok(())
        }
        Command::CreateAdmin {
            db,
            password_hashing,
            username,
            password,
            email,
            full_name,
        } => {
            let password = match password {
                Some(p) => p,
                None => {
                    let mut line = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut line)
                        .context("Failed to read the password from stdin")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let pool = connect(&db).await?;
            MIGRATOR
                .run(&pool)
                .await
                .context("Failed to apply migrations")?;
            let ctx = Context::offline(pool, password_hashing.hasher()?);
            let input = CreateUserInput {
                username,
                password,
                role: Role::Admin,
                email,
                full_name,
                phone: None,
            };
            let user = users::create_unchecked(&ctx, input)
                .await
                .map_err(explain)?;
            println!("Created admin {} (id {}).", user.username, user.id);
            Ok(())
        }
        Command::VapidKeys => {
            let keys = crate::push::generate_keys()?;
            let _ = writeln!(
                std::io::stdout().lock(),
                "VAPID_PRIVATE_KEY={}\n# public key: {}",
                keys.private_key,
                keys.public_key
            );
            Ok(())
        }
        Command::Openapi => {
            let (_, spec) = crate::router::api();
            let json = spec
                .to_pretty_json()
                .context("Failed to serialize the OpenAPI document")?;
            // A closed pipe (`server openapi | head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout().lock(), "{json}");
            Ok(())
        }
        Command::Sandbox {
            provider,
            order,
            action,
            target,
            db,
            payments,
        } => {
            let pool = connect(&db).await?;
            let settings = payments.settings(&target)?;
            sandbox::cli(&pool, settings, &target, provider, order, action).await
        }
        Command::SeedDemo {
            db,
            password_hashing,
        } => {
            let pool = connect(&db).await?;
            MIGRATOR
                .run(&pool)
                .await
                .context("Failed to apply migrations")?;
            seed_demo(&Context::offline(pool, password_hashing.hasher()?)).await
        }
    }
}

/// Turns a domain refusal into a readable CLI error.
fn explain(error: Error) -> anyhow::Error {
    match error {
        Error::Validation(fields) => {
            let lines: Vec<String> = fields
                .0
                .iter()
                .map(|(field, messages)| format!("{field}: {}", messages.join(" ")))
                .collect();
            anyhow::anyhow!("invalid input: {}", lines.join("; "))
        }
        Error::Database(e) => anyhow::Error::new(e).context("database error"),
        Error::Internal(e) => e,
        other => anyhow::anyhow!("{other}"),
    }
}

/// The demo accounts: (username, password, role, full name). Demo-only credentials, printed on purpose.
const DEMO_USERS: [(&str, &str, Role, &str); 4] = [
    ("admin", "admin-demo-2026", Role::Admin, "Dilnoza Admin"),
    ("worker", "worker-demo-2026", Role::Worker, "Bekzod Usta"),
    ("worker2", "worker2-demo-2026", Role::Worker, "Sardor Usta"),
    ("client", "client-demo-2026", Role::Client, "Malika Mijoz"),
];

/// The demo services: (name, description, price in so'm).
const DEMO_SERVICES: [(&str, &str, i64); 4] = [
    (
        "Plumbing repair",
        "Leaks, taps, pipes and drains fixed at your home.",
        150_000,
    ),
    (
        "House cleaning",
        "A full cleaning of a flat up to 80 m².",
        300_000,
    ),
    (
        "Electrician visit",
        "Sockets, switches, lighting and wiring checks.",
        120_000,
    ),
    (
        "Furniture assembly",
        "Assembly of flat-pack furniture, any brand.",
        90_000,
    ),
];

async fn seed_demo(ctx: &Context) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    for (username, password, role, full_name) in DEMO_USERS {
        let user = match users::find_for_login(&ctx.db, username)
            .await
            .map_err(explain)?
        {
            Some(found) => found.user,
            None => {
                let input = CreateUserInput {
                    username: username.to_owned(),
                    password: password.to_owned(),
                    role,
                    email: Some(format!("{username}@demo.task.uz")),
                    full_name: Some(full_name.to_owned()),
                    phone: None,
                };
                users::create_unchecked(ctx, input).await.map_err(explain)?
            }
        };
        ids.push(user);
    }
    let admin = auth::load_actor(&ctx.db, ids[0].id)
        .await
        .map_err(explain)?;
    let client = auth::load_actor(&ctx.db, ids[3].id)
        .await
        .map_err(explain)?;
    let existing = services::list(
        ctx,
        &admin,
        None,
        app::domain::page::PageParams::default()
            .window()
            .map_err(explain)?,
    )
    .await
    .map_err(explain)?;
    if existing.count == 0 {
        for (i, (name, description, som)) in DEMO_SERVICES.into_iter().enumerate() {
            let input = CreateServiceInput {
                name: name.to_owned(),
                description: description.to_owned(),
                price: som * 100,
                is_active: true,
                // Fiscal codes of the demo (a services classifier code, its package, VAT 12 %), so a demo
                // payment shows its receipt end to end.
                ikpu_code: Some(format!("1039900200{i:07}")),
                package_code: Some("1501579".to_owned()),
                vat_percent: Some(12),
            };
            let service = services::create(ctx, &admin, input)
                .await
                .map_err(explain)?;
            let workers = if i % 2 == 0 {
                vec![ids[1].id, ids[2].id]
            } else {
                vec![ids[1].id]
            };
            services::set_workers(
                ctx,
                &admin,
                service.id,
                SetWorkersInput {
                    worker_ids: workers,
                },
            )
            .await
            .map_err(explain)?;
            if i == 0 {
                let order = CreateOrderInput {
                    service_id: service.id,
                    worker_id: None,
                    description: Some("The kitchen tap drips all night.".to_owned()),
                };
                orders::create(ctx, &client, order).await.map_err(explain)?;
            }
        }
    }
    println!("Demo data is ready. Sign in at the app with one of these demo accounts:");
    println!("  {:<8} {:<8} password", "role", "username");
    for (username, password, role, _) in DEMO_USERS {
        println!("  {:<8} {:<8} {password}", role.as_str(), username);
    }
    Ok(())
}

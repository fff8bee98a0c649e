//! `server sandbox <provider> --order N --action A`: the gateway sandbox from the command line.

use std::sync::Arc;

use anyhow::bail;
use app::{domain::payments::Settings, models::PaymentProvider};
use sqlx::PgPool;

use super::{Action, Gateway};

/// `server sandbox <provider> --order N --action A`: runs the sandbox against a running server and prints the
/// exchanges; fails unless every answer is the expected one.
pub async fn cli(
    db: &PgPool,
    settings: Settings,
    target: &str,
    provider: PaymentProvider,
    order_id: i64,
    action: Action,
) -> anyhow::Result<()> {
    let gateway = Gateway::new(target, Arc::new(settings))?;
    let log = gateway.run(db, provider, order_id, action).await?;
    let mut failed = false;
    for step in &log {
        println!("{} {}", if step.ok { "ok " } else { "ERR" }, step.call);
        println!("    -> {}", step.request);
        println!("    <- {}", step.response);
        failed |= !step.ok;
    }
    let status = sqlx::query_scalar!(r#"select status from orders where id = $1"#, order_id)
        .fetch_one(db)
        .await?;
    println!("Order #{order_id} is now {status}.");
    if failed || log.is_empty() {
        bail!("the {} did not go through", action.as_str());
    }
    Ok(())
}

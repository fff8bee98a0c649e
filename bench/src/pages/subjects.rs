//! Who the pages are read as: the grown population's busiest client and busiest worker and its first admin (who
//! last read everything a week ago), with the orders and feed positions their reads name.

use anyhow::Context as _;
use sqlx::PgPool;

use crate::fixtures::sign;

/// A user the reads are made as.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The user's id.
    pub id: i64,
    /// Their username (every page they open shows it).
    pub username: String,
    /// An access token for the user (as the session cookie and as the bearer token).
    pub token: String,
    /// The orders they see.
    pub orders: i64,
    /// The notifications in their feed.
    pub notifications: i64,
    /// Of those, the unread ones (their badge).
    pub unread: i64,
    /// The id before the newest 20 of their feed: where a socket that missed 20 events catches up from.
    pub after_id: i64,
    /// The order whose page they open: their newest one with a conversation, if any, else their newest.
    pub order: i64,
}

/// The three users of a population the pages are read as, and the service its lists filter by.
#[derive(Debug, Clone)]
pub struct Subjects {
    pub client: Subject,
    pub worker: Subject,
    pub admin: Subject,
    /// The population's busiest service.
    pub service: i64,
}

/// Picks the subjects among the users of the population grown with `tag`, with tokens signed by `secret`.
pub async fn pick(db: &PgPool, tag: &str, secret: &str) -> anyhow::Result<Subjects> {
    let busiest = |column: &'static str| {
        format!(
            "select o.{column} from orders o join users u on u.id = o.{column}
             where starts_with(u.username, $1 || '_' || u.role || '_') and u.role = $2
             group by o.{column} order by count(*) desc, o.{column} limit 1"
        )
    };
    let client: i64 = sqlx::query_scalar(&busiest("client_id"))
        .bind(tag)
        .bind("client")
        .fetch_one(db)
        .await
        .with_context(|| format!("no client of the population {tag} has orders"))?;
    let worker: i64 = sqlx::query_scalar(&busiest("worker_id"))
        .bind(tag)
        .bind("worker")
        .fetch_one(db)
        .await
        .with_context(|| format!("no worker of the population {tag} has orders"))?;
    let admin: i64 = sqlx::query_scalar(
        "select id from users where role = 'admin' and starts_with(username, $1 || '_admin_') order by id limit 1",
    )
    .bind(tag)
    .fetch_one(db)
    .await
    .with_context(|| format!("the population {tag} has no admin"))?;
    let service: i64 = sqlx::query_scalar(
        "select o.service_id from orders o join services s on s.id = o.service_id
         where s.name like '%(' || $1 || ')' group by o.service_id order by count(*) desc limit 1",
    )
    .bind(tag)
    .fetch_one(db)
    .await?;
    let client = subject(db, secret, client, Scope::Client, None).await?;
    let worker = subject(db, secret, worker, Scope::Worker, None).await?;
    // The admin opens the client's order.
    let admin = subject(db, secret, admin, Scope::All, Some(client.order)).await?;
    Ok(Subjects {
        client,
        worker,
        admin,
        service,
    })
}

/// What a user sees: their own orders as a client, the assigned ones as a worker, everything as an admin.
#[derive(Clone, Copy)]
enum Scope {
    Client,
    Worker,
    All,
}

impl Scope {
    /// The condition on `orders` or `notifications` rows for user `$1` (always true for admins).
    fn condition(self) -> &'static str {
        match self {
            Self::Client => "client_id = $1",
            Self::Worker => "worker_id = $1",
            Self::All => "$1::bigint is not null",
        }
    }
}

/// User `id` as a subject; the order whose page they open is `order`, or else found in their scope.
async fn subject(
    db: &PgPool,
    secret: &str,
    id: i64,
    scope: Scope,
    order: Option<i64>,
) -> anyhow::Result<Subject> {
    let visible = scope.condition();
    let scalar = async |sql: String| -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(&sql).bind(id).fetch_one(db).await?)
    };
    let orders = scalar(format!("select count(*) from orders where {visible}")).await?;
    let notifications = scalar(format!(
        "select count(*) from notifications where {visible}"
    ))
    .await?;
    let unread = scalar(format!(
        "select count(*) from notifications n where {visible}
           and n.id > (select notifications_read_upto from users where id = $1)
           and not exists (select 1 from notification_reads r where r.user_id = $1 and r.notification_id = n.id)"
    ))
    .await?;
    let after_id = scalar(format!(
        "select coalesce((select id from notifications where {visible} order by id desc offset 20 limit 1), 0)"
    ))
    .await?;
    let order = match order {
        Some(order) => order,
        None => {
            scalar(format!(
                "select o.id from orders o where {visible}
                 order by exists (select 1 from order_messages m where m.order_id = o.id) desc, o.id desc limit 1"
            ))
            .await?
        }
    };
    let username = sqlx::query_scalar("select username from users where id = $1")
        .bind(id)
        .fetch_one(db)
        .await?;
    Ok(Subject {
        id,
        username,
        token: sign(secret, id)?,
        orders,
        notifications,
        unread,
        after_id,
        order,
    })
}

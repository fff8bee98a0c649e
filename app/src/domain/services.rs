//! The service catalogue and which workers serve each service.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{
    Actor, Error, FieldErrors, Result, ResultExt,
    context::Context,
    page::{self, Slice, Window},
};
use crate::models::{
    CreateServiceInput, Offer, Service, SetWorkersInput, UpdateServiceInput, UserSummary, validate,
};

/// The unique index on `lower(name)`.
const NAME_KEY: &str = "services_name_key";

fn name_taken() -> Error {
    Error::Conflict("A service with that name already exists.".to_owned())
}

/// A `services` row with its workers' ids.
struct ServiceRow {
    id: i64,
    name: String,
    description: String,
    price: i64,
    is_active: bool,
    worker_ids: Vec<i64>,
    ikpu_code: Option<String>,
    package_code: Option<String>,
    vat_percent: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ServiceRow> for Service {
    fn from(r: ServiceRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            price: r.price,
            is_active: r.is_active,
            worker_ids: r.worker_ids,
            ikpu_code: r.ikpu_code,
            package_code: r.package_code,
            vat_percent: r.vat_percent,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Loads one service; inactive ones only for admins.
async fn fetch(db: impl sqlx::PgExecutor<'_>, id: i64, include_inactive: bool) -> Result<Service> {
    sqlx::query_as!(
        ServiceRow,
        r#"
        select s.id, s.name, s.description, s.price, s.is_active, s.ikpu_code, s.package_code, s.vat_percent,
               s.created_at, s.updated_at,
               array(select worker_id from service_workers w where w.service_id = s.id order by worker_id)
                   as "worker_ids!"
        from services s where s.id = $1 and (s.is_active or $2)
        "#,
        id,
        include_inactive
    )
    .fetch_optional(db)
    .await?
    .map(Service::from)
    .ok_or(Error::NotFound)
}

/// The catalogue, newest first. Admins also see inactive services and may filter on `is_active`.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    is_active: Option<bool>,
    window: Window,
) -> Result<Slice<Service>> {
    let db = &ctx.db;
    let is_active = if actor.is_admin() {
        is_active
    } else {
        Some(true)
    };
    Ok(
        page::counted(window, |window| list_page(db, is_active, window))
            .await?
            .map(Service::from),
    )
}

/// A page of [`list`], each row with the filter's total.
async fn list_page(
    db: &PgPool,
    is_active: Option<bool>,
    window: Window,
) -> Result<Vec<(i64, ServiceRow)>> {
    let records = sqlx::query!(
        r#"
        with hit as not materialized (
            select id, name, description, price, is_active, ikpu_code, package_code, vat_percent, created_at,
                   updated_at
            from services where ($1::bool is null or is_active = $1)
        )
        select (select count(*) from hit) as "total!", s.id, s.name, s.description, s.price, s.is_active,
               s.ikpu_code, s.package_code, s.vat_percent, s.created_at, s.updated_at,
               array(select worker_id from service_workers w where w.service_id = s.id order by worker_id)
                   as "worker_ids!"
        from hit s order by s.id desc limit $2 offset $3
        "#,
        is_active,
        window.limit,
        window.offset
    )
    .fetch_all(db)
    .await?;
    Ok(page::counted_rows!(records => ServiceRow {
        id, name, description, price, is_active, worker_ids, ikpu_code, package_code, vat_percent, created_at,
        updated_at
    }))
}

/// One service; an inactive one is 404 except for admins.
pub async fn get(ctx: &Context, actor: &Actor, id: i64) -> Result<Service> {
    let db = &ctx.db;
    fetch(db, id, actor.is_admin()).await
}

fn check_fields(
    errors: &mut FieldErrors,
    name: Option<&str>,
    description: Option<&str>,
    price: Option<i64>,
) {
    if let Some(name) = name {
        errors.check("name", validate::required_text(name, 200));
    }
    if let Some(description) = description {
        errors.check("description", validate::max_text(description, 5000));
    }
    if let Some(price) = price {
        errors.check("price", validate::price(price));
    }
}

/// The fiscal fields of a service (`shared/PAYMENTS.md` §4), each checked when given: the IKPU code is 17 digits,
/// the package code 1 to 20 letters, digits or dashes, the VAT rate 0 to 100. An empty text clears a code.
#[derive(Debug, Default)]
struct Fiscal<'a> {
    ikpu_code: Option<Option<&'a str>>,
    package_code: Option<Option<&'a str>>,
    vat_percent: Option<i32>,
}

impl<'a> Fiscal<'a> {
    fn new(
        ikpu_code: Option<Option<&'a str>>,
        package_code: Option<Option<&'a str>>,
        vat_percent: Option<i32>,
    ) -> Self {
        let blank_is_none =
            |v: Option<Option<&'a str>>| v.map(|v| v.map(str::trim).filter(|v| !v.is_empty()));
        Self {
            ikpu_code: blank_is_none(ikpu_code),
            package_code: blank_is_none(package_code),
            vat_percent,
        }
    }

    fn check(&self, errors: &mut FieldErrors) {
        if let Some(Some(code)) = self.ikpu_code
            && (code.len() != 17 || !code.bytes().all(|b| b.is_ascii_digit()))
        {
            errors.add("ikpu_code", "The IKPU code is 17 digits.");
        }
        if let Some(Some(code)) = self.package_code
            && (code.len() > 20 || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            errors.add(
                "package_code",
                "The package code is at most 20 letters, digits or dashes.",
            );
        }
        if let Some(vat) = self.vat_percent
            && !(0..=100).contains(&vat)
        {
            errors.add(
                "vat_percent",
                "The VAT rate is a whole percent from 0 to 100.",
            );
        }
    }
}

/// An admin adds a service.
pub async fn create(ctx: &Context, actor: &Actor, input: CreateServiceInput) -> Result<Service> {
    let db = &ctx.db;
    actor.require_admin()?;
    let name = input.name.trim();
    let mut errors = FieldErrors::default();
    check_fields(
        &mut errors,
        Some(name),
        Some(&input.description),
        Some(input.price),
    );
    let fiscal = Fiscal::new(
        Some(input.ikpu_code.as_deref()),
        Some(input.package_code.as_deref()),
        input.vat_percent,
    );
    fiscal.check(&mut errors);
    errors.finish()?;
    let id = sqlx::query_scalar!(
        r#"
        insert into services (name, description, price, is_active, ikpu_code, package_code, vat_percent)
        values ($1, $2, $3, $4, $5, $6, $7) returning id
        "#,
        name,
        input.description,
        input.price,
        input.is_active,
        fiscal.ikpu_code.flatten(),
        fiscal.package_code.flatten(),
        fiscal.vat_percent.unwrap_or(0)
    )
    .fetch_one(db)
    .await
    .on_constraint(NAME_KEY, name_taken)?;
    tracing::info!(service.id = id, admin.id = actor.id, "Created service {id}");
    fetch(db, id, true).await
}

/// An admin changes a service. Orders already placed keep the price they were placed at.
pub async fn update(
    ctx: &Context,
    actor: &Actor,
    id: i64,
    input: UpdateServiceInput,
) -> Result<Service> {
    let db = &ctx.db;
    actor.require_admin()?;
    let name = input.name.as_deref().map(str::trim);
    let mut errors = FieldErrors::default();
    check_fields(&mut errors, name, input.description.as_deref(), input.price);
    let fiscal = Fiscal::new(
        input.ikpu_code.as_ref().map(Option::as_deref),
        input.package_code.as_ref().map(Option::as_deref),
        input.vat_percent,
    );
    fiscal.check(&mut errors);
    errors.finish()?;
    let updated = sqlx::query_scalar!(
        r#"
        update services set name = coalesce($2, name), description = coalesce($3, description),
            price = coalesce($4, price), is_active = coalesce($5, is_active),
            ikpu_code = case when $6 then $7 else ikpu_code end,
            package_code = case when $8 then $9 else package_code end,
            vat_percent = coalesce($10, vat_percent)
        where id = $1 returning id
        "#,
        id,
        name,
        input.description,
        input.price,
        input.is_active,
        fiscal.ikpu_code.is_some(),
        fiscal.ikpu_code.flatten(),
        fiscal.package_code.is_some(),
        fiscal.package_code.flatten(),
        fiscal.vat_percent
    )
    .fetch_optional(db)
    .await
    .on_constraint(NAME_KEY, name_taken)?;
    updated.ok_or(Error::NotFound)?;
    fetch(db, id, true).await
}

/// An admin withdraws a service from the catalogue. It is kept (orders refer to it), only deactivated.
pub async fn deactivate(ctx: &Context, actor: &Actor, id: i64) -> Result<()> {
    let db = &ctx.db;
    actor.require_admin()?;
    let done = sqlx::query!(r#"update services set is_active = false where id = $1"#, id)
        .execute(db)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// The workers of a service (active or not), by id.
pub async fn workers(ctx: &Context, actor: &Actor, id: i64) -> Result<Vec<UserSummary>> {
    let db = &ctx.db;
    fetch(db, id, actor.is_admin()).await?;
    Ok(sqlx::query_as!(
        UserSummary,
        r#"
        select u.id, u.username, u.full_name from service_workers w join users u on u.id = w.worker_id
        where w.service_id = $1 order by u.id
        "#,
        id
    )
    .fetch_all(db)
    .await?)
}

/// The workers of several services at once (a catalogue page's), in one query, by service. The services'
/// visibility is the caller's to check (they come from [`list`]).
async fn workers_of(db: &PgPool, services: &[i64]) -> Result<HashMap<i64, Vec<UserSummary>>> {
    let rows = sqlx::query!(
        r#"
        select w.service_id, u.id, u.username, u.full_name from service_workers w join users u on u.id = w.worker_id
        where w.service_id = any($1) order by u.id
        "#,
        services
    )
    .fetch_all(db)
    .await?;
    let mut by_service: HashMap<i64, Vec<UserSummary>> = HashMap::new();
    for r in rows {
        by_service
            .entry(r.service_id)
            .or_default()
            .push(UserSummary {
                id: r.id,
                username: r.username,
                full_name: r.full_name,
            });
    }
    Ok(by_service)
}

/// An admin replaces the set of workers of a service. Every id must be an active worker.
pub async fn set_workers(
    ctx: &Context,
    actor: &Actor,
    id: i64,
    input: SetWorkersInput,
) -> Result<Vec<UserSummary>> {
    let db = &ctx.db;
    actor.require_admin()?;
    let mut ids = input.worker_ids;
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > 1000 {
        return Err(Error::field("worker_ids", "At most 1000 workers."));
    }
    let mut tx = db.begin().await?;
    sqlx::query!(r#"select id from services where id = $1 for update"#, id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
    let valid = sqlx::query_scalar!(
        r#"select id from users where id = any($1) and role = 'worker' and is_active order by id"#,
        &ids
    )
    .fetch_all(&mut *tx)
    .await?;
    let invalid: Vec<String> = ids
        .iter()
        .filter(|id| !valid.contains(id))
        .map(i64::to_string)
        .collect();
    if !invalid.is_empty() {
        return Err(Error::field(
            "worker_ids",
            format!("Not active workers: {}.", invalid.join(", ")),
        ));
    }
    sqlx::query!(
        r#"delete from service_workers where service_id = $1 and not (worker_id = any($2))"#,
        id,
        &ids
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"insert into service_workers (service_id, worker_id) select $1, unnest($2::bigint[]) on conflict do nothing"#,
        id,
        &ids
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    workers(ctx, actor, id).await
}

/// The catalogue: a page of active services, each with the workers a client may choose from (all their workers
/// in one query).
pub async fn catalogue(ctx: &Context, actor: &Actor, window: Window) -> Result<Slice<Offer>> {
    let services = list(ctx, actor, Some(true), window).await?;
    let ids: Vec<i64> = services.results.iter().map(|s| s.id).collect();
    let mut workers = workers_of(&ctx.db, &ids).await?;
    Ok(services.map(|service| Offer {
        workers: workers.remove(&service.id).unwrap_or_default(),
        service,
    }))
}

/// A price typed in whole so'm (spaces and commas as thousands separators allowed), in tiyin.
pub fn som_to_tiyin(field: &str, typed: &str) -> Result<i64> {
    typed
        .trim()
        .replace([' ', ','], "")
        .parse::<i64>()
        .map(|som| som.saturating_mul(100))
        .map_err(|_| Error::field(field, "Enter a whole number of so'm."))
}

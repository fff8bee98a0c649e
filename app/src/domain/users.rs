//! Accounts: self-registration (always a client), admin management, the caller's own profile.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    Actor, Error, FieldErrors, Result, ResultExt,
    context::{Context, Limits},
    page::{self, Slice, Window},
    parse_column,
    password::Hasher,
    tallies, tokens,
};
use crate::models::{
    CreateUserInput, RegisterInput, Role, RosterEntry, TokenPair, UpdateMeInput, UpdateUserInput,
    User, UserStats, validate,
};

/// The unique index on `lower(username)`.
const USERNAME_KEY: &str = "users_username_key";

/// A `users` row without its password hash.
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub email: Option<String>,
    pub full_name: String,
    pub phone: Option<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = Error;

    fn try_from(row: UserRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            username: row.username,
            role: parse_column(&row.role)?,
            email: row.email,
            full_name: row.full_name,
            phone: row.phone,
            is_active: row.is_active,
            created_at: row.created_at,
        })
    }
}

/// Trims optional text and turns blank into `None`.
fn blank_to_none(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The fields every new account shares, validated.
struct NewUser {
    username: String,
    password: String,
    role: Role,
    email: Option<String>,
    full_name: String,
    phone: Option<String>,
}

impl NewUser {
    fn validate(self) -> Result<Self> {
        let mut errors = FieldErrors::default();
        errors.check("username", validate::username(&self.username));
        errors.check(
            "password",
            validate::password(&self.password, &self.username),
        );
        if let Some(email) = &self.email {
            errors.check("email", validate::email(email));
        }
        if let Some(phone) = &self.phone {
            errors.check("phone", validate::phone(phone));
        }
        errors.check("full_name", validate::max_text(&self.full_name, 200));
        errors.finish()?;
        Ok(self)
    }

    async fn insert(self, db: &PgPool, hasher: &Hasher) -> Result<User> {
        let hash = hasher.hash(self.password).await?;
        let row = sqlx::query_as!(
            UserRow,
            r#"
            insert into users (username, password_hash, role, email, full_name, phone)
            values ($1, $2, $3, $4, $5, $6)
            returning id, username, role, email, full_name, phone, is_active, created_at
            "#,
            self.username,
            hash,
            self.role.as_str(),
            self.email,
            self.full_name,
            self.phone
        )
        .fetch_one(db)
        .await
        .on_constraint(USERNAME_KEY, || {
            Error::Conflict("A user with that username already exists.".to_owned())
        })?;
        let user = User::try_from(row)?;
        tracing::info!(user.id = user.id, user.role = %user.role, "Created {} user {}", user.role, user.id);
        Ok(user)
    }
}

/// Self-registration: always creates an active `client`.
pub(crate) async fn register(ctx: &Context, input: RegisterInput) -> Result<User> {
    NewUser {
        username: input.username.trim().to_owned(),
        password: input.password,
        role: Role::Client,
        email: blank_to_none(input.email),
        full_name: input.full_name.unwrap_or_default().trim().to_owned(),
        phone: blank_to_none(input.phone),
    }
    .validate()?
    .insert(&ctx.db, &ctx.hasher)
    .await
}

/// An admin creates a user of any role.
pub async fn create(ctx: &Context, actor: &Actor, input: CreateUserInput) -> Result<User> {
    actor.require_admin()?;
    create_unchecked(ctx, input).await
}

/// Creates a user of any role without asking who wants it: for the server CLI and the demo seed only.
pub async fn create_unchecked(ctx: &Context, input: CreateUserInput) -> Result<User> {
    NewUser {
        username: input.username.trim().to_owned(),
        password: input.password,
        role: input.role,
        email: blank_to_none(input.email),
        full_name: input.full_name.unwrap_or_default().trim().to_owned(),
        phone: blank_to_none(input.phone),
    }
    .validate()?
    .insert(&ctx.db, &ctx.hasher)
    .await
}

/// What a login by username needs of the user.
pub struct LoginRow {
    /// The PHC string of the password.
    pub password_hash: String,
    /// The session epoch the new session starts in.
    pub session_epoch: i64,
    pub user: User,
}

/// The password hash, session epoch and user for a login by username (case-insensitive).
pub async fn find_for_login(db: &PgPool, username: &str) -> Result<Option<LoginRow>> {
    let row = sqlx::query!(
        r#"
        select id, username, password_hash, role, email, full_name, phone, is_active, created_at, session_epoch
        from users where lower(username) = lower($1)
        "#,
        username.trim()
    )
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        let user = User::try_from(UserRow {
            id: r.id,
            username: r.username,
            role: r.role,
            email: r.email,
            full_name: r.full_name,
            phone: r.phone,
            is_active: r.is_active,
            created_at: r.created_at,
        })?;
        Ok(LoginRow {
            password_hash: r.password_hash,
            session_epoch: r.session_epoch,
            user,
        })
    })
    .transpose()
}

/// Any user by id (no permission check: callers decide who may see whom).
pub async fn fetch(db: impl sqlx::PgExecutor<'_>, id: i64) -> Result<User> {
    sqlx::query_as!(
        UserRow,
        r#"select id, username, role, email, full_name, phone, is_active, created_at from users where id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(Error::NotFound)?
    .try_into()
}

/// A user, for admins.
pub async fn get(ctx: &Context, actor: &Actor, id: i64) -> Result<User> {
    actor.require_admin()?;
    fetch(&ctx.db, id).await
}

/// Every user, newest first, optionally of one role (admins only).
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    role: Option<Role>,
    window: Window,
) -> Result<Slice<User>> {
    actor.require_admin()?;
    let db = &ctx.db;
    let role = role.map(Role::as_str);
    let count = tallies::sum(db, "users:", |rest| role.is_none_or(|r| r == rest))
        .await?
        .n;
    page::counted_from_nearer_end(window, Some(count), |window, from_tail| {
        list_page(db, role, window, from_tail, count)
    })
    .await?
    .try_map(User::try_from)
}

/// [`list`] for the admin's users page, each user with their PINFL/TIN (which the user object does not show).
pub async fn roster(
    ctx: &Context,
    actor: &Actor,
    role: Option<Role>,
    window: Window,
) -> Result<Slice<RosterEntry>> {
    let slice = list(ctx, actor, role, window).await?;
    let ids: Vec<i64> = slice.results.iter().map(|u| u.id).collect();
    let tax_ids: HashMap<i64, String> = sqlx::query!(
        r#"select id, tax_id as "tax_id!" from users where id = any($1) and tax_id is not null"#,
        &ids
    )
    .fetch_all(&ctx.db)
    .await?
    .into_iter()
    .map(|r| (r.id, r.tax_id))
    .collect();
    Ok(slice.map(|user| RosterEntry {
        tax_id: tax_ids.get(&user.id).cloned(),
        user,
    }))
}

/// A page of [`list`], newest first or, `from_tail`, oldest first; each row with the count the tallies gave.
async fn list_page(
    db: &PgPool,
    role: Option<&str>,
    window: Window,
    from_tail: bool,
    count: i64,
) -> Result<Vec<(i64, UserRow)>> {
    let mut tx = page::planned_for_its_parameters(db).await?;
    let records = sqlx::query!(
        r#"
        with page as (
            (select id from users where not $4 and ($1::text is null or role = $1)
             order by id desc limit $2 offset $3)
            union all
            (select id from users where $4 and ($1::text is null or role = $1) order by id asc limit $2 offset $3)
        )
        select $5::bigint as "total!", u.id, u.username, u.role, u.email, u.full_name, u.phone, u.is_active,
               u.created_at
        from page join users u on u.id = page.id
        order by case when $4 then u.id end, u.id desc
        "#,
        role,
        window.limit,
        window.offset,
        from_tail,
        count
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(page::counted_rows!(records => UserRow {
        id, username, role, email, full_name, phone, is_active, created_at
    }))
}

/// Head counts by role (admins only), from the tallies.
pub async fn stats(ctx: &Context, actor: &Actor) -> Result<UserStats> {
    actor.require_admin()?;
    let by_role = tallies::under(&ctx.db, "users:").await?;
    let of = |role: Role| by_role.get(role.as_str()).map_or(0, |t| t.n);
    let (clients, workers, admins) = (of(Role::Client), of(Role::Worker), of(Role::Admin));
    Ok(UserStats {
        total: clients + workers + admins,
        clients,
        workers,
        admins,
    })
}

/// A validated change to a user; `None` leaves a field as it is.
#[derive(Default)]
struct Change {
    email: Option<Option<String>>,
    full_name: Option<String>,
    phone: Option<Option<String>>,
    password_hash: Option<String>,
    role: Option<Role>,
    is_active: Option<bool>,
    /// A worker's PINFL or TIN (`Some(None)` clears it).
    tax_id: Option<Option<String>>,
}

impl Change {
    /// Validates the profile fields every user may change, hashing a new password.
    async fn profile(
        hasher: &Hasher,
        username: &str,
        email: Option<Option<String>>,
        full_name: Option<String>,
        phone: Option<Option<String>>,
        password: Option<String>,
    ) -> Result<Self> {
        let email = email.map(blank_to_none);
        let phone = phone.map(blank_to_none);
        let full_name = full_name.map(|n| n.trim().to_owned());
        let mut errors = FieldErrors::default();
        if let Some(Some(email)) = &email {
            errors.check("email", validate::email(email));
        }
        if let Some(Some(phone)) = &phone {
            errors.check("phone", validate::phone(phone));
        }
        if let Some(name) = &full_name {
            errors.check("full_name", validate::max_text(name, 200));
        }
        if let Some(password) = &password {
            errors.check("password", validate::password(password, username));
        }
        errors.finish()?;
        let password_hash = match password {
            Some(p) => Some(hasher.hash(p).await?),
            None => None,
        };
        Ok(Self {
            email,
            full_name,
            phone,
            password_hash,
            role: None,
            is_active: None,
            tax_id: None,
        })
    }

    /// Whether the change ends the user's sessions: a new password, a new role or a deactivation.
    fn ends_sessions(&self) -> bool {
        self.password_hash.is_some() || self.role.is_some() || self.is_active == Some(false)
    }

    /// Writes the change and answers the user with their session epoch after it. One that ends the user's
    /// sessions moves their session epoch on (access tokens issued before are refused) and revokes their refresh
    /// tokens, in the same transaction; after the commit it closes their sockets and drops their cached access on
    /// every instance.
    async fn apply(self, ctx: &Context, id: i64) -> Result<(User, i64)> {
        let ends_sessions = self.ends_sessions();
        let mut tx = ctx.db.begin().await?;
        let row = sqlx::query!(
            r#"
            update users set
                email = case when $2 then $3 else email end,
                full_name = coalesce($4, full_name),
                phone = case when $5 then $6 else phone end,
                password_hash = coalesce($7, password_hash),
                role = coalesce($8, role),
                is_active = coalesce($9, is_active),
                session_epoch = session_epoch + case when $10 then 1 else 0 end,
                tax_id = case when $11 then $12 else tax_id end
            where id = $1
            returning id, username, role, email, full_name, phone, is_active, created_at, session_epoch
            "#,
            id,
            self.email.is_some(),
            self.email.flatten(),
            self.full_name,
            self.phone.is_some(),
            self.phone.flatten(),
            self.password_hash.as_deref(),
            self.role.map(Role::as_str),
            self.is_active,
            ends_sessions,
            self.tax_id.is_some(),
            self.tax_id.flatten()
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
        if ends_sessions {
            tokens::revoke_all(&mut *tx, id).await?;
        }
        tx.commit().await?;
        if ends_sessions {
            ctx.events.access_changed(id);
        }
        let user = User::try_from(UserRow {
            id: row.id,
            username: row.username,
            role: row.role,
            email: row.email,
            full_name: row.full_name,
            phone: row.phone,
            is_active: row.is_active,
            created_at: row.created_at,
        })?;
        Ok((user, row.session_epoch))
    }
}

/// The outcome of the caller's change to their own profile.
pub struct UpdatedMe {
    pub user: User,
    /// After a password change, which ended every session of the caller: a new session for the one that made the
    /// change (a browser's adapter puts it into the cookies, so that tab keeps working).
    pub session: Option<TokenPair>,
}

/// The caller's own profile.
pub async fn me(ctx: &Context, actor: &Actor) -> Result<User> {
    fetch(&ctx.db, actor.id).await
}

/// The caller changes their own profile (never their role or id). A new password needs the current one (400 on
/// `current_password` if it is missing or wrong; failed checks are limited like failed sign-ins) and ends every
/// session of the caller, the answer carrying a new one for the session that made the change.
pub async fn update_me(ctx: &Context, actor: &Actor, input: UpdateMeInput) -> Result<UpdatedMe> {
    let changes_password = input.password.is_some();
    if changes_password {
        check_current_password(ctx, actor, input.current_password).await?;
    }
    let (user, epoch) = Change::profile(
        &ctx.hasher,
        &actor.username,
        input.email,
        input.full_name,
        input.phone,
        input.password,
    )
    .await?
    .apply(ctx, actor.id)
    .await?;
    let session = if changes_password {
        tokens::issue_pair(&ctx.db, &ctx.tokens, actor.id, Uuid::new_v4(), epoch).await?
    } else {
        None
    };
    Ok(UpdatedMe { user, session })
}

/// `Ok` if `current` is the caller's password; else 400 on `current_password`. Failed checks count against a
/// limit per user, as failed sign-ins do per address: a stolen access token must not become a way to guess the
/// password.
async fn check_current_password(
    ctx: &Context,
    actor: &Actor,
    current: Option<String>,
) -> Result<()> {
    let Some(current) = current.filter(|c| !c.is_empty()) else {
        return Err(Error::field(
            "current_password",
            "Give your current password to change it.",
        ));
    };
    let key = format!("password:fail:user:{}", actor.id);
    let reservation = ctx
        .limiter
        .reserve(
            &[(&key, ctx.limits.login_failures_per_minute)],
            Limits::MINUTE,
        )
        .await?;
    let hash = sqlx::query_scalar!("select password_hash from users where id = $1", actor.id)
        .fetch_optional(&ctx.db)
        .await;
    let matches = match hash {
        Ok(hash) => ctx.hasher.verify(current, hash).await,
        Err(e) => Err(e.into()),
    };
    if !matches!(matches, Ok(false)) {
        ctx.limiter.release(reservation).await;
    }
    if matches? {
        Ok(())
    } else {
        Err(Error::field(
            "current_password",
            "The current password is not correct.",
        ))
    }
}

/// An admin changes any user, including role and activation. Admins cannot demote or deactivate themselves.
/// A new role, a new password or a deactivation ends the user's sessions: refresh tokens, cached access and open
/// sockets, on every instance.
pub async fn update(ctx: &Context, actor: &Actor, id: i64, input: UpdateUserInput) -> Result<User> {
    actor.require_admin()?;
    let target = fetch(&ctx.db, id).await?;
    if id == actor.id
        && (input.role.is_some_and(|r| r != Role::Admin) || input.is_active == Some(false))
    {
        return Err(Error::Conflict(
            "Admins cannot demote or deactivate themselves.".to_owned(),
        ));
    }
    let tax_id = input
        .tax_id
        .map(|t| t.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()));
    if let Some(Some(t)) = &tax_id
        && !(matches!(t.len(), 9 | 14) && t.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Error::field(
            "tax_id",
            "A PINFL is 14 digits, a TIN 9 digits.",
        ));
    }
    let mut change = Change::profile(
        &ctx.hasher,
        &target.username,
        input.email,
        input.full_name,
        input.phone,
        input.password,
    )
    .await?;
    // Only a real change of role ends the user's sessions.
    change.role = input.role.filter(|&role| role != target.role);
    change.is_active = input.is_active;
    change.tax_id = tax_id;
    let (user, _) = change.apply(ctx, id).await?;
    tracing::info!(
        user.id = id,
        admin.id = actor.id,
        "Admin {} updated user {id}",
        actor.id
    );
    Ok(user)
}

/// An admin deactivates a user: their tokens stop working at once. Idempotent.
pub async fn deactivate(ctx: &Context, actor: &Actor, id: i64) -> Result<()> {
    update(
        ctx,
        actor,
        id,
        UpdateUserInput {
            is_active: Some(false),
            ..Default::default()
        },
    )
    .await
    .map(drop)
}

/// The UI language a user chose (`en`, `ru`, `uz`), if any.
pub async fn language(ctx: &Context, user_id: i64) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar!("select language from users where id = $1", user_id)
            .fetch_optional(&ctx.db)
            .await?
            .flatten(),
    )
}

/// Remembers a user's UI language (one of the supported tags).
pub async fn set_language(ctx: &Context, user_id: i64, tag: &str) -> Result<()> {
    if crate::lang::from_tag(tag).is_none_or(|l| crate::lang::tag(l) != tag) {
        return Err(Error::field("language", "Unsupported language."));
    }
    sqlx::query!("update users set language = $2 where id = $1", user_id, tag)
        .execute(&ctx.db)
        .await?;
    Ok(())
}

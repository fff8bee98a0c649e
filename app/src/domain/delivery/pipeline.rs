//! The delivery pipeline (see [`super`]): fanning the committed feed out into `deliveries` rows, claiming and
//! sending the due ones, and the delivery log admins read.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Address, Message, Notify, Outcome, PushTarget, settings::Prefs, settings::PrefsRow};
use crate::{
    domain::{
        Actor, Context, Result,
        page::{self, Slice, Window},
        tallies, watermark,
    },
    i18n::{Locale, td_string},
    lang,
    models::{
        NotificationKind, Role,
        delivery::{Channel, Delivery, DeliveryStatus},
    },
};

/// One row to write: (notification, recipient, channel, due at, part of a digest).
type NewRow = (i64, i64, Channel, DateTime<Utc>, bool);

/// Turns the notifications committed since the cursor (up to the feed's stable watermark, at most a batch of
/// them) into delivery rows, and moves the cursor on, in one transaction. One instance does it at a time (the
/// others find the cursor locked and return at once). Returns how many notifications it read.
pub async fn fan_out(ctx: &Context) -> Result<usize> {
    let db = &ctx.db;
    let batch = ctx.notify.policy.batch;
    // The relay's delivered watermark where there is one (no lock taken: every id at or below it is committed or
    // gone for good); else the feed's lock, before any row lock: waiting for the watermark while holding one could
    // deadlock with an event transaction.
    let mark = watermark::current(ctx).await?;
    // Most rounds find nothing new: tell so without a transaction.
    let seen = sqlx::query_scalar!(r#"select upto from delivery_cursor"#)
        .fetch_optional(db)
        .await?;
    if seen.is_none_or(|seen| seen >= mark) {
        return Ok(0);
    }
    // With no channel configured here no event can make a row (a row needs its channel's provider): the cursor
    // just follows the feed, without reading the events and their recipients.
    if !ctx.notify.any_channel() {
        sqlx::query!(
            r#"update delivery_cursor set upto = $1 where upto < $1"#,
            mark
        )
        .execute(db)
        .await?;
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let Some(upto) =
        sqlx::query_scalar!(r#"select upto from delivery_cursor for update skip locked"#)
            .fetch_optional(&mut *tx)
            .await?
    else {
        return Ok(0);
    };
    if upto >= mark {
        return Ok(0);
    }
    let events = sqlx::query!(
        r#"
        select id, kind, client_id, worker_id from notifications
        where id > $1 and id <= $2 order by id limit $3
        "#,
        upto,
        mark,
        batch
    )
    .fetch_all(&mut *tx)
    .await?;
    let reached = match events.last() {
        Some(last) if i64::try_from(events.len()).unwrap_or(i64::MAX) >= batch => last.id,
        _ => mark,
    };
    if !events.is_empty() {
        let admins =
            sqlx::query_scalar!(r#"select id from users where role = 'admin' and is_active"#)
                .fetch_all(&mut *tx)
                .await?;
        let mut ids: BTreeSet<i64> = admins.iter().copied().collect();
        for e in &events {
            ids.insert(e.client_id);
            ids.extend(e.worker_id);
        }
        let ids: Vec<i64> = ids.into_iter().collect();
        let people = recipients(&mut tx, &ids).await?;
        let now = Utc::now();
        let mut rows: Vec<NewRow> = Vec::new();
        for e in &events {
            let Ok(kind) = e.kind.parse::<NotificationKind>() else {
                continue;
            };
            let audience = std::iter::once(e.client_id)
                .chain(e.worker_id)
                .chain(admins.iter().copied());
            let mut seen = BTreeSet::new();
            for user_id in audience {
                if !seen.insert(user_id) {
                    continue;
                }
                let Some(person) = people.get(&user_id) else {
                    continue;
                };
                rows.extend(person.rows_for(&ctx.notify, e.id, kind, now));
            }
        }
        insert_rows(&mut tx, &rows).await?;
        if !rows.is_empty() {
            metrics::counter!("deliveries_created_total").increment(rows.len() as u64);
        }
    }
    sqlx::query!(r#"update delivery_cursor set upto = $1"#, reached)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(events.len())
}

/// A possible recipient, as the fan-out needs them.
struct Recipient {
    id: i64,
    active: bool,
    prefs: Prefs,
    has_email: bool,
    linked: bool,
    subscribed: bool,
}

impl Recipient {
    /// The rows an event of `kind` makes for them: one per channel their preferences enable, that is configured
    /// here and that has somewhere to go; held until their quiet hours end, and, when they take digests, until
    /// the end of the digest's interval.
    fn rows_for(
        &self,
        notify: &Notify,
        notification_id: i64,
        kind: NotificationKind,
        now: DateTime<Utc>,
    ) -> Vec<NewRow> {
        if !self.active {
            return Vec::new();
        }
        let digest = self.prefs.digest_minutes > 0;
        let mut due = self.prefs.held_until(now).unwrap_or(now);
        if digest {
            due = due.max(super::settings::digest_due(now, self.prefs.digest_minutes));
        }
        self.prefs
            .channels_for(kind)
            .filter(|c| notify.transport(*c).is_some())
            .filter(|c| match c {
                Channel::Telegram => self.linked,
                Channel::Email => self.has_email,
                Channel::WebPush => self.subscribed,
            })
            .map(|c| (notification_id, self.id, c, due, digest))
            .collect()
    }
}

/// The users `ids` with their preferences and addresses.
async fn recipients(tx: &mut sqlx::PgConnection, ids: &[i64]) -> Result<HashMap<i64, Recipient>> {
    let rows = sqlx::query!(
        r#"
        select u.id, u.role, u.is_active, u.email is not null as "has_email!",
               exists (select 1 from telegram_links t where t.user_id = u.id) as "linked!",
               exists (select 1 from push_subscriptions p where p.user_id = u.id) as "subscribed!",
               s.kinds as "kinds?", s.telegram_enabled as "telegram_enabled?",
               s.web_push_enabled as "web_push_enabled?", s.email_enabled as "email_enabled?",
               s.quiet_from, s.quiet_to, s.digest_minutes as "digest_minutes?"
        from users u left join notification_settings s on s.user_id = u.id
        where u.id = any($1)
        "#,
        ids
    )
    .fetch_all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let role = r.role.parse::<Role>().ok()?;
            let stored = stored_prefs(
                r.kinds,
                r.telegram_enabled,
                r.web_push_enabled,
                r.email_enabled,
                r.quiet_from,
                r.quiet_to,
                r.digest_minutes,
            );
            Some((
                r.id,
                Recipient {
                    id: r.id,
                    active: r.is_active,
                    prefs: Prefs::of(role, stored),
                    has_email: r.has_email,
                    linked: r.linked,
                    subscribed: r.subscribed,
                },
            ))
        })
        .collect())
}

/// A settings row read through a left join (all its columns null when the user has none).
fn stored_prefs(
    kinds: Option<serde_json::Value>,
    telegram: Option<bool>,
    web_push: Option<bool>,
    email: Option<bool>,
    quiet_from: Option<chrono::NaiveTime>,
    quiet_to: Option<chrono::NaiveTime>,
    digest: Option<i32>,
) -> Option<PrefsRow> {
    Some(PrefsRow {
        kinds: kinds?,
        telegram_enabled: telegram?,
        web_push_enabled: web_push?,
        email_enabled: email?,
        quiet_from,
        quiet_to,
        digest_minutes: digest?,
    })
}

/// Writes delivery rows; a (notification, recipient, channel) already there is left alone.
async fn insert_rows(tx: &mut sqlx::PgConnection, rows: &[NewRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let notification_ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let user_ids: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let channels: Vec<String> = rows.iter().map(|r| r.2.as_str().to_owned()).collect();
    let due: Vec<DateTime<Utc>> = rows.iter().map(|r| r.3).collect();
    let digest: Vec<bool> = rows.iter().map(|r| r.4).collect();
    sqlx::query!(
        r#"
        insert into deliveries (notification_id, user_id, channel, next_attempt_at, digest)
        select * from unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[], $5::bool[])
        on conflict (notification_id, user_id, channel) do nothing
        "#,
        &notification_ids,
        &user_ids,
        &channels,
        &due,
        &digest
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// A [`Job`] from a row of a claim's query (the two claims' queries select the same columns).
macro_rules! job {
    ($r:expr) => {{
        let r = $r;
        let event = match (r.kind, r.order_id, r.data, r.created_at) {
            (Some(kind), Some(order_id), Some(data), Some(at)) => kind
                .parse::<NotificationKind>()
                .ok()
                .map(|kind| (kind, order_id, data, at)),
            _ => None,
        };
        Job {
            id: r.id,
            channel: r.channel,
            attempts: r.attempts,
            recovered: r.recovered,
            event,
            role: r.role,
            language: r.language,
            email: r.email,
            active: r.active,
            chat_id: r.chat_id,
            push: r
                .push
                .and_then(|p| serde_json::from_value::<Vec<PushTarget>>(p).ok())
                .unwrap_or_default(),
            prefs: stored_prefs(
                r.kinds,
                r.telegram_enabled,
                r.web_push_enabled,
                r.email_enabled,
                r.quiet_from,
                r.quiet_to,
                r.digest_minutes,
            ),
        }
    }};
}

/// A claimed row with what sending it takes.
#[derive(Debug)]
struct Job {
    id: i64,
    channel: String,
    attempts: i32,
    recovered: bool,
    event: Option<(NotificationKind, i64, serde_json::Value, DateTime<Utc>)>,
    role: String,
    language: Option<String>,
    email: Option<String>,
    active: bool,
    chat_id: Option<i64>,
    /// The recipient's push subscriptions (of a `web_push` row).
    push: Vec<PushTarget>,
    prefs: Option<PrefsRow>,
}

/// Claims up to a batch of due rows of the channels configured here (leased to this call), sends each through
/// its channel and records the outcome. Returns how many it claimed: a full batch means more may be due.
pub async fn send_due(ctx: &Context) -> Result<usize> {
    let policy = ctx.notify.policy;
    let lease = Uuid::new_v4();
    // Only the channels this instance can send (another instance may be configured with more).
    let channels: Vec<String> = Channel::ALL
        .iter()
        .filter(|c| ctx.notify.transport(**c).is_some())
        .map(|c| c.as_str().to_owned())
        .collect();
    if channels.is_empty() {
        return Ok(0);
    }
    let rows = sqlx::query!(
        r#"
        with due as (
            select id, lease is not null as recovered from deliveries
            where status = 'pending' and not digest and next_attempt_at <= now() and channel = any($4)
            order by next_attempt_at limit $1
            for update skip locked
        ), claimed as (
            update deliveries d
            set lease = $2, leased_until = now() + make_interval(secs => $3),
                next_attempt_at = now() + make_interval(secs => $3), attempts = d.attempts + 1
            from due where d.id = due.id
            returning d.id, d.notification_id, d.user_id, d.channel, d.attempts, due.recovered
        )
        select c.id as "id!", c.channel as "channel!", c.attempts as "attempts!", c.recovered as "recovered!",
               n.kind as "kind?", n.order_id as "order_id?", n.data as "data?", n.created_at as "created_at?",
               u.role as "role!", u.language as "language?", u.email as "email?", u.is_active as "active!",
               t.chat_id as "chat_id?",
               case when c.channel = 'web_push' then
                   (select coalesce(jsonb_agg(jsonb_build_object('endpoint', p.endpoint, 'p256dh', p.p256dh,
                                                                 'auth', p.auth) order by p.id), '[]')
                    from push_subscriptions p where p.user_id = c.user_id)
               end as "push?",
               s.kinds as "kinds?", s.telegram_enabled as "telegram_enabled?",
               s.web_push_enabled as "web_push_enabled?", s.email_enabled as "email_enabled?",
               s.quiet_from as "quiet_from?", s.quiet_to as "quiet_to?", s.digest_minutes as "digest_minutes?"
        from claimed c
        join users u on u.id = c.user_id
        left join notifications n on n.id = c.notification_id
        left join telegram_links t on t.user_id = c.user_id
        left join notification_settings s on s.user_id = c.user_id
        "#,
        policy.batch,
        lease,
        policy.lease.as_secs_f64(),
        &channels
    )
    .fetch_all(&ctx.db)
    .await?;
    let claimed = rows.len();
    let mut sends = tokio::task::JoinSet::new();
    for r in rows {
        let job = job!(r);
        let ctx = ctx.clone();
        sends.spawn(async move {
            let id = job.id;
            if let Err(e) = deliver(&ctx, job, lease).await {
                // The lease runs out and the row is claimed again.
                tracing::warn!(delivery.id = id, error = %e, "Failed to record delivery {id}");
            }
        });
    }
    while sends.join_next().await.is_some() {}
    Ok(claimed)
}

/// The advisory lock one digest claim at a time holds ("TASKDIGE" in ASCII): two claims of one recipient's rows
/// would otherwise wait on each other's row locks.
const DIGEST_LOCK: i64 = 0x5441_534B_4449_4745;

/// Claims the due digest rows of one (recipient, channel), the longest waiting, sends them as one message and
/// records the outcome on each. Returns how many rows it claimed (0: no digest is due).
pub async fn send_digest(ctx: &Context) -> Result<usize> {
    let policy = ctx.notify.policy;
    let lease = Uuid::new_v4();
    let channels: Vec<String> = Channel::ALL
        .iter()
        .filter(|c| ctx.notify.transport(**c).is_some())
        .map(|c| c.as_str().to_owned())
        .collect();
    if channels.is_empty() {
        return Ok(0);
    }
    let mut tx = ctx.db.begin().await?;
    let mine = sqlx::query_scalar!(
        r#"select pg_try_advisory_xact_lock($1) as "locked!""#,
        DIGEST_LOCK
    )
    .fetch_one(&mut *tx)
    .await?;
    if !mine {
        return Ok(0);
    }
    let rows = sqlx::query!(
        r#"
        with grp as (
            select user_id, channel from deliveries
            where status = 'pending' and digest and next_attempt_at <= now() and channel = any($3)
            order by next_attempt_at limit 1
        ), due as (
            select d.id, d.lease is not null as recovered from deliveries d join grp using (user_id, channel)
            where d.status = 'pending' and d.digest and d.next_attempt_at <= now()
            for update of d
        ), claimed as (
            update deliveries d
            set lease = $1, leased_until = now() + make_interval(secs => $2),
                next_attempt_at = now() + make_interval(secs => $2), attempts = d.attempts + 1
            from due where d.id = due.id
            returning d.id, d.notification_id, d.user_id, d.channel, d.attempts, due.recovered
        )
        select c.id as "id!", c.channel as "channel!", c.attempts as "attempts!", c.recovered as "recovered!",
               n.kind as "kind?", n.order_id as "order_id?", n.data as "data?", n.created_at as "created_at?",
               u.role as "role!", u.language as "language?", u.email as "email?", u.is_active as "active!",
               t.chat_id as "chat_id?",
               case when c.channel = 'web_push' then
                   (select coalesce(jsonb_agg(jsonb_build_object('endpoint', p.endpoint, 'p256dh', p.p256dh,
                                                                 'auth', p.auth) order by p.id), '[]')
                    from push_subscriptions p where p.user_id = c.user_id)
               end as "push?",
               s.kinds as "kinds?", s.telegram_enabled as "telegram_enabled?",
               s.web_push_enabled as "web_push_enabled?", s.email_enabled as "email_enabled?",
               s.quiet_from as "quiet_from?", s.quiet_to as "quiet_to?", s.digest_minutes as "digest_minutes?"
        from claimed c
        join users u on u.id = c.user_id
        left join notifications n on n.id = c.notification_id
        left join telegram_links t on t.user_id = c.user_id
        left join notification_settings s on s.user_id = c.user_id
        order by c.id
        "#,
        lease,
        policy.lease.as_secs_f64(),
        &channels
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let claimed = rows.len();
    let jobs: Vec<Job> = rows.into_iter().map(|r| job!(r)).collect();
    let Some(first) = jobs.first() else {
        return Ok(0);
    };
    let verdict = match first.channel.parse::<Channel>() {
        Ok(channel) => attempt(ctx, first, channel, Some(&jobs)).await,
        Err(_) => Verdict::Failed(format!("unknown channel {}", first.channel)),
    };
    for job in &jobs {
        conclude(ctx, job, lease, verdict.clone()).await;
    }
    Ok(claimed)
}

/// What became of one claimed row.
#[derive(Clone)]
enum Verdict {
    Sent,
    Retry {
        error: String,
        after: Option<std::time::Duration>,
    },
    Failed(String),
    Skipped(String),
    Held(DateTime<Utc>),
}

/// Sends one claimed row and records what became of it.
async fn deliver(ctx: &Context, job: Job, lease: Uuid) -> Result<()> {
    let verdict = match job.channel.parse::<Channel>() {
        Ok(channel) => attempt(ctx, &job, channel, None).await,
        Err(_) => Verdict::Failed(format!("unknown channel {}", job.channel)),
    };
    conclude(ctx, &job, lease, verdict).await;
    Ok(())
}

/// Counts what became of a row and records it (a failure to record is logged: the lease runs out and the row is
/// claimed again).
async fn conclude(ctx: &Context, job: &Job, lease: Uuid, verdict: Verdict) {
    if job.recovered {
        metrics::counter!("deliveries_recovered_total", "channel" => job.channel.clone())
            .increment(1);
    }
    let outcome = match &verdict {
        Verdict::Sent => "sent",
        Verdict::Retry { .. } if job.attempts >= ctx.notify.policy.max_attempts => "failed",
        Verdict::Retry { .. } => "retry",
        Verdict::Failed(_) => "failed",
        Verdict::Skipped(_) => "skipped",
        Verdict::Held(_) => "held",
    };
    metrics::counter!("deliveries_total", "channel" => job.channel.clone(), "outcome" => outcome)
        .increment(1);
    if let (Verdict::Sent, Some((_, _, _, at))) = (&verdict, &job.event) {
        let lag = (Utc::now() - *at).to_std().unwrap_or_default();
        metrics::histogram!("delivery_lag_seconds", "channel" => job.channel.clone())
            .record(lag.as_secs_f64());
    }
    if let Err(e) = record(&ctx.db, job, lease, verdict, &ctx.notify).await {
        let id = job.id;
        tracing::warn!(delivery.id = id, error = %e, "Failed to record delivery {id}");
    }
}

/// Decides and, when there is somewhere to send to, sends: `job`'s own message, or the digest of `digest` (all
/// of one recipient and channel, `job` among them).
async fn attempt(ctx: &Context, job: &Job, channel: Channel, digest: Option<&[Job]>) -> Verdict {
    let notify = &ctx.notify;
    if !job.active {
        return Verdict::Skipped("the user is deactivated".to_owned());
    }
    let role = job.role.parse::<Role>().unwrap_or(Role::Client);
    let prefs = Prefs::of(role, job.prefs.clone());
    // A test message goes whatever the switches and the hour; an event's message follows them.
    if job.event.is_some() {
        if !prefs.enabled(channel) {
            return Verdict::Skipped("the channel was turned off".to_owned());
        }
        if let Some(until) = prefs.held_until(Utc::now()) {
            return Verdict::Held(until);
        }
    }
    let addresses: Vec<Address> = match channel {
        Channel::Telegram => job.chat_id.map(Address::TelegramChat).into_iter().collect(),
        Channel::Email => job.email.clone().map(Address::Email).into_iter().collect(),
        Channel::WebPush => job.push.iter().cloned().map(Address::Push).collect(),
    };
    if addresses.is_empty() {
        return Verdict::Skipped(format!("no {channel} address any more"));
    }
    let Some(transport) = notify.transport(channel) else {
        return Verdict::Skipped(format!("{channel} is not configured here"));
    };
    let locale = job
        .language
        .as_deref()
        .and_then(lang::from_tag)
        .unwrap_or(Locale::en);
    let message = match digest {
        Some(jobs) => render_digest(
            notify,
            locale,
            jobs.iter()
                .filter_map(|j| j.event.as_ref().map(|(k, o, d, _)| (*k, *o, d)))
                .collect(),
        ),
        None => render(
            notify,
            locale,
            job.event.as_ref().map(|(k, o, d, _)| (*k, *o, d)),
        ),
    };
    // Every device of a push recipient gets it: the row is sent when one took it (a device that failed meanwhile
    // is not tried again, or the others would get it twice), retried when none did and one may yet.
    let mut verdicts = Vec::with_capacity(addresses.len());
    for address in &addresses {
        let outcome = transport.send(address, &message).await;
        verdicts.push(verdict_of(ctx, job, address, outcome).await);
    }
    combine(verdicts)
}

/// What `outcome` of sending to `address` makes of the row; an address gone for good is removed (a Telegram chat
/// that blocked the bot is unlinked, an expired push subscription deleted).
async fn verdict_of(ctx: &Context, job: &Job, address: &Address, outcome: Outcome) -> Verdict {
    match outcome {
        Outcome::Sent => Verdict::Sent,
        Outcome::Retry { error, after } => Verdict::Retry { error, after },
        Outcome::Refused { error } => Verdict::Failed(error),
        Outcome::Deferred { after } => {
            Verdict::Held(Utc::now() + chrono::Duration::from_std(after).unwrap_or_default())
        }
        Outcome::Gone { error } => {
            let removed = match address {
                Address::TelegramChat(chat_id) => super::telegram::unlink_chat(&ctx.db, *chat_id)
                    .await
                    .map(|_| "a Telegram chat that blocked the bot"),
                Address::Push(target) => super::push::remove_gone(&ctx.db, &target.endpoint)
                    .await
                    .map(|()| "an expired push subscription"),
                Address::Email(_) => Ok("nothing"),
            };
            match removed {
                Ok(what) => tracing::info!(delivery.id = job.id, "Removed {what}"),
                Err(e) => tracing::warn!(error = %e, "Failed to remove a gone address"),
            }
            Verdict::Failed(error)
        }
    }
}

/// One row's verdict from its addresses' (one, but for a push recipient's devices): sent when any took it;
/// else held, or retried, when any may yet; else the first failure.
fn combine(verdicts: Vec<Verdict>) -> Verdict {
    let rank = |v: &Verdict| match v {
        Verdict::Sent => 0,
        Verdict::Held(_) => 1,
        Verdict::Retry { .. } => 2,
        Verdict::Failed(_) => 3,
        Verdict::Skipped(_) => 4,
    };
    verdicts
        .into_iter()
        .min_by_key(rank)
        .unwrap_or_else(|| Verdict::Skipped("nowhere to send".to_owned()))
}

/// The message of an event (`None`: the test message) in `locale`, with the order page's address.
pub fn render(
    notify: &Notify,
    locale: Locale,
    event: Option<(NotificationKind, i64, &serde_json::Value)>,
) -> Message {
    match event {
        Some((kind, order_id, data)) => {
            let sentence = lang::notification(locale, kind, order_id, data);
            let url = notify.order_url(order_id);
            let open = td_string!(locale, channel.open);
            Message {
                text: format!("{sentence}\n{open}: {url}"),
                subject: sentence,
                url,
            }
        }
        None => {
            let test = td_string!(locale, channel.test);
            Message {
                subject: td_string!(locale, channel.test_subject).to_owned(),
                text: format!("{test}\n{}", notify.public_url),
                url: notify.public_url.clone(),
            }
        }
    }
}

/// The most events a digest names one by one; the rest are counted.
const DIGEST_LINES: usize = 20;

/// One message listing `events` (oldest first), each with its order's address.
pub fn render_digest(
    notify: &Notify,
    locale: Locale,
    events: Vec<(NotificationKind, i64, &serde_json::Value)>,
) -> Message {
    let count = events.len();
    let mut lines: Vec<String> = events
        .iter()
        .take(DIGEST_LINES)
        .map(|(kind, order_id, data)| {
            let sentence = lang::notification(locale, *kind, *order_id, data);
            format!("• {sentence}: {}", notify.order_url(*order_id))
        })
        .collect();
    if count > DIGEST_LINES {
        let more = td_string!(locale, channel.digest_more);
        lines.push(more.replace("%n%", &(count - DIGEST_LINES).to_string()));
    }
    Message {
        subject: td_string!(locale, channel.digest_subject).replace("%n%", &count.to_string()),
        text: lines.join("\n"),
        url: format!("{}/notifications", notify.public_url.trim_end_matches('/')),
    }
}

/// Writes the verdict, if the row is still under this call's lease (a sender slower than its lease has lost the
/// row to another, whose record wins).
async fn record(
    db: &PgPool,
    job: &Job,
    lease: Uuid,
    verdict: Verdict,
    notify: &Notify,
) -> Result<()> {
    match verdict {
        Verdict::Sent => {
            sqlx::query!(
                r#"
                update deliveries set status = 'sent', sent_at = now(), lease = null, leased_until = null
                where id = $1 and lease = $2
                "#,
                job.id,
                lease
            )
            .execute(db)
            .await?;
        }
        Verdict::Retry { error, after } => {
            let wait = notify.policy.retry_in(job.attempts, after);
            sqlx::query!(
                r#"
                update deliveries
                set status = case when attempts >= $3 then 'failed' else 'pending' end,
                    next_attempt_at = now() + make_interval(secs => $4), last_error = $5,
                    lease = null, leased_until = null
                where id = $1 and lease = $2
                "#,
                job.id,
                lease,
                notify.policy.max_attempts,
                wait.as_secs_f64(),
                truncate(&error)
            )
            .execute(db)
            .await?;
        }
        Verdict::Failed(error) => finish(db, job.id, lease, DeliveryStatus::Failed, &error).await?,
        Verdict::Skipped(reason) => {
            finish(db, job.id, lease, DeliveryStatus::Skipped, &reason).await?
        }
        Verdict::Held(until) => {
            sqlx::query!(
                r#"
                update deliveries set next_attempt_at = $3, attempts = attempts - 1, lease = null, leased_until = null
                where id = $1 and lease = $2
                "#,
                job.id,
                lease,
                until
            )
            .execute(db)
            .await?;
        }
    }
    Ok(())
}

/// Ends a row as `failed` or `skipped`, with why.
async fn finish(
    db: &PgPool,
    id: i64,
    lease: Uuid,
    status: DeliveryStatus,
    why: &str,
) -> Result<()> {
    sqlx::query!(
        r#"
        update deliveries set status = $3, last_error = $4, lease = null, leased_until = null
        where id = $1 and lease = $2
        "#,
        id,
        lease,
        status.as_str(),
        truncate(why)
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A provider's error text, bounded for the log.
fn truncate(error: &str) -> String {
    error.chars().take(500).collect()
}

/// Queues one test message to each of the caller's switched-on channels that has somewhere to go; returns how
/// many.
pub async fn send_test(ctx: &Context, actor: &Actor) -> Result<usize> {
    let prefs = Prefs::of(
        actor.role,
        super::settings::stored(&ctx.db, actor.id).await?,
    );
    let state = sqlx::query!(
        r#"
        select u.email is not null as "has_email!",
               exists (select 1 from telegram_links t where t.user_id = u.id) as "linked!",
               exists (select 1 from push_subscriptions p where p.user_id = u.id) as "subscribed!"
        from users u where u.id = $1
        "#,
        actor.id
    )
    .fetch_one(&ctx.db)
    .await?;
    let channels: Vec<String> = Channel::ALL
        .iter()
        .copied()
        .filter(|c| prefs.enabled(*c) && ctx.notify.transport(*c).is_some())
        .filter(|c| match c {
            Channel::Telegram => state.linked,
            Channel::Email => state.has_email,
            Channel::WebPush => state.subscribed,
        })
        .map(|c| c.as_str().to_owned())
        .collect();
    sqlx::query!(
        r#"insert into deliveries (user_id, channel) select $1, unnest($2::text[])"#,
        actor.id,
        &channels
    )
    .execute(&ctx.db)
    .await?;
    Ok(channels.len())
}

/// The delivery log's filters (`GET /api/v1/deliveries`).
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub channel: Option<Channel>,
    pub user_id: Option<i64>,
}

/// The delivery log, newest first (admins only). All of it, or a status's and a channel's, is counted from the
/// tallies, and a page in its far half read from the oldest end; one user's rows are counted on their index.
pub async fn list(
    ctx: &Context,
    actor: &Actor,
    filter: DeliveryFilter,
    window: Window,
) -> Result<Slice<Delivery>> {
    actor.require_admin()?;
    let db = &ctx.db;
    let known = match filter.user_id {
        Some(_) => None,
        None => Some(
            tallies::sum(db, "deliveries:", |rest| {
                let (status, channel) = rest.split_once(':').unwrap_or((rest, ""));
                filter.status.is_none_or(|s| s.as_str() == status)
                    && filter.channel.is_none_or(|c| c.as_str() == channel)
            })
            .await?
            .n,
        ),
    };
    page::counted_from_nearer_end(window, known, |window, from_tail| {
        list_page(db, filter, window, from_tail, known)
    })
    .await
}

/// A page of [`list`], newest first or, `from_tail`, oldest first; each row with the count (`known`, else counted).
async fn list_page(
    db: &PgPool,
    filter: DeliveryFilter,
    window: Window,
    from_tail: bool,
    known: Option<i64>,
) -> Result<Vec<(i64, Delivery)>> {
    let mut tx = page::planned_for_its_parameters(db).await?;
    let records = sqlx::query!(
        r#"
        with page as (
            (select id from deliveries
             where not $6 and ($1::text is null or status = $1) and ($2::text is null or channel = $2)
               and ($3::bigint is null or user_id = $3)
             order by id desc limit $4 offset $5)
            union all
            (select id from deliveries
             where $6 and ($1::text is null or status = $1) and ($2::text is null or channel = $2)
               and ($3::bigint is null or user_id = $3)
             order by id asc limit $4 offset $5)
        )
        select case when $7::bigint is not null then $7 else
                   (select count(*) from deliveries
                    where ($1::text is null or status = $1) and ($2::text is null or channel = $2)
                      and ($3::bigint is null or user_id = $3))
               end as "total!",
               d.id, d.notification_id, d.user_id, d.channel, d.status, d.attempts, d.last_error, d.sent_at
        from page join deliveries d on d.id = page.id
        order by case when $6 then d.id end, d.id desc
        "#,
        filter.status.map(DeliveryStatus::as_str),
        filter.channel.map(Channel::as_str),
        filter.user_id,
        window.limit,
        window.offset,
        from_tail,
        known
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    records
        .into_iter()
        .map(|r| {
            Ok((
                r.total,
                Delivery {
                    id: r.id,
                    notification_id: r.notification_id,
                    user_id: r.user_id,
                    channel: r.channel.parse().map_err(anyhow::Error::from)?,
                    status: r.status.parse().map_err(anyhow::Error::from)?,
                    attempts: r.attempts,
                    last_error: r.last_error,
                    sent_at: r.sent_at,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_in_the_recipients_language_and_links_to_the_order() {
        let notify = Notify {
            public_url: "https://task.example/".to_owned(),
            ..Notify::off()
        };
        let data = serde_json::json!({});
        let cases = [
            (Locale::en, "New message on order #7", "Open the order: "),
            (Locale::ru, "Новое сообщение в заказе №7", "Открыть заказ: "),
            (Locale::uz, "7", "Buyurtmani ochish: "),
        ];
        for (locale, subject, open) in cases {
            let message = render(
                &notify,
                locale,
                Some((NotificationKind::OrderMessage, 7, &data)),
            );
            assert!(
                message.subject.contains(subject),
                "{locale:?}: {}",
                message.subject
            );
            assert!(
                message
                    .text
                    .ends_with(&format!("{open}https://task.example/orders/7")),
                "{locale:?}: {}",
                message.text
            );
        }
        let test = render(&notify, Locale::ru, None);
        assert!(test.text.contains("тестовое"), "{}", test.text);
    }
}

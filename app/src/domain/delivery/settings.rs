//! Each user's notification preferences: which kinds go to which channels, the channels' switches, quiet hours
//! (Asia/Tashkent) and the digest interval. A user who never changed them has no row and gets their role's
//! defaults (API.md): workers `order_created`, `order_assigned` and `order_message` on every linked channel;
//! clients `order_status_changed`, `payment_*` and `order_message`; admins everything, as a digest every 15
//! minutes.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, NaiveTime, TimeZone as _, Utc};
use sqlx::PgExecutor;

use crate::{
    domain::{Actor, Context, FieldErrors, Result},
    models::{
        NotificationKind, Role,
        delivery::{
            Channel, ChannelStates, EmailState, NotificationSettings, QuietHours, TelegramState,
            UpdateNotificationSettings, WebPushState,
        },
    },
};

/// Asia/Tashkent: UTC+5 all year (no daylight saving since 1992).
pub fn tashkent() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600).expect("UTC+5 is a valid offset")
}

/// The digest intervals a user may choose (0: every event at once).
pub const DIGEST_MINUTES: [i32; 3] = [0, 15, 60];

/// A user's preferences as the pipeline applies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefs {
    pub kinds: HashMap<NotificationKind, Vec<Channel>>,
    pub telegram: bool,
    pub web_push: bool,
    pub email: bool,
    pub quiet: Option<(NaiveTime, NaiveTime)>,
    pub digest_minutes: i32,
}

/// A `notification_settings` row, as stored.
#[derive(Debug, Clone)]
pub struct PrefsRow {
    pub kinds: serde_json::Value,
    pub telegram_enabled: bool,
    pub web_push_enabled: bool,
    pub email_enabled: bool,
    pub quiet_from: Option<NaiveTime>,
    pub quiet_to: Option<NaiveTime>,
    pub digest_minutes: i32,
}

impl Prefs {
    /// The defaults of `role`.
    pub fn defaults(role: Role) -> Self {
        use NotificationKind as K;
        let every = || Channel::ALL.to_vec();
        let (kinds, digest_minutes): (&[NotificationKind], i32) = match role {
            Role::Worker => (&[K::OrderCreated, K::OrderAssigned, K::OrderMessage], 0),
            Role::Client => (
                &[
                    K::OrderStatusChanged,
                    K::PaymentConfirmed,
                    K::PaymentCanceled,
                    K::OrderMessage,
                ],
                0,
            ),
            Role::Admin => (NotificationKind::ALL, 15),
        };
        Self {
            kinds: kinds.iter().map(|k| (*k, every())).collect(),
            telegram: true,
            web_push: true,
            email: true,
            quiet: None,
            digest_minutes,
        }
    }

    /// The preferences of a user of `role` with this stored row (the defaults without one).
    pub fn of(role: Role, row: Option<PrefsRow>) -> Self {
        let Some(row) = row else {
            return Self::defaults(role);
        };
        let stored: BTreeMap<String, Vec<Channel>> =
            serde_json::from_value(row.kinds).unwrap_or_default();
        Self {
            kinds: stored
                .into_iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
                .collect(),
            telegram: row.telegram_enabled,
            web_push: row.web_push_enabled,
            email: row.email_enabled,
            quiet: row.quiet_from.zip(row.quiet_to),
            digest_minutes: row.digest_minutes,
        }
    }

    /// Whether `channel` is switched on.
    pub fn enabled(&self, channel: Channel) -> bool {
        match channel {
            Channel::Telegram => self.telegram,
            Channel::WebPush => self.web_push,
            Channel::Email => self.email,
        }
    }

    /// The switched-on channels an event of `kind` goes to.
    pub fn channels_for(&self, kind: NotificationKind) -> impl Iterator<Item = Channel> + '_ {
        self.kinds
            .get(&kind)
            .into_iter()
            .flatten()
            .copied()
            .filter(|c| self.enabled(*c))
    }

    /// When a message due `now` may go: `None` now, else the end of the quiet hours it falls in.
    pub fn held_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (from, to) = self.quiet?;
        quiet_until(now, from, to)
    }
}

/// When a digest of every `minutes` collecting an event at `now` goes: the end of the interval `now` falls in
/// (intervals are counted from the Unix epoch, so every instance agrees on them).
pub fn digest_due(now: DateTime<Utc>, minutes: i32) -> DateTime<Utc> {
    let period = i64::from(minutes.max(1)) * 60;
    let end = (now.timestamp().div_euclid(period) + 1) * period;
    DateTime::from_timestamp(end, 0).unwrap_or(now)
}

/// The end of the quiet hours `from`–`to` (Tashkent time; `from > to` spans midnight) that `now` falls in, or
/// `None` when it falls outside them.
pub fn quiet_until(now: DateTime<Utc>, from: NaiveTime, to: NaiveTime) -> Option<DateTime<Utc>> {
    let zone = tashkent();
    let local = now.with_timezone(&zone);
    let time = local.time();
    let inside = if from < to {
        from <= time && time < to
    } else {
        time >= from || time < to
    };
    if !inside {
        return None;
    }
    let mut day = local.date_naive();
    if time >= to {
        day = day.succ_opt()?;
    }
    let end = zone.from_local_datetime(&day.and_time(to)).single()?;
    Some(end.with_timezone(&Utc))
}

/// `"HH:MM"` as a time of day.
fn parse_time(text: &str) -> Option<NaiveTime> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

fn format_time(time: NaiveTime) -> String {
    time.format("%H:%M").to_string()
}

/// The stored row of `user_id`, if they changed their settings.
pub async fn stored(db: impl PgExecutor<'_>, user_id: i64) -> Result<Option<PrefsRow>> {
    Ok(sqlx::query_as!(
        PrefsRow,
        r#"
        select kinds, telegram_enabled, web_push_enabled, email_enabled, quiet_from, quiet_to, digest_minutes
        from notification_settings where user_id = $1
        "#,
        user_id
    )
    .fetch_optional(db)
    .await?)
}

/// The caller's settings with each channel's state.
pub async fn get(ctx: &Context, actor: &Actor) -> Result<NotificationSettings> {
    let prefs = Prefs::of(actor.role, stored(&ctx.db, actor.id).await?);
    let state = sqlx::query!(
        r#"
        select u.email,
               exists (select 1 from telegram_links t where t.user_id = u.id) as "linked!",
               (select count(*) from push_subscriptions p where p.user_id = u.id) as "subscriptions!"
        from users u where u.id = $1
        "#,
        actor.id
    )
    .fetch_one(&ctx.db)
    .await?;
    // Each channel's latest message, when it has not gone out: why (a few of the user's newest rows are read).
    let errors: BTreeMap<String, String> = sqlx::query!(
        r#"
        select c.channel as "channel!", d.last_error as "last_error!"
        from unnest(array['telegram', 'web_push', 'email']) c(channel)
        join lateral (
            select last_error, status from deliveries
            where user_id = $1 and channel = c.channel order by id desc limit 1
        ) d on d.status <> 'sent' and d.last_error is not null
        "#,
        actor.id
    )
    .fetch_all(&ctx.db)
    .await?
    .into_iter()
    .map(|r| (r.channel, r.last_error))
    .collect();
    let last_error = |channel: Channel| errors.get(channel.as_str()).cloned();
    Ok(NotificationSettings {
        channels: ChannelStates {
            telegram: TelegramState {
                linked: state.linked,
                enabled: prefs.telegram,
                available: ctx.notify.telegram.is_some(),
                last_error: last_error(Channel::Telegram),
            },
            web_push: WebPushState {
                subscriptions: state.subscriptions,
                enabled: prefs.web_push,
                last_error: last_error(Channel::WebPush),
            },
            email: EmailState {
                address: state.email,
                enabled: prefs.email,
                last_error: last_error(Channel::Email),
            },
        },
        kinds: prefs
            .kinds
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
            .collect(),
        quiet_hours: prefs.quiet.map(|(from, to)| QuietHours {
            from: format_time(from),
            to: format_time(to),
        }),
        digest_minutes: prefs.digest_minutes,
    })
}

/// Replaces the caller's settings (a 400 naming every bad field changes nothing) and returns them.
pub async fn update(
    ctx: &Context,
    actor: &Actor,
    input: UpdateNotificationSettings,
) -> Result<NotificationSettings> {
    let mut errors = FieldErrors::default();
    let mut kinds: BTreeMap<String, Vec<Channel>> = BTreeMap::new();
    for (kind, channels) in &input.kinds {
        if kind.parse::<NotificationKind>().is_err() {
            errors.add(&format!("kinds.{kind}"), "Unknown kind of notification.");
            continue;
        }
        let mut unique = channels.clone();
        unique.sort_by_key(|c| c.as_str());
        unique.dedup();
        kinds.insert(kind.clone(), unique);
    }
    let quiet = match &input.quiet_hours {
        None => None,
        Some(q) => match (parse_time(&q.from), parse_time(&q.to)) {
            (Some(from), Some(to)) if from != to => Some((from, to)),
            (Some(_), Some(_)) => {
                errors.add(
                    "quiet_hours",
                    "The quiet hours must not start when they end.",
                );
                None
            }
            (from, to) => {
                if from.is_none() {
                    errors.add("quiet_hours.from", "Expected a time as HH:MM.");
                }
                if to.is_none() {
                    errors.add("quiet_hours.to", "Expected a time as HH:MM.");
                }
                None
            }
        },
    };
    if !DIGEST_MINUTES.contains(&input.digest_minutes) {
        errors.add("digest_minutes", "Must be 0, 15 or 60.");
    }
    errors.finish()?;
    let current = Prefs::of(actor.role, stored(&ctx.db, actor.id).await?);
    let switch = |given: Option<crate::models::delivery::ChannelSwitch>, now: bool| {
        given.map_or(now, |s| s.enabled)
    };
    let kinds = serde_json::to_value(&kinds).map_err(anyhow::Error::from)?;
    sqlx::query!(
        r#"
        insert into notification_settings
            (user_id, kinds, telegram_enabled, web_push_enabled, email_enabled, quiet_from, quiet_to, digest_minutes)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        on conflict (user_id) do update set kinds = excluded.kinds, telegram_enabled = excluded.telegram_enabled,
            web_push_enabled = excluded.web_push_enabled, email_enabled = excluded.email_enabled,
            quiet_from = excluded.quiet_from, quiet_to = excluded.quiet_to, digest_minutes = excluded.digest_minutes
        "#,
        actor.id,
        kinds,
        switch(input.channels.telegram, current.telegram),
        switch(input.channels.web_push, current.web_push),
        switch(input.channels.email, current.email),
        quiet.map(|(from, _)| from),
        quiet.map(|(_, to)| to),
        input.digest_minutes
    )
    .execute(&ctx.db)
    .await?;
    get(ctx, actor).await
}

#[cfg(test)]
mod tests {
    use chrono::{Duration as Span, TimeZone as _};

    use super::*;

    fn at(hh: u32, mm: u32) -> DateTime<Utc> {
        // 2026-12-01 in Tashkent, `hh:mm` local.
        tashkent()
            .with_ymd_and_hms(2026, 12, 1, hh, mm, 0)
            .single()
            .expect("a valid local time")
            .with_timezone(&Utc)
    }

    fn t(hh: u32, mm: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(hh, mm, 0).expect("a valid time")
    }

    #[test]
    fn quiet_hours_hold_until_they_end_in_tashkent_time() {
        let night = (t(22, 0), t(8, 0));
        let lunch = (t(13, 0), t(14, 0));
        let next_morning = at(8, 0) + Span::days(1);
        let cases = [
            (
                night,
                at(23, 30),
                Some(next_morning),
                "late evening waits for tomorrow",
            ),
            (
                night,
                at(3, 0),
                Some(at(8, 0)),
                "the small hours wait for this morning",
            ),
            (night, at(8, 0), None, "the end itself is outside"),
            (night, at(21, 59), None, "before the start"),
            (
                night,
                at(22, 0),
                Some(next_morning),
                "the start itself is inside",
            ),
            (lunch, at(13, 30), Some(at(14, 0)), "a span within one day"),
            (lunch, at(15, 0), None, "after a span within one day"),
        ];
        for ((from, to), now, expected, case) in cases {
            assert_eq!(quiet_until(now, from, to), expected, "{case}");
        }
    }

    #[test]
    fn a_digest_goes_at_the_end_of_its_interval() {
        let cases = [
            (at(10, 7), 15, at(10, 15)),
            (at(10, 15), 15, at(10, 30)),
            (at(10, 59), 60, at(11, 0)),
        ];
        for (now, minutes, expected) in cases {
            assert_eq!(
                digest_due(now, minutes),
                expected,
                "{now} every {minutes} min"
            );
        }
    }

    #[test]
    fn role_defaults_follow_the_contract() {
        let worker = Prefs::defaults(Role::Worker);
        assert_eq!(
            worker
                .channels_for(NotificationKind::OrderCreated)
                .collect::<Vec<_>>(),
            Channel::ALL.to_vec()
        );
        assert_eq!(
            worker
                .channels_for(NotificationKind::PaymentConfirmed)
                .count(),
            0
        );
        let client = Prefs::defaults(Role::Client);
        assert_eq!(
            client.channels_for(NotificationKind::OrderCreated).count(),
            0
        );
        assert_eq!(
            client
                .channels_for(NotificationKind::PaymentCanceled)
                .count(),
            3
        );
        assert_eq!(Prefs::defaults(Role::Admin).digest_minutes, 15);
    }

    #[test]
    fn times_parse_as_hh_mm_only() {
        assert_eq!(parse_time("22:00"), Some(t(22, 0)));
        for bad in ["24:00", "7:00", "07:60", "0700", "", "07:00:00"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}

-- Notifications that reach people away from the page (API.md, "Notifications that reach people away from the
-- page"): each user's preferences, their Telegram chat and browser push subscriptions, and the delivery log, one
-- row per (notification, recipient, channel), which the delivery sweep fills from the committed feed and drains.

-- A user's choices. No row means the role's defaults (`domain::delivery::settings`), so nothing is written for a
-- user who never changed them.
create table notification_settings (
    user_id bigint primary key references users (id) on delete cascade,
    -- {"<kind>": ["telegram", "email", ...]}: which kinds go to which channels.
    kinds jsonb not null,
    telegram_enabled boolean not null default true,
    web_push_enabled boolean not null default true,
    email_enabled boolean not null default true,
    -- Quiet hours in Asia/Tashkent time, both or neither; `from > to` spans midnight.
    quiet_from time,
    quiet_to time,
    digest_minutes integer not null default 0 check (digest_minutes in (0, 15, 60)),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check ((quiet_from is null) = (quiet_to is null)),
    check (quiet_from is null or quiet_from <> quiet_to)
);
select trigger_updated_at('notification_settings');

-- The Telegram chat a user linked (by the bot's deep link); a chat belongs to one user at a time.
create table telegram_links (
    user_id bigint primary key references users (id) on delete cascade,
    chat_id bigint not null,
    created_at timestamptz not null default now()
);
create unique index telegram_links_chat_key on telegram_links (chat_id);

-- One-time tokens of the deep link `https://t.me/<bot>?start=<token>`, valid 10 minutes. Only the token's SHA-256
-- is stored.
create table telegram_link_tokens (
    token_hash bytea primary key,
    user_id bigint not null references users (id) on delete cascade,
    expires_at timestamptz not null,
    created_at timestamptz not null default now()
);
create index telegram_link_tokens_user_idx on telegram_link_tokens (user_id);

-- Browser push subscriptions (the browser's `PushSubscription`), one row per device.
create table push_subscriptions (
    id bigserial primary key,
    user_id bigint not null references users (id) on delete cascade,
    endpoint text not null check (length(endpoint) between 1 and 2000),
    p256dh text not null check (length(p256dh) between 1 and 200),
    auth text not null check (length(auth) between 1 and 100),
    created_at timestamptz not null default now()
);
create unique index push_subscriptions_endpoint_key on push_subscriptions (endpoint);
create index push_subscriptions_user_idx on push_subscriptions (user_id);

-- The delivery log. A row is `pending` until it is sent, fails for good (`failed`, its attempts spent or the
-- provider refusing it for good) or has nothing to go to any more (`skipped`: the channel was unlinked or turned
-- off). A sender claims due rows with `for update skip locked` and leases them (`lease`, `leased_until`) for the
-- time of the send: another instance never claims a leased row, and a row whose sender died is claimed again when
-- its lease ends. `notification_id` is null for a test message (`POST /me/notification-settings/test`).
create table deliveries (
    id bigserial primary key,
    notification_id bigint references notifications (id) on delete cascade,
    user_id bigint not null references users (id) on delete cascade,
    channel text not null check (channel in ('telegram', 'web_push', 'email')),
    status text not null default 'pending' check (status in ('pending', 'sent', 'failed', 'skipped')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    -- Part of a digest: sent together with the recipient's other due digest rows of the channel, as one message.
    digest boolean not null default false,
    lease uuid,
    leased_until timestamptz,
    last_error text,
    sent_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index deliveries_key on deliveries (notification_id, user_id, channel);
create index deliveries_due_idx on deliveries (next_attempt_at) where status = 'pending' and not digest;
create index deliveries_digest_due_idx on deliveries (next_attempt_at, user_id, channel)
    where status = 'pending' and digest;
create index deliveries_user_idx on deliveries (user_id, id);
create index deliveries_status_idx on deliveries (status, id);
select trigger_updated_at('deliveries');

-- How far the delivery sweep has turned the feed into deliveries: every notification with an id at or below
-- `upto` has its rows. One row.
create table delivery_cursor (
    only_one boolean primary key default true check (only_one),
    upto bigint not null
);
-- Start at the feed's end: what happened before the channels existed is not sent.
insert into delivery_cursor (upto)
select coalesce((select case when is_called then last_value else 0 end from notifications_id_seq), 0);

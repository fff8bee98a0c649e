create table users (
    id bigserial primary key,
    username text not null check (length(username) between 3 and 150),
    password_hash text not null,
    role text not null check (role in ('client', 'worker', 'admin')),
    email text check (email is null or position('@' in email) > 1),
    full_name text not null default '' check (length(full_name) <= 200),
    phone text check (phone is null or phone ~ '^\+?[1-9][0-9]{6,14}$'),
    is_active boolean not null default true,
    -- Every notification with an id at or below this mark counts as read (set by "read all").
    notifications_read_upto bigint not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
-- Usernames are unique case-insensitively.
create unique index users_username_key on users (lower(username));
create index users_role_idx on users (role, id);
select trigger_updated_at('users');

create table refresh_tokens (
    id bigserial primary key,
    user_id bigint not null references users (id) on delete cascade,
    -- All tokens issued by rotating one login share a family; reusing a rotated token revokes the family.
    family_id uuid not null,
    -- SHA-256 of the opaque token; the token itself is never stored.
    token_hash bytea not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz not null default now()
);
create unique index refresh_tokens_token_hash_key on refresh_tokens (token_hash);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_user_idx on refresh_tokens (user_id);

create table services (
    id bigserial primary key,
    name text not null check (length(name) between 1 and 200),
    description text not null default '' check (length(description) <= 5000),
    -- Tiyin (1 so'm = 100 tiyin).
    price bigint not null check (price > 0 and price <= 100000000000000),
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index services_name_key on services (lower(name));
select trigger_updated_at('services');

create table service_workers (
    service_id bigint not null references services (id) on delete cascade,
    worker_id bigint not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (service_id, worker_id)
);
create index service_workers_worker_idx on service_workers (worker_id);

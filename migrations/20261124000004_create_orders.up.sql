create table orders (
    id bigserial primary key,
    client_id bigint not null references users (id),
    worker_id bigint references users (id),
    service_id bigint not null references services (id),
    -- Copied from the service when the order is placed, in tiyin.
    price bigint not null check (price > 0),
    status text not null default 'pending'
        check (status in ('pending', 'paid', 'in_process', 'completed', 'canceled')),
    description text not null default '' check (length(description) <= 5000),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check (worker_id is null or worker_id <> client_id)
);
create index orders_client_idx on orders (client_id, id);
create index orders_worker_idx on orders (worker_id, id);
create index orders_status_idx on orders (status, id);
create index orders_service_idx on orders (service_id, id);
select trigger_updated_at('orders');

-- One row per order event. The audience is fixed when the event happens: its order's client and the worker the
-- event concerns; admins see every row. `actor_id`, `client_id` and `worker_id` are copies taken from the order
-- (whose own foreign keys guarantee them) at the time of the event, and users are never deleted (only
-- deactivated), so they carry no foreign keys of their own: each would cost a row lock per event on the hottest
-- path.
create table notifications (
    id bigserial primary key,
    order_id bigint not null references orders (id),
    kind text not null check (kind in ('order_created', 'order_assigned', 'order_status_changed',
        'payment_confirmed', 'payment_canceled', 'order_message')),
    actor_id bigint,
    client_id bigint not null,
    worker_id bigint,
    data jsonb not null default '{}',
    created_at timestamptz not null default now()
);
create index notifications_order_idx on notifications (order_id, id);
create index notifications_client_idx on notifications (client_id, id);
create index notifications_worker_idx on notifications (worker_id, id);

-- Per-user read marks above `users.notifications_read_upto`.
create table notification_reads (
    user_id bigint not null references users (id) on delete cascade,
    notification_id bigint not null references notifications (id) on delete cascade,
    read_at timestamptz not null default now(),
    primary key (user_id, notification_id)
);

create table order_messages (
    id bigserial primary key,
    order_id bigint not null references orders (id),
    sender_id bigint not null references users (id),
    text text not null check (length(text) between 1 and 2000),
    created_at timestamptz not null default now()
);
create index order_messages_order_idx on order_messages (order_id, id);

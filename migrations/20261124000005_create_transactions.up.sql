-- Payment attempts through Payme or Click (PAYMENTS.md section 3).
create table transactions (
    id bigserial primary key,
    order_id bigint not null references orders (id),
    provider text not null check (provider in ('payme', 'click')),
    -- Tiyin, for both providers.
    amount bigint not null check (amount > 0),
    status text not null default 'waiting'
        check (status in ('waiting', 'processing', 'confirmed', 'canceled')),
    -- Payme `params.id` or Click `click_trans_id`.
    provider_transaction_id text,
    -- Payme's state (1, 2, -1, -2); 0 before the provider has created it.
    state integer not null default 0 check (state in (0, 1, 2, -1, -2)),
    reason integer,
    -- Payme's `time` of CreateTransaction, in milliseconds.
    provider_time bigint,
    click_paydoc_id bigint,
    performed_at timestamptz,
    canceled_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (provider, provider_transaction_id)
);
create index transactions_order_idx on transactions (order_id, id);
create index transactions_status_idx on transactions (status, id);
-- An order is paid at most once.
create unique index transactions_one_confirmed_per_order on transactions (order_id) where status = 'confirmed';
select trigger_updated_at('transactions');

-- What the payment webhooks need beyond the transaction table of the foundation (PAYMENTS.md sections 1 and 2).

-- When the provider reserved the order with this transaction (Payme CreateTransaction, Click Prepare): Payme's
-- `create_time`. NULL while the transaction is only a checkout link nobody has opened (`waiting`).
alter table transactions add column reserved_at timestamptz;
-- The fiscal receipt (QR) URL Click's merchant API gave for a confirmed Click payment, kept once fetched.
alter table transactions add column receipt_url text;

alter table transactions add constraint transactions_reserved_when_started
    check (status = 'waiting' or reserved_at is not null);
alter table transactions add constraint transactions_provider_id_when_started
    check (status = 'waiting' or provider_transaction_id is not null);

-- Payme allows one live or performed transaction per order (PAYMENTS.md 1.7); Click may hold several prepared
-- attempts, of which only one is ever confirmed (`transactions_one_confirmed_per_order`).
create unique index transactions_one_active_payme_per_order
    on transactions (order_id) where provider = 'payme' and state in (1, 2);
-- GetStatement selects by Payme's own `time`.
create index transactions_payme_time_idx
    on transactions (provider_time) where provider = 'payme' and provider_time is not null;
-- The sweeper finds expired reservations.
create index transactions_processing_idx on transactions (reserved_at) where status = 'processing';

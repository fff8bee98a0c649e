-- Fiscal receipts (PAYMENTS.md section 4): the codes a receipt line needs on each service, the tax id of a worker
-- a service is sold on behalf of, each transaction's fiscal state, Payme's receipts (SetFiscalData) and the queue
-- of receipts to submit to Click (submit_items).

-- The national classifier's 17-digit product/service code (IKPU), its package code, and the VAT rate (0 when the
-- seller pays no VAT). A service without an IKPU code cannot be paid online when FISCAL_RECEIPTS=required.
alter table services add column ikpu_code text check (ikpu_code ~ '^[0-9]{17}$');
alter table services add column package_code text check (package_code ~ '^[0-9A-Za-z-]{1,20}$');
alter table services add column vat_percent integer not null default 0 check (vat_percent between 0 and 100);

-- A worker's PINFL (14 digits) or TIN (9 digits): when the order's worker has one, the service is sold on their
-- behalf and the receipt's commission info names them instead of the merchant.
alter table users add column tax_id text check (tax_id ~ '^([0-9]{9}|[0-9]{14})$');

-- The fiscal state of a payment: not_required (no codes, or not paid), pending (a receipt is due), submitted
-- (the provider has it), failed (Click refused it too often; an admin may retry). The receipt line as paid is
-- kept with the payment, so a later edit of the service does not change a receipt still to be submitted.
alter table transactions add column fiscal_status text not null default 'not_required'
    check (fiscal_status in ('not_required', 'pending', 'submitted', 'failed'));
alter table transactions add column fiscal_item jsonb;

-- Payme's SetFiscalData: one receipt per transaction and type, the first one kept.
create table payme_fiscal_data (
    transaction_id bigint not null references transactions (id),
    type text not null check (type in ('PERFORM', 'CANCEL')),
    fiscal_data jsonb not null,
    created_at timestamptz not null default now(),
    primary key (transaction_id, type)
);

-- Click's submit_items queue: one row per confirmed Click payment with fiscal codes. A submitter claims a due row
-- with `for update skip locked` and holds it while it calls Click, so two instances never submit the same receipt.
create table fiscal_submissions (
    transaction_id bigint primary key references transactions (id),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error text,
    submitted_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index fiscal_submissions_due_idx on fiscal_submissions (next_attempt_at) where submitted_at is null;
select trigger_updated_at('fiscal_submissions');

drop index transactions_processing_idx;
drop index transactions_payme_time_idx;
drop index transactions_one_active_payme_per_order;
alter table transactions drop constraint transactions_provider_id_when_started;
alter table transactions drop constraint transactions_reserved_when_started;
alter table transactions drop column receipt_url;
alter table transactions drop column reserved_at;

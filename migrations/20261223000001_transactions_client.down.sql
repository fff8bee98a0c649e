drop index transactions_client_idx;
drop trigger transactions_client on transactions;
drop function transactions_client();
alter table transactions drop column client_id;

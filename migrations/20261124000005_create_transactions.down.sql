drop table if exists transactions;

drop table if exists service_workers;
drop table if exists services;

drop table if exists order_messages;
drop table if exists notification_reads;
drop table if exists notifications;
drop table if exists orders;

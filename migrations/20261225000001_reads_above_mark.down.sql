drop trigger users_read_mark_moved on users;
drop function recount_reads_above_mark();
drop trigger notification_reads_delete_above on notification_reads;
drop trigger notification_reads_insert_above on notification_reads;
drop function count_reads_above_mark();
alter table users drop column notifications_read_above;

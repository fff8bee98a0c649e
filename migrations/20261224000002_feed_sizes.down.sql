create or replace function tally_notifications() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into tally_deltas (key, n)
        select 'notifications:' || kind, count(*) from new_rows group by kind;
    else
        insert into tally_deltas (key, n)
        select 'notifications:' || kind, -count(*) from old_rows group by kind;
        update users u set notifications_read_ordinal = u.notifications_read_ordinal - (
            select count(*) from old_rows o where o.id <= u.notifications_read_upto)
        where u.notifications_read_upto >= (select min(id) from old_rows);
    end if;
    return null;
end;
$$;

drop function roll_up_feed_sizes(bigint, bigint);
drop table feed_sizes_mark;
drop table feed_sizes;

drop index notifications_client_kind_idx;
drop index orders_client_status_idx;

create or replace function tally_orders() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into tally_deltas (key, n)
        select 'orders:' || status, count(*) from new_rows group by status
        union all
        select 'orders_on:' || tally_day(created_at), count(*) from new_rows group by tally_day(created_at);
    elsif tg_op = 'UPDATE' then
        insert into tally_deltas (key, n)
        select key, sum(d)::bigint from (
            select 'orders:' || o.status as key, -1 as d from old_rows o join new_rows w on w.id = o.id
             where o.status <> w.status
            union all
            select 'orders:' || w.status, 1 from old_rows o join new_rows w on w.id = o.id
             where o.status <> w.status
        ) c group by key having sum(d) <> 0;
    else
        insert into tally_deltas (key, n)
        select 'orders:' || status, -count(*) from old_rows group by status
        union all
        select 'orders_on:' || tally_day(created_at), -count(*) from old_rows group by tally_day(created_at);
    end if;
    return null;
end;
$$;

delete from tallies where starts_with(key, 'orders_of_service:');
delete from tally_deltas where starts_with(key, 'orders_of_service:');

-- The delivery log's counts from the tallies (see 20261217000001_tallies): `deliveries:<status>:<channel>`, kept
-- by statement triggers in the same transaction as each change. A sender's claims and leases do not change a
-- row's status, so they write no delta (the trigger compares the rows it changed); only a row's arrival, its
-- outcome and its removal do.
create function tally_deliveries() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into tally_deltas (key, n)
        select 'deliveries:' || status || ':' || channel, count(*) from new_rows group by status, channel;
    elsif tg_op = 'UPDATE' then
        insert into tally_deltas (key, n)
        select key, sum(d)::bigint from (
            select 'deliveries:' || o.status || ':' || o.channel as key, -1 as d
            from old_rows o join new_rows w on w.id = o.id where o.status <> w.status or o.channel <> w.channel
            union all
            select 'deliveries:' || w.status || ':' || w.channel, 1
            from old_rows o join new_rows w on w.id = o.id where o.status <> w.status or o.channel <> w.channel
        ) c group by key having sum(d) <> 0;
    else
        insert into tally_deltas (key, n)
        select 'deliveries:' || status || ':' || channel, -count(*) from old_rows group by status, channel;
    end if;
    return null;
end;
$$;
create trigger tally_deliveries_insert after insert on deliveries referencing new table as new_rows
    for each statement execute function tally_deliveries();
create trigger tally_deliveries_update after update on deliveries
    referencing old table as old_rows new table as new_rows
    for each statement execute function tally_deliveries();
create trigger tally_deliveries_delete after delete on deliveries referencing old table as old_rows
    for each statement execute function tally_deliveries();

-- The rows already there.
insert into tally_deltas (key, n)
select 'deliveries:' || status || ':' || channel, count(*) from deliveries group by status, channel;

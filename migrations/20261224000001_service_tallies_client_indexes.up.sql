-- The lists narrowed to one client or one service, whose `count` read every row of that party's history (make
-- bench, 2026-12-06, from about 300 orders to 1 000 000: a service's orders 1.7 → 7.6 ms, a client's completed
-- orders 2.5 → 5.5 ms, a client's notifications of one kind 2.7 → 9.2 ms).
--
-- A service's orders in each status are tallied (see 20261217000001_tallies), as `orders_of_service:<id>:<status>`,
-- by the same statement trigger and in the same statement as `orders:<status>`. A service has orders from every
-- client, so no index can count them cheaply; one more delta in the insert the trigger already makes costs an
-- order next to nothing (per-party tallies of clients and workers as well, five deltas per order and three per
-- event instead of two and one, made an order cost a quarter more of the database's time).
--
-- A client's orders in one status and notifications of one kind are read from an index that matches: counting
-- them reads the index entries of the answer alone (not the rows of every order or event of the client's), and a
-- page of them stops after its rows.

-- Writers wait while the tallies of what is already here are counted, so that none is counted twice or missed.
lock table orders in share mode;

create or replace function tally_orders() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into tally_deltas (key, n)
        select 'orders:' || status, count(*) from new_rows group by status
        union all
        select 'orders_of_service:' || service_id || ':' || status, count(*) from new_rows group by service_id, status
        union all
        select 'orders_on:' || tally_day(created_at), count(*) from new_rows group by tally_day(created_at);
    elsif tg_op = 'UPDATE' then
        insert into tally_deltas (key, n)
        with moved as (
            select o.status as old_status, o.service_id as old_service, w.status as new_status,
                   w.service_id as new_service
            from old_rows o join new_rows w on w.id = o.id
            where (o.status, o.service_id) is distinct from (w.status, w.service_id)
        )
        select key, sum(d)::bigint from (
            select 'orders:' || old_status as key, -1 as d from moved
            union all
            select 'orders:' || new_status, 1 from moved
            union all
            select 'orders_of_service:' || old_service || ':' || old_status, -1 from moved
            union all
            select 'orders_of_service:' || new_service || ':' || new_status, 1 from moved
        ) c group by key having sum(d) <> 0;
    else
        insert into tally_deltas (key, n)
        select 'orders:' || status, -count(*) from old_rows group by status
        union all
        select 'orders_of_service:' || service_id || ':' || status, -count(*) from old_rows group by service_id, status
        union all
        select 'orders_on:' || tally_day(created_at), -count(*) from old_rows group by tally_day(created_at);
    end if;
    return null;
end;
$$;

insert into tallies (key, n)
select 'orders_of_service:' || service_id || ':' || status, count(*) from orders group by service_id, status;

create index orders_client_status_idx on orders (client_id, status, id);
create index notifications_client_kind_idx on notifications (client_id, kind, id);

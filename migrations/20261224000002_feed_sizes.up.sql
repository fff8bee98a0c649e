-- The size of each client's and each worker's feed, so that their notification list's `count` (and a deep page,
-- read from the nearer end once the count is known) costs what its answer costs: it counted every index entry of
-- the user's feed (make bench, 2026-12-06: 3.3 ms for the busiest worker's 15 000 on a year of data).
--
-- Not a tally written with each event: every event would then write two more rows in the transaction that places
-- an order, and order creation lost a tenth of its throughput at 64 concurrent orders (measured with pgbench on
-- the domain's order statement). Instead the feed is rolled up behind the stable watermark of the live feed
-- (domain::watermark: every id at or below it is committed or rolled back for good): `feed_sizes` holds how many
-- events of each user's feed have an id at or below `feed_sizes_mark.upto`, and a reader adds the user's events
-- above it, read from the user's index (a second's worth at most while the server rolls up once a second). Both
-- are read in one statement, so in one snapshot (`domain::notifications`), and a roll-up writes both in one
-- transaction.
create table feed_sizes (
    side text not null check (side in ('client', 'worker')),
    user_id bigint not null,
    n bigint not null,
    primary key (side, user_id)
);

create table feed_sizes_mark (
    one boolean primary key default true check (one),
    upto bigint not null
);

-- Counts the events above the mark up to `upto` (at most `batch` ids of them) into the sizes and moves the mark;
-- returns how many ids it covered. The caller passes a stable watermark. One roll-up at a time, and a deletion of
-- notifications waits for it (both take the same lock), so no event is counted twice or taken out uncounted.
create function roll_up_feed_sizes(upto bigint, batch bigint) returns bigint language plpgsql as $$
declare
    from_id bigint;
    to_id bigint;
begin
    perform pg_advisory_xact_lock(hashtext('feed_sizes'));
    select m.upto into from_id from feed_sizes_mark m;
    to_id := least(roll_up_feed_sizes.upto, from_id + batch);
    if to_id <= from_id then
        return 0;
    end if;
    insert into feed_sizes (side, user_id, n)
    select side, user_id, count(*) from (
        select 'client' as side, client_id as user_id from notifications where id > from_id and id <= to_id
        union all
        select 'worker', worker_id from notifications where id > from_id and id <= to_id and worker_id is not null
    ) e
    group by side, user_id order by side, user_id
    on conflict (side, user_id) do update set n = feed_sizes.n + excluded.n;
    update feed_sizes_mark set upto = to_id;
    return to_id - from_id;
end;
$$;

-- Deleting old notifications (retention) takes those already rolled up out of the sizes.
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
        perform pg_advisory_xact_lock(hashtext('feed_sizes'));
        update feed_sizes f set n = f.n - d.n
        from (
            select 'client' as side, o.client_id as user_id, count(*) as n
            from old_rows o, feed_sizes_mark m where o.id <= m.upto group by o.client_id
            union all
            select 'worker', o.worker_id, count(*)
            from old_rows o, feed_sizes_mark m where o.id <= m.upto and o.worker_id is not null group by o.worker_id
        ) d
        where f.side = d.side and f.user_id = d.user_id;
    end if;
    return null;
end;
$$;

-- What is already here: writers of events wait (they take this table's lock), so the mark is stable.
lock table notifications in share mode;
insert into feed_sizes_mark (upto) values (0);
select roll_up_feed_sizes(m, m) from (select coalesce(max(id), 0) as m from notifications) n;

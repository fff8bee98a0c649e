-- Maintained counts, so that a list's `count`, the unread badge and the dashboard cost what their answer costs
-- instead of what the history costs.
--
-- A tally is a number (and, for money, an amount) under a key:
--   orders:<status>                       orders in that status
--   orders_on:<YYYY-MM-DD>                orders placed that Tashkent day                      (n)
--   revenue_on:<YYYY-MM-DD>               confirmed payments performed that Tashkent day       (n, amount)
--   notifications:<kind>                  notifications of that kind
--   transactions:<provider>:<status>      transactions of that provider in that status         (n, amount)
--   users:<role>                          users with that role
--
-- Statement triggers on the three tables write every change's delta, in the same transaction as the change, as
-- a new row of `tally_deltas`: an insert that takes no lock another writer waits for, so concurrent orders do not
-- queue on a shared counter row and cannot deadlock on two of them. A tally's value is its row in `tallies` plus
-- its deltas not yet folded in; `fold_tallies()` (the server's sweep, every second) moves the deltas into
-- `tallies` in one transaction, so a reader sees every delta either still in `tally_deltas` or already in
-- `tallies`, never both or neither. Whatever writes these tables (the domain, the bench's `grow.sql`, an
-- operator's SQL) keeps the tallies right.
-- Keys compare byte by byte (collation "C"), so a prefix is a range of the key's index whatever the database's
-- collation.
create table tallies (
    key text collate "C" primary key,
    n bigint not null default 0,
    amount bigint not null default 0
);

create table tally_deltas (
    key text collate "C" not null,
    n bigint not null,
    amount bigint not null default 0
);
create index tally_deltas_key_idx on tally_deltas (key);

-- The value of the tallies whose key starts with `prefix` (`orders:` for all orders), one row per key.
create function tally_values(prefix text) returns table (key text, n bigint, amount bigint)
language sql stable as $$
    select key, sum(n)::bigint, sum(amount)::bigint from (
        select key, n, amount from tallies
        where key >= prefix collate "C" and key < (prefix || chr(1114111)) collate "C"
        union all
        select key, n, amount from tally_deltas
        where key >= prefix collate "C" and key < (prefix || chr(1114111)) collate "C"
    ) t group by key
$$;

-- Folds the deltas into `tallies`; returns how many it folded. One fold runs at a time (a second one, from
-- another instance, returns 0 at once); writers only ever insert deltas, so folding never waits for them.
create function fold_tallies() returns bigint language plpgsql as $$
declare
    folded bigint;
begin
    if not pg_try_advisory_xact_lock(hashtext('fold_tallies')) then
        return 0;
    end if;
    with moved as (
        delete from tally_deltas returning key, n, amount
    ), summed as (
        select key, sum(n)::bigint as n, sum(amount)::bigint as amount, count(*) as rows from moved group by key
    ), folded as (
        insert into tallies (key, n, amount) select key, n, amount from summed order by key
        on conflict (key) do update set n = tallies.n + excluded.n, amount = tallies.amount + excluded.amount
    )
    select coalesce(sum(rows), 0)::bigint into folded from summed;
    return folded;
end;
$$;

create function tally_day(at timestamptz) returns text language sql stable as $$
    select to_char((at at time zone 'Asia/Tashkent')::date, 'YYYY-MM-DD')
$$;

-- orders: by status, and placed per day.
create function tally_orders() returns trigger language plpgsql as $$
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
create trigger tally_orders_insert after insert on orders referencing new table as new_rows
    for each statement execute function tally_orders();
create trigger tally_orders_update after update on orders referencing old table as old_rows new table as new_rows
    for each statement execute function tally_orders();
create trigger tally_orders_delete after delete on orders referencing old table as old_rows
    for each statement execute function tally_orders();

-- transactions: by provider and status (with their amount), and confirmed revenue per day performed.
create function tally_transactions() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into tally_deltas (key, n, amount)
        select 'transactions:' || provider || ':' || status, count(*), sum(amount) from new_rows
        group by provider, status
        union all
        select 'revenue_on:' || tally_day(performed_at), count(*), sum(amount) from new_rows
        where status = 'confirmed' and performed_at is not null group by tally_day(performed_at);
    elsif tg_op = 'UPDATE' then
        insert into tally_deltas (key, n, amount)
        select key, sum(d)::bigint, sum(a)::bigint from (
            select 'transactions:' || o.provider || ':' || o.status as key, -1 as d, -o.amount as a
            from old_rows o join new_rows w on w.id = o.id
            where (o.provider, o.status, o.amount) is distinct from (w.provider, w.status, w.amount)
            union all
            select 'transactions:' || w.provider || ':' || w.status, 1, w.amount
            from old_rows o join new_rows w on w.id = o.id
            where (o.provider, o.status, o.amount) is distinct from (w.provider, w.status, w.amount)
            union all
            select 'revenue_on:' || tally_day(o.performed_at), -1, -o.amount
            from old_rows o join new_rows w on w.id = o.id
            where o.status = 'confirmed' and o.performed_at is not null
              and (o.status, o.amount, o.performed_at) is distinct from (w.status, w.amount, w.performed_at)
            union all
            select 'revenue_on:' || tally_day(w.performed_at), 1, w.amount
            from old_rows o join new_rows w on w.id = o.id
            where w.status = 'confirmed' and w.performed_at is not null
              and (o.status, o.amount, o.performed_at) is distinct from (w.status, w.amount, w.performed_at)
        ) c group by key having sum(d) <> 0 or sum(a) <> 0;
    else
        insert into tally_deltas (key, n, amount)
        select 'transactions:' || provider || ':' || status, -count(*), -sum(amount) from old_rows
        group by provider, status
        union all
        select 'revenue_on:' || tally_day(performed_at), -count(*), -sum(amount) from old_rows
        where status = 'confirmed' and performed_at is not null group by tally_day(performed_at);
    end if;
    return null;
end;
$$;
create trigger tally_transactions_insert after insert on transactions referencing new table as new_rows
    for each statement execute function tally_transactions();
create trigger tally_transactions_update after update on transactions
    referencing old table as old_rows new table as new_rows
    for each statement execute function tally_transactions();
create trigger tally_transactions_delete after delete on transactions referencing old table as old_rows
    for each statement execute function tally_transactions();

-- users: by role.
create function tally_users() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into tally_deltas (key, n) select 'users:' || role, count(*) from new_rows group by role;
    elsif tg_op = 'UPDATE' then
        insert into tally_deltas (key, n)
        select key, sum(d)::bigint from (
            select 'users:' || o.role as key, -1 as d from old_rows o join new_rows w on w.id = o.id
             where o.role <> w.role
            union all
            select 'users:' || w.role, 1 from old_rows o join new_rows w on w.id = o.id where o.role <> w.role
        ) c group by key having sum(d) <> 0;
    else
        insert into tally_deltas (key, n) select 'users:' || role, -count(*) from old_rows group by role;
    end if;
    return null;
end;
$$;
create trigger tally_users_insert after insert on users referencing new table as new_rows
    for each statement execute function tally_users();
create trigger tally_users_update after update on users referencing old table as old_rows new table as new_rows
    for each statement execute function tally_users();
create trigger tally_users_delete after delete on users referencing old table as old_rows
    for each statement execute function tally_users();

-- Every notification with an id at or below `notifications_read_upto` counts as read; this is how many
-- notifications there are with such an id (all of them, whoever may see them), kept with the mark. An admin's
-- unread count is then the tally of all notifications, less this, less the ones marked read one by one above the
-- mark: no read of the history.
alter table users add column notifications_read_ordinal bigint not null default 0;

-- notifications: by kind. Deleting old ones (retention) also lowers the ordinal of every mark at or above them.
create function tally_notifications() returns trigger language plpgsql as $$
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
create trigger tally_notifications_insert after insert on notifications referencing new table as new_rows
    for each statement execute function tally_notifications();
create trigger tally_notifications_delete after delete on notifications referencing old table as old_rows
    for each statement execute function tally_notifications();
-- A notification never changes what it counts under.
create function notifications_immutable_kind() returns trigger language plpgsql as $$
begin
    raise exception 'a notification''s id and kind never change';
end;
$$;
create trigger notifications_immutable_kind before update of id, kind on notifications
    for each row when (old.id <> new.id or old.kind <> new.kind) execute function notifications_immutable_kind();

-- The tallies of what is already here.
insert into tallies (key, n)
select 'orders:' || status, count(*) from orders group by status
union all
select 'orders_on:' || tally_day(created_at), count(*) from orders group by tally_day(created_at)
union all
select 'notifications:' || kind, count(*) from notifications group by kind
union all
select 'users:' || role, count(*) from users group by role;
insert into tallies (key, n, amount)
select 'transactions:' || provider || ':' || status, count(*), sum(amount) from transactions group by provider, status
union all
select 'revenue_on:' || tally_day(performed_at), count(*), sum(amount) from transactions
where status = 'confirmed' and performed_at is not null group by tally_day(performed_at);
-- Sets every user's `notifications_read_ordinal` from the notifications: one ordered pass over them with the
-- marks in use merged in (a notification sorts before a mark equal to its id, so a mark counts its own id). For
-- this migration, and for an operator who wrote read marks with plain SQL (the bench's `grow.sql` does).
create function recount_read_ordinals() returns void language sql as $$
    with marks as (
        select distinct notifications_read_upto as mark from users
    ), stream as (
        select id as at, 1 as n, null::bigint as mark from notifications
        union all
        select mark, 0, mark from marks
    ), running as (
        select mark, sum(n) over (order by at, n desc rows between unbounded preceding and current row) as ordinal
        from stream
    )
    update users u set notifications_read_ordinal = r.ordinal
    from running r where r.mark is not null and r.mark = u.notifications_read_upto
$$;
select recount_read_ordinals();

-- `visible_notifications`, oldest first: the same three branches (the same rule, written beside it, and a test
-- checks that the two return the same rows) ordered by ascending id, so a page read from the oldest end (a
-- deep page, read from the nearer end of the list) is merged from the index too instead of sorting the feed.
create function visible_notifications_oldest_first(viewer_role text, viewer_id bigint) returns setof notifications
language sql stable as $$
    (select * from notifications where viewer_role = 'admin' order by id)
    union all
    (select * from notifications where viewer_role = 'client' and client_id = viewer_id order by id)
    union all
    (select * from notifications where viewer_role = 'worker' and worker_id = viewer_id order by id)
$$;

-- The open orders of a worker, which choosing the least busy worker counts on every order placed: read from their
-- own index instead of the worker's whole history.
create index orders_open_worker_idx on orders (worker_id) where status in ('pending', 'paid', 'in_process');

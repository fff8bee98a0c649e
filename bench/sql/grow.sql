-- The growth step of `make bench`: a population with 90 days of history, loaded with plain SQL in one transaction
-- (server-side `generate_series` and `insert … select`, no per-row round trips), through the schema as the
-- migrations made it: every constraint, foreign key and trigger stays in force and is checked.
--
-- At the default scale: 5 admins, 500 workers, 20 000 clients, 50 services (each worker serves one), 1 000 000
-- orders, about 3 050 000 notifications, 333 000 confirmed transactions (plus refunded, abandoned and waiting ones),
-- 40 000 messages, and the read state of every user of the population (`users.notifications_read_upto` and
-- `notification_reads`). Every row is what the application itself would have written (see app/src/domain/): an
-- order's events follow the status machine in time order (created, assigned, paid online or in cash, in process,
-- completed or canceled, refunds, abandoned payments, messages), each carrying the `data` of its kind, the
-- order's client and the worker of the order at the time of the event; ids follow time in every table; sequences
-- end past every id used. Clients and services are skewed (a few busy clients order every day, most a few times).
--
-- Parameters, all optional (custom settings, e.g. `PGOPTIONS='-c grow.orders=1000' psql -f bench/sql/grow.sql`,
-- or `set_config` on the same connection): grow.tag (names of the population's users and services; lowercase
-- letters and digits), grow.admins, grow.workers (at least grow.services), grow.clients, grow.services,
-- grow.orders, grow.days. Runs on a freshly migrated database, or on top of another population with another tag:
-- a tag used twice fails on the unique usernames and loads nothing. Then run
-- `vacuum analyze` (the bench driver does; this database may run without autovacuum).

begin;
set local synchronous_commit = off;
set local work_mem = '256MB';
select setseed(0.2026);

create temp table grow_params on commit drop as
select coalesce(nullif(current_setting('grow.tag', true), ''), 'grown') as tag,
       coalesce(nullif(current_setting('grow.admins', true), ''), '5')::int as admins,
       coalesce(nullif(current_setting('grow.workers', true), ''), '500')::int as workers,
       coalesce(nullif(current_setting('grow.clients', true), ''), '20000')::int as clients,
       coalesce(nullif(current_setting('grow.services', true), ''), '50')::int as services,
       coalesce(nullif(current_setting('grow.orders', true), ''), '1000000')::int as orders,
       coalesce(nullif(current_setting('grow.days', true), ''), '90')::int as days,
       now() as now;

do $$
declare p grow_params;
begin
    select * into p from grow_params;
    if p.tag !~ '^[a-z0-9]{1,40}$' then
        raise exception 'grow.tag must be 1 to 40 lowercase letters or digits, not %', p.tag;
    end if;
    if least(p.admins, p.clients, p.services, p.orders, p.days) < 1 or p.workers < p.services then
        raise exception 'grow needs at least one admin, client, service, order and day, and a worker per service';
    end if;
end $$;

-- The first id of a block of `n` ids taken from `seq` at once: the sequence then stands past the block.
create or replace function pg_temp.grow_block(seq regclass, n bigint) returns bigint language sql as $$
    select setval(seq, nextval(seq) + greatest(n, 1) - 1) - greatest(n, 1) + 1
$$;

-- Users ---------------------------------------------------------------------------------------------------------

create temp table grow_users (role text, i int, id bigint) on commit drop;
with made as (
    insert into users (username, password_hash, role, email, full_name, phone, language, created_at, updated_at)
    select p.tag || '_' || r.role || '_' || g,
           'grown by bench/sql/grow.sql: no password',
           r.role,
           p.tag || '_' || r.role || '_' || g || '@bench.task.uz',
           (array['Aziz', 'Dilnoza', 'Jasur', 'Madina', 'Otabek', 'Nilufar', 'Sardor', 'Gulnora', 'Bekzod',
                  'Shahnoza', 'Rustam', 'Malika', 'Timur', 'Zarina', 'Ulugbek', 'Kamola'])[1 + g % 16]
               || ' ' ||
           (array['Karimov', 'Rahimova', 'Tursunov', 'Yusupova', 'Aliyev', 'Saidova', 'Ergashev', 'Nazarova',
                  'Qodirov', 'Ismoilova', 'Xolmatov', 'Abdullayeva'])[1 + (g / 16) % 12],
           '+99890' || lpad((r.offset_ + g)::text, 7, '0'),
           (array['uz', 'ru', 'en', null])[1 + g % 4],
           p.now - (p.days + 30 + (g * 7919) % 365) * interval '1 day',
           p.now - (p.days + (g * 7919) % 30) * interval '1 day'
    from grow_params p,
         lateral (values ('admin', p.admins, 0), ('worker', p.workers, 100000), ('client', p.clients, 1000000))
             as r (role, n, offset_),
         lateral generate_series(1, r.n) g
    order by r.role, g
    returning id, role
)
insert into grow_users
select role, (row_number() over (partition by role order by id))::int - 1, id from made;

-- Services, each with the workers whose index is its own modulo the number of services -----------------------------

create temp table grow_services (i int, id bigint, price bigint) on commit drop;
with made as (
    insert into services (name, description, price, created_at, updated_at)
    select (array['Plumbing', 'Electrical repair', 'Apartment cleaning', 'Furniture assembly', 'Air conditioning',
                  'Appliance repair', 'Painting', 'Tiling', 'Moving help', 'Window cleaning', 'Locksmith',
                  'Gas boiler service', 'Carpet cleaning', 'Pest control', 'Gardening'])[1 + (g - 1) % 15]
               || ' ' || g || ' (' || p.tag || ')',
           'Grown by bench/sql/grow.sql.',
           (30 + (g * 37) % 50 * 10) * 100000::bigint,
           p.now - (p.days + 60) * interval '1 day',
           p.now - (p.days + 60) * interval '1 day'
    from grow_params p, generate_series(1, p.services) g
    order by g
    returning id, price
)
insert into grow_services select (row_number() over (order by id))::int - 1, id, price from made;

insert into service_workers (service_id, worker_id, created_at)
select s.id, w.id, p.now - (p.days + 30) * interval '1 day'
from grow_params p, grow_users w join grow_services s on s.i = w.i % (select services from grow_params)
where w.role = 'worker';

analyze grow_users;
analyze grow_services;

-- Orders --------------------------------------------------------------------------------------------------------

-- One row per order, placed at even intervals over the days (so ids follow time), with its random draws.
create temp table grow_draws on commit drop as
select g as i,
       p.now - p.days * interval '1 day' + ((g - 1) * p.days * 86400.0 / p.orders) * interval '1 second' as t0,
       floor(p.clients * power(random(), 1.5))::int as ci,
       floor(p.services * power(random(), 1.3))::int as si,
       random() as r_status, random() as r_worker, random() as r_online, random() as r_provider,
       random() as r_unassigned, random() as r_cancel, random() as r_payment, random() as r_messages,
       random() as d_assign, random() as d_paid, random() as d_ip, random() as d_done, random() as d_cancel
from grow_params p, generate_series(1, p.orders) g;

-- The order's story as it was meant to go (`target`), with the time of each step.
create temp table grow_plan on commit drop as
select d.i, d.t0, c.id as client_id, s.id as service_id, s.price, w.id as worker, a.id as admin,
       case when d.r_status < 0.32 then 'pending' when d.r_status < 0.49 then 'canceled'
            when d.r_status < 0.56 then 'paid' when d.r_status < 0.64 then 'in_process' else 'completed' end
           as target,
       -- Unassigned: a tenth of the orders that stay pending never get a worker; 4 % of the others got theirs
       -- from an admin after they were placed.
       case when d.r_status < 0.32 then d.r_unassigned < 0.1 else false end as never_assigned,
       d.r_status >= 0.32 and d.r_unassigned < 0.04 as assigned_later,
       d.t0 + (5 + d.d_assign * 60) * interval '1 minute' as t_assign,
       -- 30 % of the cancellations are Payme refunds of a paid order; the rest are a pending order canceled by
       -- its client (or, one time in five, its worker).
       d.r_status >= 0.32 and d.r_status < 0.49 and d.r_cancel < 0.3 as refund,
       d.r_cancel >= 0.86 as canceled_by_worker,
       -- Paid online (65 % of the orders that reach `paid`, and every refunded one), else in cash to the worker.
       (d.r_status >= 0.49 and d.r_online < 0.653) or (d.r_status >= 0.32 and d.r_status < 0.49 and d.r_cancel < 0.3)
           as online,
       case when d.r_provider < 0.6 or (d.r_status >= 0.32 and d.r_status < 0.49) then 'payme' else 'click' end
           as provider,
       d.r_payment, d.r_messages,
       d.t0 + (70 + d.d_paid * 360) * interval '1 minute' as t_paid,
       d.d_ip, d.d_done, d.d_cancel
from grow_draws d
cross join grow_params p
join grow_users c on c.role = 'client' and c.i = d.ci
join grow_services s on s.i = d.si
join grow_users w on w.role = 'worker'
    and w.i = d.si + p.services * floor(d.r_worker * ((p.workers - 1 - d.si) / p.services + 1))::int
join grow_users a on a.role = 'admin' and a.i = d.i % p.admins;

create temp table grow_orders on commit drop as
select s.*,
       case when s.never_assigned or (s.assigned_later and s.t_assign > s.now) then null else s.worker end
           as worker_id,
       case when s.never_assigned or s.assigned_later then null else s.worker end as created_worker,
       case when s.assigned_later and s.t_assign <= s.now then s.t_assign end as assigned_at,
       case s.status when 'completed' then s.t_done when 'in_process' then s.t_ip when 'paid' then s.t_paid
                     when 'canceled' then s.t_cancel
                     else case when s.assigned_later and s.t_assign <= s.now then s.t_assign else s.t0 end
       end as updated_at
from (
    select q.*,
           case when q.target = 'pending' then 'pending'
                when q.target = 'canceled' then
                    case when q.t_cancel <= q.now then 'canceled' when q.refund and q.t_paid <= q.now then 'paid'
                         else 'pending' end
                when q.target = 'completed' and q.t_done <= q.now then 'completed'
                when q.target in ('completed', 'in_process') and q.t_ip <= q.now then 'in_process'
                when q.t_paid <= q.now then 'paid'
                else 'pending' end as status
    from (
        select pl.*, p.now, (select pg_temp.grow_block('orders_id_seq', count(*)) from grow_plan) + pl.i - 1 as id,
               pl.t_paid + (30 + pl.d_ip * 720) * interval '1 minute' as t_ip,
               pl.t_paid + (30 + pl.d_ip * 720 + 60 + pl.d_done * 1440) * interval '1 minute' as t_done,
               case when pl.refund then pl.t_paid + (30 + pl.d_cancel * 720) * interval '1 minute'
                    else pl.t0 + (70 + pl.d_cancel * 1440) * interval '1 minute' end as t_cancel
        from grow_plan pl, grow_params p
    ) q
) s;

insert into orders (id, client_id, worker_id, service_id, price, status, description, created_at, updated_at)
select id, client_id, worker_id, service_id, price, status,
       (array['', '', 'The kitchen tap drips all night.', 'Please call before coming.', 'Third floor, no lift.',
              'The key is with the neighbour.', 'Needed before the weekend.', ''])[1 + i % 8],
       t0, updated_at
from grow_orders order by id;

-- Transactions --------------------------------------------------------------------------------------------------

-- Online payments (confirmed; refunded ones canceled with state -2), reservations that ran out on orders still
-- pending (canceled with Payme's reason 4), and checkout links nobody opened (`waiting`).
create temp table grow_txn_draft on commit drop as
select o.id as order_id, o.provider, o.price as amount,
       case when o.refund and o.status = 'canceled' then 'canceled' else 'confirmed' end as status,
       case when o.refund and o.status = 'canceled' then -2 else 2 end as state,
       case when o.refund and o.status = 'canceled' then 5 end as reason,
       o.t_paid - interval '3 minutes' as created_at,
       o.t_paid - interval '2 minutes' as reserved_at,
       o.t_paid as performed_at,
       case when o.refund and o.status = 'canceled' then o.t_cancel end as canceled_at,
       'payment' as purpose
from grow_orders o where o.online and o.status <> 'pending'
union all
select o.id, o.provider, o.price, 'canceled', -1, 4,
       o.t0 + interval '20 minutes', o.t0 + interval '21 minutes', null,
       o.t0 + interval '21 minutes'
           + case o.provider when 'payme' then interval '12 hours' else interval '30 minutes' end,
       'abandoned'
from grow_orders o where o.status = 'pending' and o.r_payment < 0.08
  and o.t0 + interval '21 minutes' + interval '12 hours' <= o.now
union all
select o.id, o.provider, o.price, 'waiting', 0, null, o.t0 + interval '15 minutes', null, null, null, 'checkout'
from grow_orders o where o.status = 'pending' and o.r_payment >= 0.08 and o.r_payment < 0.13
  and o.t0 + interval '15 minutes' <= o.now;
create temp table grow_txns on commit drop as
select d.*, (select pg_temp.grow_block('transactions_id_seq', count(*)) from grow_txn_draft)
            + row_number() over (order by d.created_at, d.order_id) - 1 as id
from grow_txn_draft d;

insert into transactions (id, order_id, provider, amount, status, provider_transaction_id, state, reason,
                          provider_time, click_paydoc_id, performed_at, canceled_at, reserved_at, created_at,
                          updated_at)
select id, order_id, provider, amount, status,
       case when status = 'waiting' then null
            when provider = 'payme' then lpad(to_hex(id), 24, '0')
            else (3000000000 + id)::text end,
       state, reason,
       case when provider = 'payme' and status <> 'waiting' then (extract(epoch from reserved_at) * 1000)::bigint end,
       case when provider = 'click' and status <> 'waiting' then 4000000000 + id end,
       performed_at, canceled_at, reserved_at, created_at,
       coalesce(canceled_at, performed_at, created_at)
from grow_txns order by id;

-- Messages ------------------------------------------------------------------------------------------------------

-- 2 % of the orders with a worker: one to three messages, the client first, then turn about.
create temp table grow_message_draft on commit drop as
select o.id as order_id, k,
       case when k % 2 = 1 then o.client_id else o.worker_id end as sender_id,
       greatest(o.t0, coalesce(o.assigned_at, o.t0)) + (k * 40) * interval '1 minute' as created_at,
       (array['Hello! When can you come?', 'Tomorrow at ten, is that fine?', 'Yes, thank you. See you then.',
              'Please bring the spare parts.', 'I am on my way, ten minutes.', 'Done, please check.',
              'Could you call me when you arrive?', 'The entrance is from the yard.'])[1 + (o.i + k) % 8] as text
from grow_orders o, lateral generate_series(1, 1 + floor(o.r_messages * 150)::int % 3) k
where o.r_messages < 0.02 and o.worker_id is not null
  and greatest(o.t0, coalesce(o.assigned_at, o.t0)) + (k * 40) * interval '1 minute' <= o.now;
create temp table grow_messages on commit drop as
select d.*, (select pg_temp.grow_block('order_messages_id_seq', count(*)) from grow_message_draft)
            + row_number() over (order by d.created_at, d.order_id, d.k) - 1 as id
from grow_message_draft d;

insert into order_messages (id, order_id, sender_id, text, created_at)
select id, order_id, sender_id, text, created_at from grow_messages order by id;

-- Notifications -------------------------------------------------------------------------------------------------

-- Every event of every order, in the shape `app/src/domain` records it; `step` orders the events of one moment
-- (a payment's confirmation comes before the status change it causes).
create temp table grow_events on commit drop as
select o.t0 as at, 0 as step, o.id as order_id, 'order_created' as kind, o.client_id as actor_id, o.client_id,
       o.created_worker as worker_id,
       jsonb_build_object('status', 'pending', 'service_id', o.service_id, 'worker_id', o.created_worker) as data
from grow_orders o
union all
select o.assigned_at, 1, o.id, 'order_assigned', o.admin, o.client_id, o.worker_id,
       jsonb_build_object('from', null, 'to', o.worker_id)
from grow_orders o where o.assigned_at is not null
union all
select t.performed_at, 2, o.id, 'payment_confirmed', null, o.client_id, o.worker_id,
       jsonb_build_object('transaction_id', t.id, 'provider', t.provider, 'amount', t.amount)
from grow_txns t join grow_orders o on o.id = t.order_id where t.purpose = 'payment'
union all
select o.t_paid, 3, o.id, 'order_status_changed', case when o.online then null else o.worker_id end,
       o.client_id, o.worker_id, '{"from": "pending", "to": "paid"}'
from grow_orders o where o.status in ('paid', 'in_process', 'completed') or (o.status = 'canceled' and o.refund)
union all
select o.t_ip, 4, o.id, 'order_status_changed', o.worker_id, o.client_id, o.worker_id,
       '{"from": "paid", "to": "in_process"}'
from grow_orders o where o.status in ('in_process', 'completed')
union all
select o.t_done, 5, o.id, 'order_status_changed', o.worker_id, o.client_id, o.worker_id,
       '{"from": "in_process", "to": "completed"}'
from grow_orders o where o.status = 'completed'
union all
select o.t_cancel, 6, o.id, 'order_status_changed',
       case when o.canceled_by_worker and o.worker_id is not null then o.worker_id else o.client_id end,
       o.client_id, o.worker_id, '{"from": "pending", "to": "canceled"}'
from grow_orders o where o.status = 'canceled' and not o.refund
union all
select t.canceled_at, 6, o.id, 'payment_canceled', null, o.client_id, o.worker_id,
       jsonb_build_object('transaction_id', t.id, 'provider', t.provider, 'amount', t.amount, 'reason', 5,
                          'refund', true)
from grow_txns t join grow_orders o on o.id = t.order_id where t.purpose = 'payment' and t.state = -2
union all
select o.t_cancel, 7, o.id, 'order_status_changed', null, o.client_id, o.worker_id,
       '{"from": "paid", "to": "canceled"}'
from grow_orders o where o.status = 'canceled' and o.refund
union all
select t.canceled_at, 2, o.id, 'payment_canceled', null, o.client_id,
       case when o.assigned_at is not null and t.canceled_at < o.assigned_at then null else o.worker_id end,
       jsonb_build_object('transaction_id', t.id, 'provider', t.provider, 'amount', t.amount, 'reason', 4,
                          'refund', false)
from grow_txns t join grow_orders o on o.id = t.order_id where t.purpose = 'abandoned'
union all
select m.created_at, 8, m.order_id, 'order_message', m.sender_id, o.client_id, o.worker_id,
       jsonb_build_object('message_id', m.id, 'text', m.text)
from grow_messages m join grow_orders o on o.id = m.order_id;

-- Ids are taken under the feed's shared lock, held to the commit, as every event-recording transaction does
-- (app/src/domain/watermark.rs): no reader's stable watermark passes them before they are visible.
select pg_advisory_xact_lock_shared(6071225355438736708);
create temp table grow_hours (hour timestamptz primary key, last_id bigint) on commit drop;
with numbered as (
    select e.*, (select pg_temp.grow_block('notifications_id_seq', count(*)) from grow_events)
               + row_number() over (order by at, order_id, step) - 1 as id
    from grow_events e
), stored as (
    insert into notifications (id, order_id, kind, actor_id, client_id, worker_id, data, created_at)
    select id, order_id, kind, actor_id, client_id, worker_id, data, at from numbered
    returning id, created_at
)
insert into grow_hours
select date_trunc('hour', created_at), max(id) from stored group by 1;

analyze grow_hours;
analyze notifications;

-- Read state ----------------------------------------------------------------------------------------------------

-- Each user last read everything some time ago (clients within 30 days, and one in seven never; workers within 10
-- days; the admins a week apart: the first a week ago, the next two weeks ago, and so on), then opened some of what
-- came after: 30 % (admins 2 %).
create temp table grow_marks on commit drop as
select u.id, u.role,
       case when u.role = 'client' and u.i % 7 = 3 then 0
            else coalesce((select h.last_id from grow_hours h where h.hour <= u.cutoff
                           order by h.hour desc limit 1), 0) end as mark
from (
    select u.*, p.now - case u.role when 'client' then random() * 30 when 'worker' then random() * 10
                                    else 7 * (1 + u.i) end * interval '1 day' as cutoff
    from grow_users u, grow_params p
) u;

analyze grow_marks;
update users set notifications_read_upto = m.mark from grow_marks m where users.id = m.id and m.mark > 0;
-- Every mark's ordinal, as "read all" keeps it (migration 20261217000001_tallies).
select recount_read_ordinals();

insert into notification_reads (user_id, notification_id, read_at)
select m.id, n.id, least(p.now, n.created_at + (1 + random() * 47) * interval '1 hour')
from grow_params p, grow_marks m join notifications n on n.client_id = m.id and n.id > m.mark
where m.role = 'client' and random() < 0.3;

insert into notification_reads (user_id, notification_id, read_at)
select m.id, n.id, least(p.now, n.created_at + (1 + random() * 47) * interval '1 hour')
from grow_params p, grow_marks m join notifications n on n.worker_id = m.id and n.id > m.mark
where m.role = 'worker' and random() < 0.3;

insert into notification_reads (user_id, notification_id, read_at)
select m.id, n.id, least(p.now, n.created_at + (1 + random() * 47) * interval '1 hour')
from grow_params p, grow_marks m join notifications n on n.id > m.mark
where m.role = 'admin' and random() < 0.02;

commit;

-- The notifications a viewer may see: the one definition of the feed's visibility rule, which every read of a
-- user's notifications selects from (the live socket's `domain::feed::audience_includes` mirrors it, and a test
-- checks that the two agree). An admin sees every event; a client those whose `client_id` is theirs; a worker
-- those whose `worker_id` is theirs.
--
-- Written for the planner. A `stable`, non-strict SQL function of one `select` is inlined into the query that
-- calls it, with the caller's parameters. Each role has its own branch, gated by a filter on the role alone: even
-- in a cached generic plan the gate is a one-time filter, so only the viewer's branch runs, through its own index
-- (`notifications_pkey`, `notifications_client_idx` or `notifications_worker_idx`) and with the caller's filters
-- on `id` pushed into it; an `or` of the three would scan the table. Each branch is ordered newest first: Postgres
-- cannot pass an outer `order by` into the branches, but merges branches that come ordered, so "the newest
-- visible at or below N" and a newest-first page stop after the rows they need instead of sorting the viewer's
-- whole feed.
create function visible_notifications(viewer_role text, viewer_id bigint) returns setof notifications
language sql stable as $$
    (select * from notifications where viewer_role = 'admin' order by id desc)
    union all
    (select * from notifications where viewer_role = 'client' and client_id = viewer_id order by id desc)
    union all
    (select * from notifications where viewer_role = 'worker' and worker_id = viewer_id order by id desc)
$$;

create index orders_open_worker_idx on orders (worker_id) where status in ('pending', 'paid', 'in_process');
drop index orders_worker_status_idx;

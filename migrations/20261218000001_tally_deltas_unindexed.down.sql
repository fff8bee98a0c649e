alter table tally_deltas reset (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
create index tally_deltas_key_idx on tally_deltas (key);

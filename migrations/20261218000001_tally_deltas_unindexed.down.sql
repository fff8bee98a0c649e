create index tally_deltas_key_idx on tally_deltas (key);

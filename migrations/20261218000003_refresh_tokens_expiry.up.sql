-- Refresh tokens are pruned once they have been expired for a day (`tokens::prune_expired`, the server's hourly
-- sweep): the prune reads them oldest expiry first from this index instead of the whole table.
create index refresh_tokens_expires_at_idx on refresh_tokens (expires_at);

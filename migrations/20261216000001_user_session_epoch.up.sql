-- Each user's session epoch: bumped, in the same transaction, by every change that ends all of the user's sessions
-- (a new password, a new role, a deactivation). Access tokens carry the epoch they were issued in, and one from an
-- earlier epoch is refused. Existing tokens carry none, read as 0, so they keep working until such a change.
alter table users add column session_epoch bigint not null default 0;

drop table if exists refresh_tokens;
drop table if exists users;

drop table delivery_cursor;
drop table deliveries;
drop table push_subscriptions;
drop table telegram_link_tokens;
drop table telegram_links;
drop table notification_settings;

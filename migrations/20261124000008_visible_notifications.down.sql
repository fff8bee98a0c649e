drop function if exists visible_notifications(text, bigint);

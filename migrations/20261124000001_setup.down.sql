drop function if exists trigger_updated_at(regclass);
drop function if exists set_updated_at();

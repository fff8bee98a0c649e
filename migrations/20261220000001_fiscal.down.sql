drop table fiscal_submissions;
drop table payme_fiscal_data;
alter table transactions drop column fiscal_item;
alter table transactions drop column fiscal_status;
alter table users drop column tax_id;
alter table services drop column vat_percent;
alter table services drop column package_code;
alter table services drop column ikpu_code;

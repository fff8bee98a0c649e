alter table fiscal_submissions drop column recoveries;
alter table fiscal_submissions drop column leased_until;
alter table fiscal_submissions drop column lease;

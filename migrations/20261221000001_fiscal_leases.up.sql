-- Click's submit_items queue claims each receipt under a lease committed before Click is asked (instead of a row
-- lock held across the call): a submitter that dies mid-send leaves its lease, the receipt is claimed again when
-- the lease runs out, and that re-claim is counted (the one window in which Click may get a receipt twice).
alter table fiscal_submissions add column lease uuid;
alter table fiscal_submissions add column leased_until timestamptz;
alter table fiscal_submissions add column recoveries integer not null default 0;

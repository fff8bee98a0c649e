drop trigger tally_deliveries_insert on deliveries;
drop trigger tally_deliveries_update on deliveries;
drop trigger tally_deliveries_delete on deliveries;
drop function tally_deliveries();
delete from tally_deltas where key like 'deliveries:%';
delete from tallies where key like 'deliveries:%';

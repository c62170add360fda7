-- deals_by_contact without its pending list (fastupdate): a lookup scanned every entry added
-- since the last vacuum — tens of milliseconds for a page's contacts during a large sync.
ALTER INDEX crm.deals_by_contact SET (fastupdate = off);

-- ANALYZE reads a sample of every column it keeps statistics for. No query filters, joins or
-- groups journey rows by these free-text columns (reports group by the UTM keys and the
-- traffic class, never by a URL or a user agent), so their statistics only cost the resolver's
-- ANALYZE runs while a table grows. Restore with SET STATISTICS -1 if a query ever needs them.
ALTER TABLE journey.visits
    ALTER COLUMN landing_url   SET STATISTICS 0,
    ALTER COLUMN referrer      SET STATISTICS 0,
    ALTER COLUMN user_agent    SET STATISTICS 0,
    ALTER COLUMN click_id      SET STATISTICS 0,
    ALTER COLUMN received_at   SET STATISTICS 0,
    ALTER COLUMN stored_at     SET STATISTICS 0;
ALTER TABLE journey.leads
    ALTER COLUMN name          SET STATISTICS 0,
    ALTER COLUMN page          SET STATISTICS 0,
    ALTER COLUMN received_at   SET STATISTICS 0,
    ALTER COLUMN stored_at     SET STATISTICS 0;

-- A lead's keys are a function of its row (phone, e-mail, visit, client key: LinkPass derives
-- them from journey.leads by primary key), so only deals' keys — which change with their
-- contacts and are replaced by owner — need finding by owner. The full owner index cost a
-- third of every lead key's insert (100,000 leads: about 400,000 index entries).
DROP INDEX journey.keys_owner;
CREATE INDEX keys_deal_owner ON journey.keys (project_id, owner) WHERE owner LIKE 'd:%';

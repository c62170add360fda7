-- What each spend row's own link settings at the network say visits carry: Direct ad links and
-- group tracking parameters, Google Ads final-URL suffixes and tracking templates, Meta creative
-- URL tags, VK Ads / myTarget UTM settings. Macros are expanded for the row; a value that
-- depends on the click is NULL. The report keys (utm_source, utm_campaign, ...) stay as
-- domain.md definition 2 pins them unless the source says `campaign_tag: network`;
-- `analytics spend tags` lists the campaigns whose links disagree with their keys.
ALTER TABLE spend.facts
    ADD COLUMN link_template     text,
    ADD COLUMN link_utm_source   text,
    ADD COLUMN link_utm_medium   text,
    ADD COLUMN link_utm_campaign text,
    ADD COLUMN link_utm_content  text,
    ADD COLUMN link_utm_term     text;
COMMENT ON COLUMN spend.facts.link_template IS 'The utm_* parameters of the network''s link settings for this row, macros unexpanded.';
COMMENT ON COLUMN spend.facts.link_utm_campaign IS 'utm_campaign as the network''s link settings give it for this row (NULL: none, or set per click).';
COMMENT ON COLUMN spend.facts.utm_medium IS 'utm_medium as the network''s link settings give it (or a manual sheet''s medium); NULL when unknown.';

-- Report rows name their source the way marketers say it: the ad network's name where the source
-- is one (its configured or default utm_source), with the contractor who runs it —
-- "Yandex Direct — Агентство Альфа" (issue 6). Written by the aggregator from the configuration,
-- like the channel rules: changing them needs `analytics rebuild`.
ALTER TABLE report.cells ADD COLUMN source_label text NOT NULL DEFAULT '';

CREATE OR REPLACE VIEW mart.channel_report WITH (security_invoker = true) AS
SELECT r.project_id, r.model, r.day, r.channel, r.contractor, r.source, r.medium, r.campaign, r.ad, r.keyword,
       r.impressions, r.clicks, r.spend, r.visits, r.leads, r.qualified_leads, r.deals, r.sales, r.revenue, r.cost_of_goods,
       r.clicks::numeric / NULLIF(r.impressions, 0) AS ctr,
       r.spend / NULLIF(r.clicks, 0) AS cpc,
       r.spend / NULLIF(r.leads, 0) AS cpl,
       r.spend / NULLIF(r.sales, 0) AS cpo,
       (r.revenue - r.spend) / NULLIF(r.spend, 0) AS romi,
       (r.revenue - r.cost_of_goods - r.spend) / NULLIF(r.spend, 0) AS romi_margin,
       r.source_label
FROM (
    SELECT c.project_id, m.model, c.day, c.channel, c.contractor, c.source, c.medium, c.campaign, c.ad, c.keyword,
           c.impressions, c.clicks, c.spend, c.visits,
           c.leads[m.i] AS leads, c.qualified_leads[m.i] AS qualified_leads, c.deals[m.i] AS deals, c.sales[m.i] AS sales,
           c.revenue[m.i] AS revenue, c.cost_of_goods[m.i] AS cost_of_goods, c.source_label
    FROM report.cells c
    CROSS JOIN unnest(report.models()) WITH ORDINALITY AS m(model, i)
) r;
COMMENT ON COLUMN mart.channel_report.source_label IS 'The source as reports show it: the ad network''s name for a network''s utm_source (Yandex Direct, VK Ads, myTarget, Google Ads, Meta), else the source; with " — contractor" when the project''s rules name one.';

-- What the aggregator computes (docs/aggregator.md): per-touch credits, per-lead facts and report
-- cells, written only by the aggregator, one (project, day) partition per transaction. BI tools
-- read them through the `mart` views, filtered to their project by row-level security.
CREATE SCHEMA IF NOT EXISTS report;
CREATE SCHEMA IF NOT EXISTS mart;
COMMENT ON SCHEMA mart IS 'The documented read model for BI tools (contracts.md §2): views, one project per BI login.';

-- BI logins and their project: `analytics bi-login create` adds a row. The policies below read it
-- through a SECURITY DEFINER function, so a BI login cannot list other logins.
CREATE TABLE core.bi_logins (
    role_name  text PRIMARY KEY,
    project_id text NOT NULL REFERENCES core.projects (project_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE core.bi_logins IS 'Read-only BI logins: each PostgreSQL role reads the mart of exactly one project.';

CREATE FUNCTION core.bi_projects() RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, core
    AS $$ SELECT project_id FROM core.bi_logins WHERE role_name = session_user $$;
COMMENT ON FUNCTION core.bi_projects() IS 'The projects the session''s login may read (row-level security of the report tables).';

-- One row per touch of a lead: the seven models' weights in units of 10^-15 (each model's
-- weights of a lead sum to exactly 10^15), with the touch's report keys and channel.
CREATE TABLE report.credits (
    project_id        text COLLATE "C" NOT NULL,
    request_id        text COLLATE "C" NOT NULL,
    position          integer NOT NULL CHECK (position >= 1),
    visit_id          text COLLATE "C",
    day               date NOT NULL,
    touched_at        timestamptz,
    channel           text NOT NULL,
    contractor        text,
    source            text NOT NULL,
    medium            text NOT NULL,
    campaign          text NOT NULL,
    ad                text NOT NULL,
    keyword           text NOT NULL,
    w_first_click     bigint NOT NULL,
    w_last_click      bigint NOT NULL,
    w_last_non_direct bigint NOT NULL,
    w_last_paid       bigint NOT NULL,
    w_linear          bigint NOT NULL,
    w_position_based  bigint NOT NULL,
    w_time_decay      bigint NOT NULL,
    PRIMARY KEY (project_id, request_id, position)
);
CREATE INDEX credits_day ON report.credits (project_id, day);
COMMENT ON TABLE report.credits IS 'Per-touch attribution weights of every lead under the seven models (units of 10^-15); visit_id NULL is the (unknown) touch.';

-- Model arrays below are indexed in this order.
CREATE FUNCTION report.models() RETURNS text[] LANGUAGE sql IMMUTABLE
    AS $$ SELECT ARRAY['first_click', 'last_click', 'last_non_direct', 'last_paid', 'linear', 'position_based', 'time_decay'] $$;

-- The report cells: model-free columns once, credited columns as one element per model.
CREATE TABLE report.cells (
    project_id      text COLLATE "C" NOT NULL,
    day             date NOT NULL,
    channel         text NOT NULL,
    contractor      text,
    source          text NOT NULL,
    medium          text NOT NULL,
    campaign        text NOT NULL,
    ad              text NOT NULL,
    keyword         text NOT NULL,
    impressions     bigint NOT NULL DEFAULT 0,
    clicks          bigint NOT NULL DEFAULT 0,
    spend           numeric NOT NULL DEFAULT 0,
    visits          bigint NOT NULL DEFAULT 0,
    leads           numeric[] NOT NULL,
    qualified_leads numeric[] NOT NULL,
    deals           numeric[] NOT NULL,
    sales           numeric[] NOT NULL,
    revenue         numeric[] NOT NULL,
    cost_of_goods   numeric[] NOT NULL,
    source_label    text NOT NULL DEFAULT '',
    CHECK (cardinality(leads) = 7 AND cardinality(qualified_leads) = 7 AND cardinality(deals) = 7 AND cardinality(sales) = 7
           AND cardinality(revenue) = 7 AND cardinality(cost_of_goods) = 7)
);
CREATE INDEX cells_day ON report.cells (project_id, day);
COMMENT ON TABLE report.cells IS 'Channel report cells per (project, day, channel, contractor, source, medium, campaign, ad, keyword); credited columns hold one exact value per model (report.models() order).';

ALTER TABLE report.credits ENABLE ROW LEVEL SECURITY;
ALTER TABLE report.cells ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_project ON report.credits FOR SELECT USING (project_id IN (SELECT core.bi_projects()));
CREATE POLICY by_project ON report.cells FOR SELECT USING (project_id IN (SELECT core.bi_projects()));

CREATE VIEW mart.credits WITH (security_invoker = true) AS
SELECT c.project_id, c.request_id AS lead_request_id, c.position, c.visit_id, m.model,
       (ARRAY[c.w_first_click, c.w_last_click, c.w_last_non_direct, c.w_last_paid, c.w_linear, c.w_position_based,
              c.w_time_decay])[m.i] * 0.000000000000001 AS weight
FROM report.credits c
CROSS JOIN unnest(report.models()) WITH ORDINALITY AS m(model, i);
COMMENT ON VIEW mart.credits IS 'Attribution credit of every touch of every lead under each model; per lead and model the weights sum to exactly 1.';
COMMENT ON COLUMN mart.credits.lead_request_id IS 'The lead (tracker request_id).';
COMMENT ON COLUMN mart.credits.position IS 'The touch''s place in the lead''s path (1 = first), by start time, then visit id.';
COMMENT ON COLUMN mart.credits.visit_id IS 'The touch''s visit; NULL for a lead without any visit (its one (unknown) touch).';
COMMENT ON COLUMN mart.credits.model IS 'first_click, last_click, last_non_direct, last_paid, linear, position_based or time_decay.';
COMMENT ON COLUMN mart.credits.weight IS 'The touch''s share of the lead (and of its deals'' sales and revenue), 15 decimals, exact.';
COMMENT ON COLUMN mart.credits.project_id IS 'The project.';

CREATE VIEW mart.channel_report WITH (security_invoker = true) AS
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
COMMENT ON VIEW mart.channel_report IS 'Spend, traffic, leads, sales and money per model × day × channel × source × campaign × ad × keyword (contracts.md §2). Ad figures and visits sit on their own day and repeat in every model; CRM figures sit on the lead''s day and are credited by the model. Ratios are NULL on a zero denominator.';
COMMENT ON COLUMN mart.channel_report.project_id IS 'The project.';
COMMENT ON COLUMN mart.channel_report.model IS 'Attribution model: first_click, last_click, last_non_direct, last_paid, linear, position_based, time_decay.';
COMMENT ON COLUMN mart.channel_report.day IS 'The spend day for ad figures and visits; the lead''s day (project time zone) for CRM figures; the deal''s creation day for orphan revenue.';
COMMENT ON COLUMN mart.channel_report.channel IS 'paid_search, paid_social, display, organic_search, social, referral, email, direct, offline or unknown (the project''s channel rules).';
COMMENT ON COLUMN mart.channel_report.contractor IS 'Who runs the source or campaign, per the project''s rules; NULL when none is configured.';
COMMENT ON COLUMN mart.channel_report.source IS 'utm_source as sent; else the external referrer''s host; (direct); (unknown) for leads without a visit (domain.md definition 1).';
COMMENT ON COLUMN mart.channel_report.medium IS 'utm_medium as sent; empty when untagged.';
COMMENT ON COLUMN mart.channel_report.campaign IS 'utm_campaign as sent (spend: the campaign''s name in the network unless the project tags ids); empty when untagged.';
COMMENT ON COLUMN mart.channel_report.ad IS 'utm_content: the ad id (Direct ad, VK banner, Google ad group); empty when untagged.';
COMMENT ON COLUMN mart.channel_report.keyword IS 'utm_term: the keyword text; empty when untagged.';
COMMENT ON COLUMN mart.channel_report.impressions IS 'Ad impressions (the same in every model).';
COMMENT ON COLUMN mart.channel_report.clicks IS 'Ad clicks (the same in every model).';
COMMENT ON COLUMN mart.channel_report.spend IS 'Ad spend in the reporting currency, without VAT unless the project reports with VAT; exact, round per cell.';
COMMENT ON COLUMN mart.channel_report.visits IS 'Tracked visits started on this day with these keys (the same in every model).';
COMMENT ON COLUMN mart.channel_report.leads IS 'Non-duplicate leads credited by the model (fractional).';
COMMENT ON COLUMN mart.channel_report.qualified_leads IS 'Qualified leads credited by the model (domain.md definition 17).';
COMMENT ON COLUMN mart.channel_report.deals IS 'Deals that are not excluded, credited with their lead''s weights.';
COMMENT ON COLUMN mart.channel_report.sales IS 'Won deals, credited with their lead''s weights (orphans: full credit on source (unknown)).';
COMMENT ON COLUMN mart.channel_report.revenue IS 'Payments received on won deals net of refunds, credited with their lead''s weights.';
COMMENT ON COLUMN mart.channel_report.cost_of_goods IS 'Cost of goods of won deals, credited with their lead''s weights.';
COMMENT ON COLUMN mart.channel_report.ctr IS 'clicks / impressions; NULL without impressions.';
COMMENT ON COLUMN mart.channel_report.cpc IS 'spend / clicks; NULL without clicks.';
COMMENT ON COLUMN mart.channel_report.cpl IS 'spend / leads; NULL without leads.';
COMMENT ON COLUMN mart.channel_report.cpo IS 'spend / sales; NULL without sales.';
COMMENT ON COLUMN mart.channel_report.romi IS '(revenue − spend) / spend; NULL without spend.';
COMMENT ON COLUMN mart.channel_report.romi_margin IS '(revenue − cost of goods − spend) / spend; NULL without spend.';
COMMENT ON COLUMN mart.channel_report.source_label IS 'The source as reports show it: the ad network''s name for a network''s utm_source (Yandex Direct, VK Ads, myTarget, Google Ads, Meta), else the source; with " — contractor" when the project''s rules name one.';

-- The rest of the aggregator's output (docs/aggregator.md): per-lead and per-deal facts, payment
-- cells and media plans, and the mart views over them. Every report table except media plans is
-- partitioned logically by (project, day) and rewritten a partition at a time by the aggregator.

-- The report cells also carry each model's qualified leads; the partition lookups below.
CREATE INDEX IF NOT EXISTS leads_occurred ON journey.leads (project_id, occurred_at);
-- Visits are counted per day: a block-range index costs the resolver's inserts almost nothing
-- (visits arrive roughly in time order) and lets a day's count skip the rest of the table.
CREATE INDEX IF NOT EXISTS visits_occurred_brin ON journey.visits USING brin (occurred_at) WITH (pages_per_range = 32);
CREATE INDEX IF NOT EXISTS spend_day ON spend.facts (project_id, day);

-- One row per lead: what its deals brought, before attribution.
CREATE TABLE report.leads (
    project_id     text COLLATE "C" NOT NULL,
    request_id     text COLLATE "C" NOT NULL,
    day            date NOT NULL,
    occurred_at    timestamptz NOT NULL,
    visit_id       text,
    duplicate_of   text,
    customer_id    text,
    manager        text,
    product        text,
    qualified      boolean NOT NULL,
    non_target     boolean NOT NULL,
    deals          integer NOT NULL,
    sales          integer NOT NULL,
    revenue        numeric NOT NULL,
    cost_of_goods  numeric NOT NULL,
    paid           numeric NOT NULL,
    expected       numeric NOT NULL,
    first_channel  text NOT NULL,
    first_source   text NOT NULL,
    first_campaign text NOT NULL,
    last_channel   text NOT NULL,
    PRIMARY KEY (project_id, request_id)
);
CREATE INDEX report_leads_day ON report.leads (project_id, day);
CREATE INDEX report_leads_customer ON report.leads (project_id, customer_id);
COMMENT ON TABLE report.leads IS 'Per-lead facts (unattributed): duplicate flag, qualification, deals, sales and money of its deals in the reporting currency.';

-- One row per CRM deal that the identity resolver has linked (or found orphan): on its lead's
-- day, or its creation day when it links to no lead.
CREATE TABLE report.deals (
    project_id          text COLLATE "C" NOT NULL,
    connection_id       text COLLATE "C" NOT NULL,
    deal_id             text COLLATE "C" NOT NULL,
    day                 date NOT NULL,
    crm                 text NOT NULL,
    pipeline            text NOT NULL,
    stage               text NOT NULL,
    status              text NOT NULL,
    created_at          timestamptz NOT NULL,
    closed_at           timestamptz,
    amount              numeric NOT NULL,
    revenue             numeric NOT NULL,
    paid                numeric NOT NULL,
    expected            numeric NOT NULL,
    cost_of_goods       numeric NOT NULL,
    manager             text,
    product             text,
    lead_request_id     text,
    link_rule           text NOT NULL,
    visit_id            text,
    first_touch_channel text NOT NULL,
    last_touch_channel  text NOT NULL,
    lead_at             timestamptz,
    customer_id         text,
    PRIMARY KEY (project_id, connection_id, deal_id)
);
CREATE INDEX report_deals_day ON report.deals (project_id, day);
CREATE INDEX report_deals_customer ON report.deals (project_id, customer_id);
COMMENT ON TABLE report.deals IS 'Per-deal facts in the reporting currency with the deal''s lead, link rule and first/last touch channels.';

-- Payments per (lead day, payment month, channel): received and expected, one value per model.
CREATE TABLE report.payment_cells (
    project_id       text COLLATE "C" NOT NULL,
    day              date NOT NULL,
    payment_month    date,
    channel          text NOT NULL,
    revenue_paid     numeric[] NOT NULL,
    revenue_expected numeric[] NOT NULL,
    CHECK (cardinality(revenue_paid) = 7 AND cardinality(revenue_expected) = 7)
);
CREATE INDEX payment_cells_day ON report.payment_cells (project_id, day);
COMMENT ON TABLE report.payment_cells IS 'Received and expected payments of won deals by lead day, payment month and channel, credited per model (report.models() order).';

-- Media plans, imported by `analytics media-plan import` (CSV): one row per month and channel.
CREATE TABLE report.media_plans (
    project_id    text COLLATE "C" NOT NULL,
    month         date NOT NULL CHECK (extract(day FROM month) = 1),
    channel       text NOT NULL,
    planned_spend numeric NOT NULL CHECK (planned_spend >= 0),
    planned_leads numeric NOT NULL CHECK (planned_leads >= 0),
    imported_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, month, channel)
);
COMMENT ON TABLE report.media_plans IS 'Planned spend and leads per month and channel (analytics media-plan import).';

ALTER TABLE report.leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE report.deals ENABLE ROW LEVEL SECURITY;
ALTER TABLE report.payment_cells ENABLE ROW LEVEL SECURITY;
ALTER TABLE report.media_plans ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_project ON report.leads FOR SELECT USING (project_id IN (SELECT core.bi_projects()));
CREATE POLICY by_project ON report.deals FOR SELECT USING (project_id IN (SELECT core.bi_projects()));
CREATE POLICY by_project ON report.payment_cells FOR SELECT USING (project_id IN (SELECT core.bi_projects()));
CREATE POLICY by_project ON report.media_plans FOR SELECT USING (project_id IN (SELECT core.bi_projects()));

-- Existing BI logins read the new tables too (new logins get them from create_bi_login).
DO $$
DECLARE login text;
BEGIN
    FOR login IN SELECT role_name FROM core.bi_logins LOOP
        EXECUTE format('GRANT SELECT ON report.leads, report.deals, report.payment_cells, report.media_plans TO %I', login);
    END LOOP;
END
$$;

-- mart.deals -------------------------------------------------------------------------------
CREATE VIEW mart.deals WITH (security_invoker = true) AS
SELECT d.project_id, d.crm, d.connection_id, d.deal_id, d.pipeline, d.stage, d.status, d.created_at, d.closed_at,
       d.amount, d.revenue, d.paid, d.expected, d.cost_of_goods, d.manager, d.product, d.lead_request_id, d.link_rule,
       d.visit_id, d.first_touch_channel, d.last_touch_channel,
       CASE WHEN d.status = 'won' AND d.closed_at IS NOT NULL AND d.lead_at IS NOT NULL
            THEN round(extract(epoch FROM d.closed_at - d.lead_at) / 86400, 4) END AS cycle_days
FROM report.deals d;
COMMENT ON VIEW mart.deals IS 'One row per CRM deal: its status, money in the reporting currency, its lead, the rule that linked it and its first and last touch channels.';
COMMENT ON COLUMN mart.deals.project_id IS 'The project.';
COMMENT ON COLUMN mart.deals.crm IS 'amocrm or bitrix24.';
COMMENT ON COLUMN mart.deals.connection_id IS 'The CRM connection (source id in the configuration).';
COMMENT ON COLUMN mart.deals.deal_id IS 'The deal''s id in the CRM.';
COMMENT ON COLUMN mart.deals.pipeline IS 'The pipeline''s (Bitrix24: category''s) name.';
COMMENT ON COLUMN mart.deals.stage IS 'The current stage''s name.';
COMMENT ON COLUMN mart.deals.status IS 'open, won, lost, excluded or unknown (domain.md definition 9).';
COMMENT ON COLUMN mart.deals.created_at IS 'When the deal was created in the CRM.';
COMMENT ON COLUMN mart.deals.closed_at IS 'When the deal was won or lost; NULL while open.';
COMMENT ON COLUMN mart.deals.amount IS 'The deal''s amount (budget) in the reporting currency, VAT removed where the CRM connection says amounts include it.';
COMMENT ON COLUMN mart.deals.revenue IS 'Payments received net of refunds (won deals only; domain.md definition 10).';
COMMENT ON COLUMN mart.deals.paid IS 'Payments received net of refunds (also on deals not yet won).';
COMMENT ON COLUMN mart.deals.expected IS 'Still expected: unpaid instalments, else amount − paid, never below 0 (won deals).';
COMMENT ON COLUMN mart.deals.cost_of_goods IS 'Cost of goods of a won deal (its field, or the configured margin); 0 otherwise.';
COMMENT ON COLUMN mart.deals.manager IS 'The responsible manager''s name in the CRM.';
COMMENT ON COLUMN mart.deals.product IS 'The deal''s products, comma-separated.';
COMMENT ON COLUMN mart.deals.lead_request_id IS 'The lead the deal is linked to; NULL for a deal that links to no lead (a won one is orphan revenue).';
COMMENT ON COLUMN mart.deals.link_rule IS 'How it was linked: request_id, visit_id, contact_near, contact_earlier or none (domain.md definition 8).';
COMMENT ON COLUMN mart.deals.visit_id IS 'The lead''s visit.';
COMMENT ON COLUMN mart.deals.first_touch_channel IS 'Channel of the lead''s first touch (unknown without a lead or a visit).';
COMMENT ON COLUMN mart.deals.last_touch_channel IS 'Channel of the lead''s last touch.';
COMMENT ON COLUMN mart.deals.cycle_days IS 'Won deals: days from the lead to the close (fractional); the average deal cycle is its mean.';

-- mart.manager_report ------------------------------------------------------------------------
CREATE VIEW mart.manager_report WITH (security_invoker = true) AS
SELECT r.*,
       r.sales::numeric / NULLIF(r.leads, 0) AS lead_to_sale
FROM (
    SELECT u.project_id, u.day, u.manager,
           sum(u.leads)::bigint AS leads, sum(u.deals)::bigint AS deals, sum(u.sales)::bigint AS sales, sum(u.revenue) AS revenue,
           sum(u.duplicate_leads)::bigint AS duplicate_leads, sum(u.non_target_leads)::bigint AS non_target_leads
    FROM (
        SELECT l.project_id, l.day,
               coalesce(CASE WHEN l.duplicate_of IS NULL THEN l.manager ELSE root.manager END, '(none)') AS manager,
               (l.duplicate_of IS NULL)::int AS leads, l.deals, l.sales, l.revenue,
               (l.duplicate_of IS NOT NULL)::int AS duplicate_leads, (l.non_target AND l.duplicate_of IS NULL)::int AS non_target_leads
        FROM report.leads l
        LEFT JOIN report.leads root ON root.project_id = l.project_id AND root.request_id = l.duplicate_of
        UNION ALL
        SELECT d.project_id, d.day, coalesce(d.manager, '(none)'), 0, (d.status <> 'excluded')::int, (d.status = 'won')::int, d.revenue, 0, 0
        FROM report.deals d
        WHERE d.lead_request_id IS NULL
    ) u
    GROUP BY u.project_id, u.day, u.manager
) r;
COMMENT ON VIEW mart.manager_report IS 'Leads, deals, sales and revenue per day and manager: a lead''s day and its earliest deal''s manager (a duplicate: its chain''s first lead''s); deals of no lead on their creation day under their own manager. With duplicate and non-target leads.';
COMMENT ON COLUMN mart.manager_report.project_id IS 'The project.';
COMMENT ON COLUMN mart.manager_report.day IS 'The lead''s day in the project''s time zone.';
COMMENT ON COLUMN mart.manager_report.manager IS 'The manager''s name; (none) for leads without a deal.';
COMMENT ON COLUMN mart.manager_report.leads IS 'Non-duplicate leads.';
COMMENT ON COLUMN mart.manager_report.deals IS 'Deals that are not excluded: the leads'' and, on their creation day, those of no lead.';
COMMENT ON COLUMN mart.manager_report.sales IS 'Won deals (of the leads, and of no lead).';
COMMENT ON COLUMN mart.manager_report.revenue IS 'Payments received on the won deals, net of refunds.';
COMMENT ON COLUMN mart.manager_report.lead_to_sale IS 'sales / leads; NULL without leads.';
COMMENT ON COLUMN mart.manager_report.duplicate_leads IS 'Duplicate leads (domain.md definition 6).';
COMMENT ON COLUMN mart.manager_report.non_target_leads IS 'Leads whose deals were all lost with a non-target loss reason.';

-- mart.cohort_payments -----------------------------------------------------------------------
CREATE VIEW mart.cohort_payments WITH (security_invoker = true) AS
SELECT p.project_id, m.model, date_trunc('month', p.day)::date AS lead_month, p.payment_month, p.channel,
       sum(p.revenue_paid[m.i]) AS revenue_paid, sum(p.revenue_expected[m.i]) AS revenue_expected
FROM report.payment_cells p
CROSS JOIN unnest(report.models()) WITH ORDINALITY AS m(model, i)
GROUP BY p.project_id, m.model, date_trunc('month', p.day)::date, p.payment_month, p.channel;
COMMENT ON VIEW mart.cohort_payments IS 'Payments of won deals by the month of their lead × the month of the payment × channel, credited per model: the cohort view of instalments.';
COMMENT ON COLUMN mart.cohort_payments.project_id IS 'The project.';
COMMENT ON COLUMN mart.cohort_payments.model IS 'Attribution model.';
COMMENT ON COLUMN mart.cohort_payments.lead_month IS 'First day of the lead''s month (the deal''s creation month for orphan revenue).';
COMMENT ON COLUMN mart.cohort_payments.payment_month IS 'First day of the payment''s month; for expected amounts the instalment''s due month, NULL when the CRM gives no date.';
COMMENT ON COLUMN mart.cohort_payments.channel IS 'The touch''s channel.';
COMMENT ON COLUMN mart.cohort_payments.revenue_paid IS 'Received net of refunds, credited by the model.';
COMMENT ON COLUMN mart.cohort_payments.revenue_expected IS 'Still expected, credited by the model.';

-- mart.media_plan ----------------------------------------------------------------------------
CREATE VIEW mart.media_plan WITH (security_invoker = true) AS
WITH actual AS (
    SELECT c.project_id, m.model, date_trunc('month', c.day)::date AS month, c.channel,
           sum(c.spend) AS spend, sum(c.leads[m.i]) AS leads
    FROM report.cells c
    CROSS JOIN unnest(report.models()) WITH ORDINALITY AS m(model, i)
    GROUP BY 1, 2, 3, 4
), planned AS (
    SELECT p.project_id, m.model, p.month, p.channel, p.planned_spend, p.planned_leads
    FROM report.media_plans p CROSS JOIN unnest(report.models()) AS m(model)
)
SELECT coalesce(p.project_id, a.project_id) AS project_id, coalesce(p.model, a.model) AS model,
       coalesce(p.month, a.month) AS month, coalesce(p.channel, a.channel) AS channel,
       p.planned_spend, p.planned_leads, p.planned_spend / NULLIF(p.planned_leads, 0) AS planned_cpl,
       coalesce(a.spend, 0) AS spend, coalesce(a.leads, 0) AS leads, a.spend / NULLIF(a.leads, 0) AS cpl,
       100 * coalesce(a.leads, 0) / NULLIF(p.planned_leads, 0) AS plan_done_pct
FROM planned p
FULL JOIN actual a ON a.project_id = p.project_id AND a.model = p.model AND a.month = p.month AND a.channel = p.channel;
COMMENT ON VIEW mart.media_plan IS 'Planned vs actual spend, leads and CPL per model × month × channel (plans from analytics media-plan import).';
COMMENT ON COLUMN mart.media_plan.project_id IS 'The project.';
COMMENT ON COLUMN mart.media_plan.model IS 'Attribution model (the actual leads are credited by it).';
COMMENT ON COLUMN mart.media_plan.month IS 'First day of the month.';
COMMENT ON COLUMN mart.media_plan.channel IS 'The channel.';
COMMENT ON COLUMN mart.media_plan.planned_spend IS 'Planned spend; NULL without a plan for the month and channel.';
COMMENT ON COLUMN mart.media_plan.planned_leads IS 'Planned leads; NULL without a plan.';
COMMENT ON COLUMN mart.media_plan.planned_cpl IS 'planned_spend / planned_leads; NULL without planned leads.';
COMMENT ON COLUMN mart.media_plan.spend IS 'Actual spend (the same in every model).';
COMMENT ON COLUMN mart.media_plan.leads IS 'Actual non-duplicate leads credited by the model.';
COMMENT ON COLUMN mart.media_plan.cpl IS 'spend / leads; NULL without leads.';
COMMENT ON COLUMN mart.media_plan.plan_done_pct IS 'Actual leads as a percentage of planned leads; NULL without planned leads.';

-- mart.customers -----------------------------------------------------------------------------
CREATE VIEW mart.customers WITH (security_invoker = true) AS
WITH acquisition AS (
    SELECT DISTINCT ON (l.project_id, l.customer_id) l.project_id, l.customer_id, l.request_id, l.occurred_at, l.day,
           l.first_channel, l.first_source, l.first_campaign
    FROM report.leads l
    WHERE l.customer_id IS NOT NULL AND l.duplicate_of IS NULL
    ORDER BY l.project_id, l.customer_id, l.occurred_at, l.request_id
), purchases AS (
    SELECT d.project_id, d.customer_id, min(d.created_at) AS first_deal_at, min(d.day) AS first_deal_day,
           count(*) FILTER (WHERE d.status = 'won') AS purchases,
           min(d.closed_at) FILTER (WHERE d.status = 'won') AS first_purchase_at,
           max(d.closed_at) FILTER (WHERE d.status = 'won') AS last_purchase_at,
           coalesce(sum(d.revenue), 0) AS revenue
    FROM report.deals d
    WHERE d.customer_id IS NOT NULL
    GROUP BY d.project_id, d.customer_id
)
SELECT coalesce(a.project_id, p.project_id) AS project_id, coalesce(a.customer_id, p.customer_id) AS customer_id,
       coalesce(a.occurred_at, p.first_deal_at) AS first_lead_at,
       coalesce(a.day, p.first_deal_day) AS first_lead_day,
       a.request_id AS acquisition_request_id,
       coalesce(a.first_channel, 'unknown') AS acquisition_channel,
       coalesce(a.first_source, '(unknown)') AS acquisition_source,
       coalesce(a.first_campaign, '') AS acquisition_campaign,
       p.first_purchase_at, coalesce(p.purchases, 0) AS purchases, coalesce(p.revenue, 0) AS revenue,
       round(extract(epoch FROM p.last_purchase_at - p.first_purchase_at) / 86400, 4) AS lifetime_days
FROM acquisition a
FULL JOIN purchases p ON p.project_id = a.project_id AND p.customer_id = a.customer_id;
COMMENT ON VIEW mart.customers IS 'One row per customer (a connected component of phones, e-mails, client ids and CRM contacts): acquisition, purchases, revenue and lifetime.';
COMMENT ON COLUMN mart.customers.project_id IS 'The project.';
COMMENT ON COLUMN mart.customers.customer_id IS 'The customer: its acquisition lead''s request id, or deal:<connection>/<deal> for a customer known only from the CRM.';
COMMENT ON COLUMN mart.customers.first_lead_at IS 'The acquisition: the customer''s first non-duplicate lead (else its first deal''s creation).';
COMMENT ON COLUMN mart.customers.first_lead_day IS 'The acquisition''s day in the project''s time zone.';
COMMENT ON COLUMN mart.customers.acquisition_request_id IS 'The acquisition lead; NULL for a customer known only from the CRM.';
COMMENT ON COLUMN mart.customers.acquisition_channel IS 'Channel of the acquisition lead''s first touch (unknown without one).';
COMMENT ON COLUMN mart.customers.acquisition_source IS 'Source of the acquisition lead''s first touch.';
COMMENT ON COLUMN mart.customers.acquisition_campaign IS 'Campaign of the acquisition lead''s first touch.';
COMMENT ON COLUMN mart.customers.first_purchase_at IS 'Close of the first won deal; NULL for a customer who has not bought.';
COMMENT ON COLUMN mart.customers.purchases IS 'Won deals of the customer (repeat purchases included).';
COMMENT ON COLUMN mart.customers.revenue IS 'Payments received on them, net of refunds.';
COMMENT ON COLUMN mart.customers.lifetime_days IS 'Days from the first to the last purchase (0 with one purchase); NULL without purchases.';

-- mart.ltv_report ----------------------------------------------------------------------------
CREATE VIEW mart.ltv_report WITH (security_invoker = true) AS
WITH credited AS (
    -- Each customer credited to its acquisition lead's touches; a customer without a lead counts
    -- in full on unknown.
    SELECT cu.project_id, m.model, date_trunc('month', cu.first_lead_day)::date AS month, coalesce(cr.channel, 'unknown') AS channel,
           coalesce((ARRAY[cr.w_first_click, cr.w_last_click, cr.w_last_non_direct, cr.w_last_paid, cr.w_linear,
                           cr.w_position_based, cr.w_time_decay])[m.i] * 0.000000000000001, 1) AS w,
           cu.purchases, cu.revenue
    FROM mart.customers cu
    CROSS JOIN unnest(report.models()) WITH ORDINALITY AS m(model, i)
    LEFT JOIN report.credits cr ON cr.project_id = cu.project_id AND cr.request_id = cu.acquisition_request_id
), grouped AS (
    SELECT c.project_id, c.model, c.month, c.channel,
           sum(c.w) AS customers,
           sum(c.w) FILTER (WHERE c.purchases > 0) AS paying_customers,
           sum(c.w) FILTER (WHERE c.purchases > 1) AS repeat_customers,
           sum(c.w * c.revenue) AS revenue
    FROM credited c
    GROUP BY 1, 2, 3, 4
), spend AS (
    SELECT s.project_id, m.model, s.month, s.channel, s.spend
    FROM (SELECT project_id, date_trunc('month', day)::date AS month, channel, sum(spend) AS spend
          FROM report.cells GROUP BY 1, 2, 3) s
    CROSS JOIN unnest(report.models()) AS m(model)
    WHERE s.spend <> 0
)
SELECT coalesce(g.project_id, s.project_id) AS project_id, coalesce(g.model, s.model) AS model,
       coalesce(g.month, s.month) AS month, coalesce(g.channel, s.channel) AS channel,
       coalesce(g.customers, 0) AS customers, coalesce(g.paying_customers, 0) AS paying_customers,
       coalesce(s.spend, 0) AS spend,
       s.spend / NULLIF(g.paying_customers, 0) AS cac,
       coalesce(g.revenue, 0) AS revenue,
       g.revenue / NULLIF(g.customers, 0) AS ltv,
       coalesce(g.repeat_customers, 0) / NULLIF(g.paying_customers, 0) AS repeat_rate,
       coalesce(g.revenue, 0) / NULLIF(s.spend, 0) AS mer
FROM grouped g
FULL JOIN spend s ON s.project_id = g.project_id AND s.model = g.model AND s.month = g.month AND s.channel = g.channel;
COMMENT ON VIEW mart.ltv_report IS 'Customers by acquisition month × channel, credited per model to the acquisition lead''s touches: CAC, LTV to date, repeat rate and MER.';
COMMENT ON COLUMN mart.ltv_report.project_id IS 'The project.';
COMMENT ON COLUMN mart.ltv_report.model IS 'Attribution model crediting each customer to its acquisition lead''s touches.';
COMMENT ON COLUMN mart.ltv_report.month IS 'First day of the acquisition month (project time zone).';
COMMENT ON COLUMN mart.ltv_report.channel IS 'The acquisition touch''s channel.';
COMMENT ON COLUMN mart.ltv_report.customers IS 'Customers acquired (credited, fractional).';
COMMENT ON COLUMN mart.ltv_report.paying_customers IS 'Of them, customers with at least one won deal.';
COMMENT ON COLUMN mart.ltv_report.spend IS 'Spend of the channel in the month (model-free).';
COMMENT ON COLUMN mart.ltv_report.cac IS 'spend / paying_customers; NULL without paying customers.';
COMMENT ON COLUMN mart.ltv_report.revenue IS 'Revenue to date of these customers, credited.';
COMMENT ON COLUMN mart.ltv_report.ltv IS 'revenue / customers: lifetime value to date per customer; NULL without customers.';
COMMENT ON COLUMN mart.ltv_report.repeat_rate IS 'Customers with two or more purchases / paying customers; NULL without paying customers.';
COMMENT ON COLUMN mart.ltv_report.mer IS 'revenue / spend; NULL without spend.';

DO $$
DECLARE login text;
BEGIN
    FOR login IN SELECT role_name FROM core.bi_logins LOOP
        EXECUTE format('GRANT SELECT ON mart.deals, mart.manager_report, mart.cohort_payments, mart.media_plan, mart.customers, mart.ltv_report TO %I', login);
    END LOOP;
END
$$;

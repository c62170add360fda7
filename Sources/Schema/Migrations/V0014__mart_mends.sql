-- Mends to two mart views (review of 2026-11-24). Columns keep their names, types and order, so
-- BI queries and grants stand; mart.manager_report gains one column at the end.

-- mart.manager_report: deals, sales and revenue go to the manager of each deal (a repeat
-- purchase closed by another manager is that manager's sale), leads to the lead's manager (its
-- earliest deal that is not excluded; a duplicate: its chain's first lead's). lead_to_sale is the
-- share of the manager's leads that bought: sales of deals of no lead no longer count in it.
CREATE OR REPLACE VIEW mart.manager_report WITH (security_invoker = true) AS
SELECT r.project_id, r.day, r.manager, r.leads, r.deals, r.sales, r.revenue, r.duplicate_leads, r.non_target_leads,
       r.lead_sales::numeric / NULLIF(r.leads, 0) AS lead_to_sale,
       r.lead_sales
FROM (
    SELECT u.project_id, u.day, u.manager,
           sum(u.leads)::bigint AS leads, sum(u.deals)::bigint AS deals, sum(u.sales)::bigint AS sales, sum(u.revenue) AS revenue,
           sum(u.duplicate_leads)::bigint AS duplicate_leads, sum(u.non_target_leads)::bigint AS non_target_leads,
           sum(u.lead_sales)::bigint AS lead_sales
    FROM (
        SELECT l.project_id, l.day,
               coalesce(CASE WHEN l.duplicate_of IS NULL THEN l.manager ELSE root.manager END, '(none)') AS manager,
               (l.duplicate_of IS NULL)::int AS leads, 0 AS deals, 0 AS sales, 0::numeric AS revenue,
               (l.duplicate_of IS NOT NULL)::int AS duplicate_leads, (l.non_target AND l.duplicate_of IS NULL)::int AS non_target_leads,
               CASE WHEN l.duplicate_of IS NULL THEN l.sales ELSE 0 END AS lead_sales
        FROM report.leads l
        LEFT JOIN report.leads root ON root.project_id = l.project_id AND root.request_id = l.duplicate_of
        UNION ALL
        SELECT d.project_id, d.day, coalesce(d.manager, '(none)'), 0, (d.status <> 'excluded')::int, (d.status = 'won')::int,
               CASE WHEN d.status = 'won' THEN d.revenue ELSE 0 END, 0, 0, 0
        FROM report.deals d
    ) u
    GROUP BY u.project_id, u.day, u.manager
) r;
COMMENT ON VIEW mart.manager_report IS 'Leads, deals, sales and revenue per day and manager. Leads on their day under the lead''s manager (its earliest deal that is not excluded; a duplicate: its chain''s first lead''s; (none) without a deal). Deals, sales and revenue under each deal''s own manager, on its lead''s day (a deal of no lead: its creation day). With duplicate and non-target leads.';
COMMENT ON COLUMN mart.manager_report.deals IS 'Deals that are not excluded, under their own manager: of leads on the lead''s day, of no lead on their creation day.';
COMMENT ON COLUMN mart.manager_report.sales IS 'Won deals under their own manager (of leads, and of no lead).';
COMMENT ON COLUMN mart.manager_report.revenue IS 'Payments received on those won deals, net of refunds.';
COMMENT ON COLUMN mart.manager_report.lead_to_sale IS 'lead_sales / leads: the share of the manager''s leads that bought; NULL without leads.';
COMMENT ON COLUMN mart.manager_report.lead_sales IS 'Won deals of the manager''s leads, whoever closed them (deals of no lead are not counted).';

-- mart.ltv_report: CAC is spend / paying customers also when the channel had no spend in the
-- month (0, not NULL); NULL only without paying customers.
CREATE OR REPLACE VIEW mart.ltv_report WITH (security_invoker = true) AS
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
       coalesce(s.spend, 0) / NULLIF(g.paying_customers, 0) AS cac,
       coalesce(g.revenue, 0) AS revenue,
       g.revenue / NULLIF(g.customers, 0) AS ltv,
       coalesce(g.repeat_customers, 0) / NULLIF(g.paying_customers, 0) AS repeat_rate,
       coalesce(g.revenue, 0) / NULLIF(s.spend, 0) AS mer
FROM grouped g
FULL JOIN spend s ON s.project_id = g.project_id AND s.model = g.model AND s.month = g.month AND s.channel = g.channel;
COMMENT ON COLUMN mart.ltv_report.cac IS 'spend / paying_customers (0 for a month the channel spent nothing); NULL without paying customers.';

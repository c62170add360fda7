-- Mends after the review of the aggregator (docs/aggregator.md).

-- The manager report: a duplicate lead counts under its chain's first lead's manager, read from
-- that lead's row whatever its day (a duplicate chain may span days that are recomputed apart);
-- deals of no lead count under their own manager on their creation day.
CREATE OR REPLACE VIEW mart.manager_report WITH (security_invoker = true) AS
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
COMMENT ON COLUMN mart.manager_report.deals IS 'Deals that are not excluded: the leads'' and, on their creation day, those of no lead.';
COMMENT ON COLUMN mart.manager_report.sales IS 'Won deals (of the leads, and of no lead).';
COMMENT ON COLUMN mart.manager_report.revenue IS 'Payments received on the won deals, net of refunds.';

-- MER is revenue / spend: 0, not NULL, for a channel with spend and no customers.
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
       s.spend / NULLIF(g.paying_customers, 0) AS cac,
       coalesce(g.revenue, 0) AS revenue,
       g.revenue / NULLIF(g.customers, 0) AS ltv,
       coalesce(g.repeat_customers, 0) / NULLIF(g.paying_customers, 0) AS repeat_rate,
       coalesce(g.revenue, 0) / NULLIF(s.spend, 0) AS mer
FROM grouped g
FULL JOIN spend s ON s.project_id = g.project_id AND s.model = g.model AND s.month = g.month AND s.channel = g.channel;

-- A BI login's password never appears in an error (see below).
CREATE OR REPLACE FUNCTION core.create_bi_login(login text, project text, password text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, core
AS $$
BEGIN
    IF login !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'login name "%" must be lower-case letters, digits and _ (at most 63, not starting with a digit)', login
            USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM core.projects WHERE project_id = project) THEN
        RAISE EXCEPTION 'project "%" is not in core.projects (run analytics config apply first)', project USING ERRCODE = '22023';
    END IF;
    IF length(password) < 12 THEN
        RAISE EXCEPTION 'the password must have at least 12 characters' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
        RAISE EXCEPTION 'a role named "%" exists already', login USING ERRCODE = '42710';
    END IF;
    EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION', login);
    -- The password goes in a statement of its own whose failure is re-raised without the
    -- statement: an error's context would otherwise carry the password to the client and the
    -- server log.
    BEGIN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', login, password);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'setting the password of "%" failed: %', login, SQLERRM USING ERRCODE = SQLSTATE;
    END;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), login);
    -- The views are security_invoker: their reader needs the report tables too, which
    -- row-level security filters to the login's project.
    EXECUTE format('GRANT USAGE ON SCHEMA mart, report, core TO %I', login);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA mart, report TO %I', login);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA mart, report GRANT SELECT ON TABLES TO %I', login);
    INSERT INTO core.bi_logins (role_name, project_id) VALUES (login, project);
END
$$;

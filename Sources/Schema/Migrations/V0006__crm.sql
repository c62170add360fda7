-- CRM deals as deal-sync keeps them: one model for amoCRM and Bitrix24 (docs/deal-sync.md).
-- Every key begins with project_id; `connection_id` is the configured CRM source's id.
CREATE SCHEMA IF NOT EXISTS crm;

-- Pipelines (amoCRM pipelines, Bitrix24 deal categories) and their stages.
CREATE TABLE crm.pipelines (
    project_id    text NOT NULL,
    connection_id text NOT NULL,
    pipeline_id   text NOT NULL,
    name          text NOT NULL,
    sort          integer NOT NULL DEFAULT 0,
    is_archive    boolean NOT NULL DEFAULT false,
    synced_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id, pipeline_id)
);

CREATE TABLE crm.stages (
    project_id    text NOT NULL,
    connection_id text NOT NULL,
    pipeline_id   text NOT NULL,
    stage_id      text NOT NULL,
    name          text NOT NULL,
    sort          integer NOT NULL DEFAULT 0,
    -- What the CRM itself says of the stage: unsorted (amoCRM type 1), won, lost, or regular.
    crm_kind      text NOT NULL CHECK (crm_kind IN ('unsorted', 'regular', 'won', 'lost')),
    synced_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id, pipeline_id, stage_id)
);
COMMENT ON COLUMN crm.stages.crm_kind IS 'The CRM''s own class of the stage; the project''s stage mapping turns it into a deal status.';

CREATE TABLE crm.users (
    project_id    text NOT NULL,
    connection_id text NOT NULL,
    user_id       text NOT NULL,
    name          text NOT NULL,
    email         text,
    synced_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id, user_id)
);

CREATE TABLE crm.contacts (
    project_id    text NOT NULL,
    connection_id text NOT NULL,
    contact_id    text NOT NULL,
    name          text,
    phones        text[] NOT NULL DEFAULT '{}',
    emails        text[] NOT NULL DEFAULT '{}',
    synced_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id, contact_id)
);
COMMENT ON COLUMN crm.contacts.phones IS 'Phones in E.164 (+7…), normalised per domain.md definition 7; unusable ones dropped.';
COMMENT ON COLUMN crm.contacts.emails IS 'E-mails trimmed and lower-cased.';

CREATE TABLE crm.deals (
    project_id        text NOT NULL,
    connection_id     text NOT NULL,
    deal_id           text NOT NULL,
    crm               text NOT NULL CHECK (crm IN ('amocrm', 'bitrix24')),
    name              text,
    pipeline_id       text NOT NULL,
    stage_id          text NOT NULL,
    status            text NOT NULL CHECK (status IN ('open', 'won', 'lost', 'excluded', 'unknown')),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    closed_at         timestamptz,
    amount            numeric(20, 4) NOT NULL DEFAULT 0,
    currency          text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amounts_include_vat boolean NOT NULL DEFAULT false,
    -- The configured cost-of-goods field's value, as entered; cost_of_goods is derived from it or
    -- from a margin %, and recomputed by `analytics deals remap`.
    cost_field        numeric(20, 4),
    cost_of_goods     numeric(20, 4),
    -- The configured "paid total" field's value (amoCRM; domain.md definition 10).
    paid_total        numeric(20, 4),
    manager_id        text,
    products          text[] NOT NULL DEFAULT '{}',
    contact_ids       text[] NOT NULL DEFAULT '{}',
    visit_id          text,
    request_id        text,
    utm_source        text,
    utm_medium        text,
    utm_campaign      text,
    utm_content       text,
    utm_term          text,
    tags              text[] NOT NULL DEFAULT '{}',
    loss_reason       text,
    is_deleted        boolean NOT NULL DEFAULT false,
    deleted_at        timestamptz,
    synced_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id, deal_id)
);
CREATE INDEX deals_updated ON crm.deals (project_id, connection_id, updated_at);
COMMENT ON TABLE crm.deals IS 'CRM deals (amoCRM leads, Bitrix24 deals), one row per deal, kept current by deal-sync.';
COMMENT ON COLUMN crm.deals.status IS 'open / won / lost / excluded / unknown through the project''s stage mapping (domain.md definition 9).';
COMMENT ON COLUMN crm.deals.amount IS 'The deal''s amount as entered in the CRM, in `currency`.';
COMMENT ON COLUMN crm.deals.amounts_include_vat IS 'Whether the connection says its amounts and payments include VAT.';
COMMENT ON COLUMN crm.deals.is_deleted IS 'Deleted in the CRM (found by reconciliation or a delete webhook); left out of analytics.';

-- The products of each deal (amoCRM catalog elements, Bitrix24 product rows), replaced with the
-- deal on every sync.
CREATE TABLE crm.deal_products (
    project_id    text NOT NULL,
    connection_id text NOT NULL,
    deal_id       text NOT NULL,
    line          integer NOT NULL,
    product_id    text NOT NULL,
    name          text NOT NULL,
    quantity      numeric(20, 4) NOT NULL,
    price         numeric(20, 4),
    PRIMARY KEY (project_id, connection_id, deal_id, line)
);
COMMENT ON TABLE crm.deal_products IS 'Product lines of deals: what was sold, how many, at what price (as entered in the CRM).';

-- Stage history: every stage change with its time (amoCRM lead_status_changed events,
-- Bitrix24 crm.stagehistory.list).
CREATE TABLE crm.stage_changes (
    project_id        text NOT NULL,
    connection_id     text NOT NULL,
    change_id         text NOT NULL,
    deal_id           text NOT NULL,
    changed_at        timestamptz NOT NULL,
    pipeline_id       text NOT NULL,
    stage_id          text NOT NULL,
    from_pipeline_id  text,
    from_stage_id     text,
    PRIMARY KEY (project_id, connection_id, change_id)
);
CREATE INDEX stage_changes_deal ON crm.stage_changes (project_id, connection_id, deal_id);

-- Payments as the CRM records them (domain.md definition 10): amoCRM paid-total change events,
-- Bitrix24 payment items (received or expected), CSV imports. The view crm.deal_payments adds the
-- derived ones.
CREATE TABLE crm.payments (
    project_id    text NOT NULL,
    connection_id text NOT NULL,
    payment_id    text NOT NULL,
    deal_id       text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('received', 'expected')),
    amount        numeric(20, 4) NOT NULL,
    currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    paid_at       timestamptz,
    origin        text NOT NULL CHECK (origin IN ('field_event', 'crm_payment', 'csv')),
    synced_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id, payment_id)
);
CREATE INDEX payments_deal ON crm.payments (project_id, connection_id, deal_id);
COMMENT ON COLUMN crm.payments.amount IS 'Money received (negative: a refund) or still expected, as entered.';

CREATE VIEW crm.deal_payments AS
SELECT p.project_id, p.connection_id, p.deal_id, p.payment_id, p.kind, p.amount, p.currency, p.paid_at, p.origin
FROM crm.payments p
UNION ALL
-- amoCRM: the paid-total field holds more (or less) than its change events add up to: the
-- difference is one more payment at the deal's close.
SELECT d.project_id, d.connection_id, d.deal_id, 'residual', 'received',
       d.paid_total - coalesce(e.total, 0), d.currency, coalesce(d.closed_at, d.updated_at), 'field_residual'
FROM crm.deals d
LEFT JOIN (SELECT project_id, connection_id, deal_id, sum(amount) AS total FROM crm.payments
           WHERE origin = 'field_event' GROUP BY 1, 2, 3) e
       ON e.project_id = d.project_id AND e.connection_id = d.connection_id AND e.deal_id = d.deal_id
WHERE d.paid_total IS NOT NULL AND d.paid_total <> coalesce(e.total, 0)
UNION ALL
-- A won deal with no payment information at all: one payment of its amount at its close.
SELECT d.project_id, d.connection_id, d.deal_id, 'deal-amount', 'received', d.amount, d.currency,
       coalesce(d.closed_at, d.updated_at), 'won_amount'
FROM crm.deals d
WHERE d.status = 'won' AND d.paid_total IS NULL
  AND NOT EXISTS (SELECT 1 FROM crm.payments p WHERE p.project_id = d.project_id
                  AND p.connection_id = d.connection_id AND p.deal_id = d.deal_id);
COMMENT ON VIEW crm.deal_payments IS 'Every payment of every deal per domain.md definition 10: recorded ones, the paid-total residual, and the implied payment of a won deal without payment information.';

-- Where each connection's sync stands: the modification-time watermark of the incremental poll,
-- the events watermark, and when the last reconciliation ran.
CREATE TABLE crm.sync_state (
    project_id        text NOT NULL,
    connection_id     text NOT NULL,
    deals_watermark   timestamptz,
    events_watermark  timestamptz,
    full_sync_done_at timestamptz,
    reconciled_at     timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id)
);

-- Deals a sync could not take (a malformed amount or date), named for the operator; cleared when
-- the deal syncs again.
CREATE TABLE crm.sync_errors (
    project_id    text NOT NULL,
    connection_id text NOT NULL,
    deal_id       text NOT NULL,
    field         text NOT NULL,
    message       text NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id, deal_id)
);

-- OAuth tokens of CRM connections (amoCRM rotates its refresh token on every refresh: the new one
-- is stored before the access token is used).
CREATE TABLE crm.tokens (
    project_id    text NOT NULL,
    connection_id text NOT NULL,
    access_token  text NOT NULL,
    refresh_token text,
    expires_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id)
);

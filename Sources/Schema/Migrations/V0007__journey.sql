-- The customer's path as the tracker saw it: visits and leads, stored by the identity resolver
-- exactly as accepted (first write wins: a repeated visit_id / request_id changes nothing).
CREATE SCHEMA IF NOT EXISTS journey;

CREATE TABLE journey.visits (
    project_id     text NOT NULL,
    visit_id       text NOT NULL,
    client_id      text,
    occurred_at    timestamptz NOT NULL,
    landing_url    text NOT NULL,
    referrer       text,
    referrer_host  text,
    referrer_kind  text NOT NULL CHECK (referrer_kind IN ('search', 'social', 'referral', 'internal', 'none')),
    utm_source     text,
    utm_medium     text,
    utm_campaign   text,
    utm_content    text,
    utm_term       text,
    click_id       text,
    click_id_kind  text,
    user_agent     text,
    traffic        text NOT NULL CHECK (traffic IN ('paid', 'tagged', 'organic', 'social', 'referral', 'direct')),
    received_at    timestamptz NOT NULL,
    stored_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, visit_id)
);
CREATE INDEX visits_client ON journey.visits (project_id, client_id, occurred_at) WHERE client_id IS NOT NULL;
COMMENT ON TABLE journey.visits IS 'Site visits as the tracker accepted them (contracts.md §1), UTM tags filled from the landing URL.';
COMMENT ON COLUMN journey.visits.traffic IS 'paid / tagged / organic / social / referral / direct (domain.md definitions 1 and 4).';

CREATE TABLE journey.leads (
    project_id   text NOT NULL,
    request_id   text NOT NULL,
    visit_id     text,
    client_id    text,
    occurred_at  timestamptz NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('form', 'call', 'email', 'chat')),
    phone        text,
    email        text,
    name         text,
    page         text,
    product      text,
    received_at  timestamptz NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, request_id)
);
CREATE INDEX leads_visit ON journey.leads (project_id, visit_id) WHERE visit_id IS NOT NULL;
CREATE INDEX leads_phone ON journey.leads (project_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX leads_email ON journey.leads (project_id, email) WHERE email IS NOT NULL;
COMMENT ON COLUMN journey.leads.phone IS 'E.164, normalised by the tracker (domain.md definition 7); NULL when the posted number had fewer than 10 digits.';

-- Deals deal-sync changed that the resolver has yet to (re)link: a deal.changed message is
-- recorded here in the message's transaction, so none is lost before linking runs.
CREATE TABLE journey.deals_to_link (
    project_id    text NOT NULL,
    connection_id text NOT NULL,
    deal_id       text NOT NULL,
    noted_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id, deal_id)
);

-- What the identity resolver links (domain.md definitions 3, 6, 8, 13 and 18), each link with the
-- rule that made it. Everything here is a function of the stored visits, leads, deals and
-- contacts and of the project's linking settings: the resolver recomputes the part a batch can
-- change, so arrival order and the number of replicas never change the result.

-- The lead's own results: its effective client id (posted, else its visit's), the first lead of
-- its duplicate chain (NULL: not a duplicate) and its customer (a connected component's id).
ALTER TABLE journey.leads
    ADD COLUMN client_key   text,
    ADD COLUMN duplicate_of text,
    ADD COLUMN customer_id  text;
CREATE INDEX leads_client_key ON journey.leads (project_id, client_key) WHERE client_key IS NOT NULL;
COMMENT ON COLUMN journey.leads.client_key IS 'The lead''s client id: the posted one, else its visit''s (domain.md definition 3).';
COMMENT ON COLUMN journey.leads.duplicate_of IS 'The first lead of this lead''s duplicate chain (definition 6); NULL when the lead is not a duplicate.';
COMMENT ON COLUMN journey.leads.customer_id IS 'The lead''s customer (definition 18): the request_id of the customer''s first non-duplicate lead.';

-- The identifiers every lead and deal carries, for finding what a new record can affect:
-- p:<phone> e:<e-mail> c:<client id> v:<visit id> r:<request id> k:<connection>/<contact id>.
-- Owner: l:<request id> or d:<connection>/<deal id>.
CREATE TABLE journey.keys (
    project_id text NOT NULL,
    key        text NOT NULL,
    owner      text NOT NULL,
    PRIMARY KEY (project_id, key, owner)
);
CREATE INDEX keys_owner ON journey.keys (project_id, owner);

-- A lead's touches (definition 3): its client id's visits in [lead − lookback, lead] plus its
-- own visit, in order. A lead with no row here has the one touch `(unknown)`.
CREATE TABLE journey.touches (
    project_id text NOT NULL,
    request_id text NOT NULL,
    position   integer NOT NULL CHECK (position >= 1),
    visit_id   text NOT NULL,
    started_at timestamptz NOT NULL,
    rule       text NOT NULL CHECK (rule IN ('own_visit', 'client_lookback')),
    PRIMARY KEY (project_id, request_id, position)
);
COMMENT ON TABLE journey.touches IS 'Each lead''s touches (domain.md definition 3), ordered; rule: own_visit (the lead''s posted visit) or client_lookback (a visit of its client id within the lookback window).';

-- Every deal's lead (definition 8) and customer; rule `none` with a NULL lead is a deal that
-- links to nothing (a won one is orphan revenue, definition 13).
CREATE TABLE journey.deal_links (
    project_id    text NOT NULL,
    connection_id text NOT NULL,
    deal_id       text NOT NULL,
    request_id    text,
    rule          text NOT NULL CHECK (rule IN ('request_id', 'visit_id', 'contact_near', 'contact_earlier', 'none')),
    customer_id   text NOT NULL,
    linked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connection_id, deal_id),
    CHECK ((rule = 'none') = (request_id IS NULL))
);
CREATE INDEX deal_links_lead ON journey.deal_links (project_id, request_id) WHERE request_id IS NOT NULL;
COMMENT ON TABLE journey.deal_links IS 'Each deal''s lead and the rule that found it (domain.md definition 8: request_id, visit_id, contact_near, contact_earlier; none = no lead, orphan revenue when won).';

-- Identifiers cut out of customer components because a component grew past the project's cap:
-- shared values (an office phone, a test e-mail) an operator should add to the blocked list.
CREATE TABLE journey.overloaded_keys (
    project_id text NOT NULL,
    key        text NOT NULL,
    owners     integer NOT NULL,
    noted_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, key)
);

-- Deals are linked in the transaction of their deal.changed message now.
DROP TABLE journey.deals_to_link;

-- The deals of a contact: when a contact's phones or e-mails change, every deal naming it is
-- linked again (definition 8c), looked up by `contact_ids && $ids` once a page.
CREATE INDEX deals_by_contact ON crm.deals USING gin (contact_ids);

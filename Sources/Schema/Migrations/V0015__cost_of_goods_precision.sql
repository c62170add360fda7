-- A deal's cost of goods derived from a margin (amount × (100 − margin) / 100) keeps full
-- precision (domain.md definition 15: derived amounts keep ≥ 6 decimals and are rounded only per
-- report cell). numeric(20, 4) cut 999.99 at a 33.3 % margin, 666.99333, to 666.9933.
ALTER TABLE crm.deals ALTER COLUMN cost_of_goods TYPE numeric(30, 10);
COMMENT ON COLUMN crm.deals.cost_of_goods IS 'Cost of goods: the configured field''s value as entered, else the amount less the product''s or pipeline''s margin, to 10 decimals.';

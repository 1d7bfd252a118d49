-- Tenancy of a portal: the agency that owns it, how it is authorized (public OAuth app or a
-- private app's static token with its tier), and why its status last changed.
ALTER TABLE portals
    ADD COLUMN agency_id BIGINT REFERENCES agencies (agency_id) ON DELETE SET NULL,
    ADD COLUMN app_kind TEXT NOT NULL DEFAULT 'public' CHECK (app_kind IN ('public', 'private')),
    ADD COLUMN private_tier INTEGER CHECK (private_tier IN (100, 150, 190)),
    ADD COLUMN hub_domain TEXT,
    ADD COLUMN status_reason TEXT,
    ADD COLUMN status_changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD CONSTRAINT portals_private_has_tier CHECK ((app_kind = 'private') = (private_tier IS NOT NULL));
CREATE INDEX portals_agency ON portals (agency_id, portal_id);

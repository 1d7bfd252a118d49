-- Agencies (organizations): each owns portals; people belong to agencies with a role.
CREATE TABLE agencies (
    agency_id   BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

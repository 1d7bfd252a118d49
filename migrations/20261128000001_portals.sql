-- Tenants: one row per HubSpot account that installed Ember.
CREATE TABLE portals (
    portal_id   BIGINT PRIMARY KEY CHECK (portal_id > 0),
    status      TEXT NOT NULL CHECK (status IN ('active', 'needs_reauth', 'uninstalled')),
    -- SHA-256 of the portal's own secret for workflow webhooks that use the "API key" option;
    -- only the hash is kept, so a database dump does not reveal it.
    webhook_secret_sha256 BYTEA CHECK (octet_length(webhook_secret_sha256) = 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A portal's HubSpot tokens, encrypted at rest (AES-256-GCM, core::tenancy::crypto). Each
-- sealed value starts with the id of the key that sealed it, so keys can rotate; key_id repeats
-- it for queries. The row is locked (SELECT ... FOR UPDATE) while a refresh is in flight, so
-- that all processes together refresh once (core::tenancy::tokens).
CREATE TABLE portal_tokens (
    portal_id      BIGINT PRIMARY KEY REFERENCES portals (portal_id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('oauth', 'private')),
    access_token   BYTEA NOT NULL,
    refresh_token  BYTEA,
    -- When the access token expires (OAuth only; private-app tokens do not expire).
    expires_at     TIMESTAMPTZ,
    scopes         TEXT[] NOT NULL DEFAULT '{}',
    -- The HubSpot user who authorized these tokens.
    hub_user_id    BIGINT,
    key_id         TEXT NOT NULL,
    refreshed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    refresh_count  BIGINT NOT NULL DEFAULT 0,
    CHECK (kind = 'private' OR (refresh_token IS NOT NULL AND expires_at IS NOT NULL))
);

-- Invitations into an agency (install links). The link carries a random token; only its SHA-256
-- is kept, so reading this table yields no usable link. A use is counted at the OAuth callback,
-- in the transaction that adds the membership, by a conditional UPDATE (uses < max_uses), so a
-- single-use link cannot be used twice even by two installs at once.
CREATE TABLE invites (
    invite_id     BIGSERIAL PRIMARY KEY,
    agency_id     BIGINT NOT NULL REFERENCES agencies (agency_id) ON DELETE CASCADE,
    token_sha256  BYTEA NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    role          TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    -- Only the HubSpot user with this e-mail may use the link (stored lowercased).
    email         TEXT CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    created_by    BIGINT REFERENCES people (person_id) ON DELETE SET NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL CHECK (expires_at > created_at),
    max_uses      INTEGER NOT NULL DEFAULT 1 CHECK (max_uses >= 1),
    uses          INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    revoked_at    TIMESTAMPTZ,
    -- NULL with revoked_at set: revoked because its creator stopped being an owner.
    revoked_by    BIGINT REFERENCES people (person_id) ON DELETE SET NULL,
    CONSTRAINT invites_revoked_by_needs_revoked_at CHECK (revoked_by IS NULL OR revoked_at IS NOT NULL)
);
CREATE INDEX invites_agency ON invites (agency_id, created_at DESC);

-- What Ember holds about one contact: its scoring properties (snapshot), its engagement ledger
-- and its last score. Writers serialize on pg_advisory_xact_lock(contact_lock_key(portal, contact)),
-- taken in ascending key order (see core::store::contacts).
CREATE TABLE contacts (
    portal_id      BIGINT NOT NULL,
    contact_id     BIGINT NOT NULL CHECK (contact_id > 0),
    -- 'active' contacts are scored; 'deleted' ones (contact.deletion) keep their data, their
    -- score is retired (no sweep, no outbox) until a contact.restore revives it.
    status         TEXT   NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deleted')),
    -- occurredAt of the deletion/restore that set the status: the later one wins.
    status_at      TIMESTAMPTZ,
    -- {"property": {"v": "value", "t": occurred_at_epoch_ms}}: last writer (by occurredAt) wins.
    properties     JSONB  NOT NULL DEFAULT '{}',
    -- [["rule_id", occurred_at_epoch_ms], ...] sorted: one entry per engagement rule match.
    ledger         JSONB  NOT NULL DEFAULT '[]',
    -- The HubSpot property values of the last score, and its rounded total.
    score_values   JSONB,
    score_total    INTEGER,
    -- Increases every time score_values change; the outbox row carries it, so the write-back can
    -- refuse to overwrite a newer score with an older one.
    score_version  BIGINT NOT NULL DEFAULT 0,
    model_version  INTEGER,
    scored_at      TIMESTAMPTZ,
    -- When decay alone next changes the rounded score (NULL: never, or retired).
    next_change_at TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, contact_id)
);

-- The decay sweep reads only due contacts.
CREATE INDEX contacts_next_change_at ON contacts (next_change_at) WHERE next_change_at IS NOT NULL;

-- Score values waiting to be written to HubSpot: one row per contact, newest values win. The
-- write-back component drains it (sends, then deletes the row if its version is unchanged).
CREATE TABLE score_outbox (
    portal_id  BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    -- {"hubspot_property": "value", ...} as the model's output mapping names them.
    properties JSONB  NOT NULL,
    -- contacts.score_version of these values: strictly increasing per contact.
    version    BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, contact_id)
);

CREATE INDEX score_outbox_updated ON score_outbox (portal_id, updated_at);

-- The write-back's own tables (worker/src/writeback). IF NOT EXISTS: databases where an earlier
-- worker created them at startup (the former `writeback::store::ensure_schema`) migrate cleanly.

-- The values HubSpot last acknowledged for a contact, so that only changed values are sent.
-- Shared by every worker process (a per-process memory would skip writes another process made).
CREATE TABLE IF NOT EXISTS writeback_written (
    portal_id  BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    properties JSONB  NOT NULL,
    version    BIGINT NOT NULL,
    written_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, contact_id)
);

-- Writes HubSpot refused for a reason retrying cannot fix (a bad value: a bug on our side).
CREATE TABLE IF NOT EXISTS writeback_dead_letters (
    id         BIGSERIAL PRIMARY KEY,
    portal_id  BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    properties JSONB  NOT NULL,
    category   TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS writeback_dead_letters_portal ON writeback_dead_letters (portal_id, created_at);

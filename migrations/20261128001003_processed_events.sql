-- Dedupe keys of processed events (EventKey: SHA-256 of the composite key), unique per portal.
-- A key commits in the same transaction as the event's effect, so a redelivery is a no-op.
-- Privacy deletions also leave an erasure marker here (a hash in its own domain, no contact id),
-- so late events cannot recreate an erased contact. Kept at least 7 days (HubSpot retries app
-- webhooks for 24 h and workflow webhooks for 3 days), then purged in small batches.
CREATE TABLE processed_events (
    portal_id    BIGINT NOT NULL,
    event_key    BYTEA  NOT NULL CHECK (octet_length(event_key) = 32),
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, event_key)
);

-- Rows arrive in processed_at order, so a BRIN index finds the purgeable ones at almost no cost
-- on the insert path.
CREATE INDEX processed_events_processed_at ON processed_events USING brin (processed_at);

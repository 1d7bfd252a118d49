-- Contacts whose snapshot lacks properties the portal's model reads: the context fetcher drains
-- this table with batch reads (up to 100 ids a call), coalesced per portal. One row per contact.
CREATE TABLE context_requests (
    portal_id    BIGINT NOT NULL,
    contact_id   BIGINT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, contact_id)
);

CREATE INDEX context_requests_requested_at ON context_requests (portal_id, requested_at);

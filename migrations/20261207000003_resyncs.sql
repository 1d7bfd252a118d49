-- On-demand resyncs of a portal (docs/resync.md): one row per run, paging through every contact
-- of the portal with HubSpot's list endpoint. `cursor` is the `after` of the next page to fetch
-- (NULL: the first page); it commits in the same transaction as the page's effects, so a
-- restarted resync goes on from the last committed page and counts nothing twice.
CREATE TABLE portal_resyncs (
    resync_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portal_id BIGINT NOT NULL REFERENCES portals (portal_id) ON DELETE CASCADE,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    cursor TEXT,
    pages BIGINT NOT NULL DEFAULT 0 CHECK (pages >= 0),
    contacts_read BIGINT NOT NULL DEFAULT 0 CHECK (contacts_read >= 0),
    contacts_scored BIGINT NOT NULL DEFAULT 0 CHECK (contacts_scored >= 0),
    outbox_writes BIGINT NOT NULL DEFAULT 0 CHECK (outbox_writes >= 0),
    finished_at TIMESTAMPTZ,
    error TEXT
);
-- One unfinished resync per portal at a time.
CREATE UNIQUE INDEX portal_resyncs_one_unfinished ON portal_resyncs (portal_id)
    WHERE finished_at IS NULL;
CREATE INDEX portal_resyncs_latest ON portal_resyncs (portal_id, resync_id DESC);

-- Contact ids that a merge retired, and the record they now resolve to (HubSpot keeps old ids
-- resolving to the merged record). Kept flat: when a survivor is merged again, every alias that
-- pointed to it is repointed, so one lookup always gives the current id.
CREATE TABLE contact_aliases (
    portal_id  BIGINT NOT NULL,
    old_id     BIGINT NOT NULL,
    current_id BIGINT NOT NULL,
    merged_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, old_id)
);

CREATE INDEX contact_aliases_current ON contact_aliases (portal_id, current_id);

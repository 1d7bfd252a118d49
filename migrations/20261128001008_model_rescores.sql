-- Background rescoring of a whole portal after a model version is activated. Workers claim a job
-- with a lease, walk the portal's contacts in id order from `cursor`, and record progress.
CREATE TABLE model_rescores (
    portal_id     BIGINT  NOT NULL,
    version       INTEGER NOT NULL,
    cursor_id     BIGINT  NOT NULL DEFAULT 0,
    done          BIGINT  NOT NULL DEFAULT 0,
    total         BIGINT,
    claimed_by    TEXT,
    claimed_until TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at   TIMESTAMPTZ,
    PRIMARY KEY (portal_id, version)
);

CREATE INDEX model_rescores_pending ON model_rescores (created_at) WHERE finished_at IS NULL;

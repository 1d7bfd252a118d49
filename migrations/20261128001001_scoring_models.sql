-- Per-portal scoring models, versioned and immutable: a change is a new version. Which version
-- scores is recorded in scoring_model_active; a portal without an active row uses the built-in
-- starter model (Model::default_model(), version 0).
CREATE TABLE scoring_models (
    portal_id   BIGINT  NOT NULL REFERENCES portals (portal_id) ON DELETE CASCADE,
    version     INTEGER NOT NULL CHECK (version > 0),
    -- The model document (core::scoring::Model) as JSON; validated before it is stored.
    document    JSONB   NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (portal_id, version)
);

-- The one active model version of each portal (a pointer into scoring_models). Activating a
-- version also queues a background rescore of the portal (model_rescores).
CREATE TABLE scoring_model_active (
    portal_id    BIGINT  PRIMARY KEY,
    version      INTEGER NOT NULL,
    activated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (portal_id, version) REFERENCES scoring_models (portal_id, version)
);

-- Who belongs to which agency, and with what role.
CREATE TABLE agency_members (
    agency_id   BIGINT NOT NULL REFERENCES agencies (agency_id) ON DELETE CASCADE,
    person_id   BIGINT NOT NULL REFERENCES people (person_id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (agency_id, person_id)
);
CREATE INDEX agency_members_person ON agency_members (person_id);

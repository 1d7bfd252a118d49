-- Every change to a membership: joined, promoted, demoted, removed. An invite created before a
-- person was demoted or removed cannot be used by that person (it would undo the change).
CREATE TABLE agency_member_changes (
    change_id   BIGSERIAL PRIMARY KEY,
    agency_id   BIGINT NOT NULL REFERENCES agencies (agency_id) ON DELETE CASCADE,
    person_id   BIGINT NOT NULL REFERENCES people (person_id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('joined', 'promoted', 'demoted', 'removed')),
    -- NULL when the person joined / was removed.
    old_role    TEXT CHECK (old_role IN ('owner', 'editor', 'viewer')),
    new_role    TEXT CHECK (new_role IN ('owner', 'editor', 'viewer')),
    -- Wall-clock, not transaction start: compared with invites.created_at.
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX agency_member_changes_person ON agency_member_changes (agency_id, person_id, changed_at);

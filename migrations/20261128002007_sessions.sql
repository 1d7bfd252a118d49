-- Console sessions. The cookie holds a signed token naming the session; the row lets a session
-- end (sign out, person removed) before its token expires.
CREATE TABLE sessions (
    session_id  UUID PRIMARY KEY,
    person_id   BIGINT NOT NULL REFERENCES people (person_id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_person ON sessions (person_id);

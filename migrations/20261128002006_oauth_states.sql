-- OAuth `state` values already used: the state is a signed JWT, and its id is recorded here
-- when the callback consumes it, so each one works once. Rows past expiry can be deleted.
CREATE TABLE oauth_states_used (
    state_id    UUID PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

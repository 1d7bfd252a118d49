-- People who sign in with HubSpot. Identity is HubSpot's user id from the access-token info
-- (docs/hubspot.md D.3); the email is kept for display only.
CREATE TABLE people (
    person_id     BIGSERIAL PRIMARY KEY,
    hub_user_id   BIGINT NOT NULL UNIQUE CHECK (hub_user_id > 0),
    email         TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

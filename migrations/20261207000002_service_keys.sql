-- A portal can be authorized by a Service Key (docs/tenancy.md "Service Keys"): a static token
-- like a private app's, with a tier for the limiter. The tier column keeps its name: it is the
-- burst per 10 s of any static credential.
ALTER TABLE portals
    DROP CONSTRAINT portals_app_kind_check,
    DROP CONSTRAINT portals_private_has_tier,
    ADD CONSTRAINT portals_app_kind_check CHECK (app_kind IN ('public', 'private', 'service_key')),
    ADD CONSTRAINT portals_static_credential_has_tier
        CHECK ((app_kind IN ('private', 'service_key')) = (private_tier IS NOT NULL)),
    ADD CONSTRAINT portals_service_key_tier CHECK (app_kind <> 'service_key' OR private_tier IN (100, 190));

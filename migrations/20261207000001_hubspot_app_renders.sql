-- Every `ember hubspot-app render` that read the database: when, for which public URL, and the
-- contact properties its webhooks subscribe to (contact.propertyChange). The console compares
-- the newest row with each portal's active model and names the properties it lacks. One app
-- definition serves every portal, so rows belong to the deployment, not to a portal.
CREATE TABLE hubspot_app_renders (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rendered_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    public_url  TEXT   NOT NULL,
    properties  TEXT[] NOT NULL
);

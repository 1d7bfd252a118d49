//! `hubspot_app_renders`: each `ember hubspot-app render` that read the database, with the
//! contact properties its webhook definition subscribes to. The console compares the newest one
//! with a portal's active model (docs/hubspot-app.md, "When a model reads a new property").
//!
//! The rows belong to the deployment, not to a portal: one app definition serves every portal,
//! so these are the store's only statements without a portal id.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Properties HubSpot accepts no `propertyChange` subscription for (docs/hubspot.md A.3): the
/// render leaves them out, and the console does not ask for them.
pub const UNSUBSCRIBABLE_PROPERTIES: [&str; 2] =
    ["hs_lastmodifieddate", "num_unique_conversion_events"];

/// Whether HubSpot accepts a `contact.propertyChange` subscription for this property.
pub fn subscribable(property: &str) -> bool {
    !UNSUBSCRIBABLE_PROPERTIES.contains(&property)
}

/// The properties in `reads` (what a model reads) that `render` does not subscribe to, sorted;
/// properties HubSpot cannot subscribe to are never named.
pub fn missing_subscriptions(reads: &BTreeSet<String>, render: &Render) -> Vec<String> {
    let subscribed: BTreeSet<&str> = render.properties.iter().map(String::as_str).collect();
    reads
        .iter()
        .filter(|p| subscribable(p) && !subscribed.contains(p.as_str()))
        .cloned()
        .collect()
}

/// One recorded render.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Render {
    pub id: i64,
    pub rendered_at: DateTime<Utc>,
    /// The `--public-url` it was rendered for.
    pub public_url: String,
    /// The properties with a `contact.propertyChange` subscription, sorted.
    pub properties: Vec<String>,
}

/// Records a render inside the caller's transaction (the command commits it once the files are
/// in place); returns its id.
pub async fn record(
    conn: &mut PgConnection,
    public_url: &str,
    properties: &[String],
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO hubspot_app_renders (public_url, properties) VALUES ($1, $2) RETURNING id",
    )
    .bind(public_url)
    .bind(properties)
    .fetch_one(conn)
    .await
}

/// The newest recorded render, if any.
pub async fn latest(pool: &PgPool) -> Result<Option<Render>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, rendered_at, public_url, properties FROM hubspot_app_renders \
         ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(properties: &[&str]) -> Render {
        Render {
            id: 1,
            rendered_at: Utc::now(),
            public_url: "https://ember.example.com".into(),
            properties: properties.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn missing_subscriptions_names_unsubscribed_reads_but_never_unsubscribable_ones() {
        let reads: BTreeSet<String> = ["email", "hs_lastmodifieddate", "industry", "zip"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            missing_subscriptions(&reads, &render(&["email", "jobtitle"])),
            ["industry", "zip"]
        );
        assert!(missing_subscriptions(&reads, &render(&["email", "industry", "zip"])).is_empty());
    }
}

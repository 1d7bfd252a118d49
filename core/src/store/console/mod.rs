//! Read models of the console and the admin API: a portal's score distribution, its top and
//! fastest-rising contacts, one contact's explanation, and the preview of a draft model on a
//! sample of contacts.
//!
//! Queries read one portal's rows through the `contacts` primary key (portal first) and never
//! more. Scores shown per contact are computed here, at `now`, from the stored snapshot and
//! ledger with the portal's active model, exactly as the worker scores; the distribution over
//! all contacts uses the stored rounded totals (kept current by the decay sweep) instead, so it
//! costs one grouped query whatever the portal's size.
//!
//! Files: this one (the queries), `distribution` (histograms and grades), `contacts` (list
//! entries, "rising", explanations), `preview` (a draft model against the active one).

mod contacts;
mod distribution;
mod preview;

pub use contacts::{ContactSummary, Explanation, RuleContribution, explain, rising, summarize};
pub use distribution::{Bucket, Distribution, distribution, grade_of, histogram_range};
pub use preview::{GradeChange, Moved, Preview, preview};

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Row};

use crate::domain::{ObjectId, PortalId};
use crate::scoring::{Ledger, Snapshot};
use crate::store::contacts::StoredProperties;

/// Width of a histogram bucket, in points.
pub const BUCKET_WIDTH: i64 = 10;
/// Most contacts a preview scores.
pub const PREVIEW_SAMPLE: i64 = 500;
/// The window of "rising": the change of the total over this many days.
pub const RISING_DAYS: i64 = 7;
/// Most recently engaged contacts considered for "rising" (each is scored twice).
pub const RISING_CANDIDATES: i64 = 5_000;

/// What scoring one contact needs, read from its row.
#[derive(Debug, Clone)]
pub struct ScoringInput {
    pub contact_id: ObjectId,
    pub snapshot: Snapshot,
    pub ledger: Ledger,
}

impl ScoringInput {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        let id: i64 = row.try_get("contact_id")?;
        let Json(properties): Json<StoredProperties> = row.try_get("properties")?;
        let Json(ledger): Json<Vec<(String, i64)>> = row.try_get("ledger")?;
        Ok(Self {
            contact_id: ObjectId::new(id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            snapshot: properties
                .iter()
                .map(|(k, v)| (k.as_str(), v.v.as_str()))
                .collect(),
            ledger: Ledger::from_stored(&ledger),
        })
    }

    /// The contact's e-mail address, if the snapshot holds it.
    pub fn email(&self) -> Option<&str> {
        self.snapshot.get("email")
    }

    /// First and last name, if the snapshot holds either.
    pub fn name(&self) -> Option<String> {
        let parts: Vec<&str> = ["firstname", "lastname"]
            .iter()
            .filter_map(|p| self.snapshot.get(p))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

fn inputs(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<ScoringInput>, sqlx::Error> {
    rows.iter().map(ScoringInput::from_row).collect()
}

/// The preview sample: the portal's `limit` most recently updated active contacts (ties by id),
/// so the same data gives the same sample.
pub async fn sample(
    pool: &PgPool,
    portal: PortalId,
    limit: i64,
) -> Result<Vec<ScoringInput>, sqlx::Error> {
    const SQL: &str = "SELECT contact_id, properties, ledger FROM contacts \
         WHERE portal_id = $1 AND status = 'active' \
         ORDER BY updated_at DESC, contact_id DESC LIMIT $2";
    portal_inputs(pool, SQL, portal, limit).await
}

/// The portal's active contacts with the highest stored totals (ties by id).
pub async fn top(
    pool: &PgPool,
    portal: PortalId,
    limit: i64,
) -> Result<Vec<ScoringInput>, sqlx::Error> {
    const SQL: &str = "SELECT contact_id, properties, ledger FROM contacts \
         WHERE portal_id = $1 AND status = 'active' AND score_total IS NOT NULL \
         ORDER BY score_total DESC, contact_id LIMIT $2";
    portal_inputs(pool, SQL, portal, limit).await
}

/// The scoring inputs `sql` selects with the portal as `$1` and a row limit as `$2`.
async fn portal_inputs(
    pool: &PgPool,
    sql: &'static str,
    portal: PortalId,
    limit: i64,
) -> Result<Vec<ScoringInput>, sqlx::Error> {
    let rows = sqlx::query(sql)
        .bind(portal.get())
        .bind(limit)
        .fetch_all(pool)
        .await?;
    inputs(rows)
}

/// Active contacts with a ledger entry at or after `since` (the candidates for "rising"), the
/// most recently updated first.
pub async fn engaged_since(
    pool: &PgPool,
    portal: PortalId,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ScoringInput>, sqlx::Error> {
    // Ledger entries are stored as ["rule_id", occurred_at_ms].
    let rows = sqlx::query(
        "SELECT contact_id, properties, ledger FROM contacts \
         WHERE portal_id = $1 AND status = 'active' \
           AND EXISTS (SELECT 1 FROM jsonb_array_elements(ledger) e WHERE (e ->> 1)::bigint >= $2) \
         ORDER BY updated_at DESC, contact_id DESC LIMIT $3",
    )
    .bind(portal.get())
    .bind(since.timestamp_millis())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    inputs(rows)
}

/// One active contact of the portal.
pub async fn contact(
    pool: &PgPool,
    portal: PortalId,
    contact: ObjectId,
) -> Result<Option<ScoringInput>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT contact_id, properties, ledger FROM contacts \
         WHERE portal_id = $1 AND contact_id = $2 AND status = 'active'",
    )
    .bind(portal.get())
    .bind(contact.get())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(ScoringInput::from_row).transpose()
}

/// The portal's active scored contacts grouped by stored rounded total and by the matrix cell
/// written to HubSpot (read from `score_values` under `matrix_property`, when the model writes
/// one): `(total, cell, count)`.
pub async fn score_groups(
    pool: &PgPool,
    portal: PortalId,
    matrix_property: Option<&str>,
) -> Result<Vec<(i64, Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT score_total::bigint, CASE WHEN $2::text IS NULL THEN NULL ELSE score_values ->> $2 END AS cell, \
                count(*) \
         FROM contacts WHERE portal_id = $1 AND status = 'active' AND score_total IS NOT NULL \
         GROUP BY 1, 2",
    )
    .bind(portal.get())
    .bind(matrix_property)
    .fetch_all(pool)
    .await
}

/// How many active contacts the portal has.
pub async fn active_contacts(pool: &PgPool, portal: PortalId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM contacts WHERE portal_id = $1 AND status = 'active'")
        .bind(portal.get())
        .fetch_one(pool)
        .await
}

/// How a person is named in the records they leave (`created_by` of a model version): their
/// e-mail and id, or the id alone.
pub async fn person_label(pool: &PgPool, person: i64) -> Result<String, sqlx::Error> {
    let email: Option<Option<String>> =
        sqlx::query_scalar("SELECT email FROM people WHERE person_id = $1")
            .bind(person)
            .fetch_optional(pool)
            .await?;
    Ok(match email.flatten() {
        Some(email) => format!("{email} (person {person})"),
        None => format!("person {person}"),
    })
}

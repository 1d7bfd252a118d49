//! Read-only figures for `ember demo`: its live view, its summary and its consistency check read
//! across the tables the worker and the write-back own, and change nothing.

use std::collections::BTreeMap;

use sqlx::PgPool;
use sqlx::types::Json;

use crate::domain::PortalId;

/// One portal's progress: contacts scored, contacts written back, rows waiting in the outbox,
/// context reads waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalFigures {
    pub portal_id: i64,
    pub scored: i64,
    pub written: i64,
    pub outbox: i64,
    pub context_waiting: i64,
}

/// Every portal's progress.
pub async fn portal_figures(pool: &PgPool) -> Result<Vec<PortalFigures>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT p.portal_id, \
           (SELECT count(*) FROM contacts c WHERE c.portal_id = p.portal_id AND c.score_values IS NOT NULL), \
           (SELECT count(*) FROM writeback_written w WHERE w.portal_id = p.portal_id), \
           (SELECT count(*) FROM score_outbox o WHERE o.portal_id = p.portal_id), \
           (SELECT count(*) FROM context_requests r WHERE r.portal_id = p.portal_id) \
         FROM portals p",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(portal_id, scored, written, outbox, context_waiting)| PortalFigures {
                portal_id,
                scored,
                written,
                outbox,
                context_waiting,
            },
        )
        .collect())
}

/// Rows of `processed_events` in all, and the sum of every contact's score version (it grows
/// with every rescore, so the live view can tell the pipeline is moving).
pub async fn progress(pool: &PgPool) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM processed_events), \
                (SELECT coalesce(sum(score_version), 0)::bigint FROM contacts)",
    )
    .fetch_one(pool)
    .await
}

/// How many of these dedupe keys the portal has processed.
pub async fn processed_of(
    pool: &PgPool,
    portal: PortalId,
    keys: &[Vec<u8>],
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM processed_events WHERE portal_id = $1 AND event_key = ANY($2)",
    )
    .bind(portal.get())
    .bind(keys)
    .fetch_one(pool)
    .await
}

/// The values Ember stored for a contact (HubSpot property → value).
pub type StoredValues = BTreeMap<String, String>;

/// The portal's highest-scored active contacts: id, total, stored values.
pub async fn top_leads(
    pool: &PgPool,
    portal: PortalId,
    limit: i64,
) -> Result<Vec<(i64, i32, Option<StoredValues>)>, sqlx::Error> {
    let rows: Vec<(i64, i32, Option<Json<StoredValues>>)> = sqlx::query_as(
        "SELECT contact_id, score_total, score_values FROM contacts \
         WHERE portal_id = $1 AND status = 'active' AND score_total IS NOT NULL \
         ORDER BY score_total DESC, contact_id LIMIT $2",
    )
    .bind(portal.get())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, total, values)| (id, total, values.map(|Json(v)| v)))
        .collect())
}

/// Every active contact of the portal with the values Ember stored for it.
pub async fn stored_values(
    pool: &PgPool,
    portal: PortalId,
) -> Result<Vec<(i64, Option<StoredValues>)>, sqlx::Error> {
    let rows: Vec<(i64, Option<Json<StoredValues>>)> = sqlx::query_as(
        "SELECT contact_id, score_values FROM contacts WHERE portal_id = $1 AND status = 'active'",
    )
    .bind(portal.get())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, values)| (id, values.map(|Json(v)| v)))
        .collect())
}

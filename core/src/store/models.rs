//! Per-portal scoring models: immutable versions in `scoring_models`, one active version per
//! portal in `scoring_model_active`, and the background rescoring a new version triggers
//! (`model_rescores`). A portal without an active version is scored with
//! [`crate::scoring::Model::default_model`], reported as version 0.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;

use crate::domain::PortalId;
use crate::scoring::Model;

/// Stores a new model version (the caller validated it). Fails if the version exists.
pub async fn insert(
    pool: &PgPool,
    portal: PortalId,
    version: i32,
    model: &Model,
    created_by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO scoring_models (portal_id, version, document, created_by) VALUES ($1, $2, $3, $4)")
        .bind(portal.get())
        .bind(version)
        .bind(Json(model))
        .bind(created_by)
        .execute(pool)
        .await?;
    Ok(())
}

/// Makes `version` the portal's active model and queues a rescore of all its contacts.
pub async fn activate(pool: &PgPool, portal: PortalId, version: i32) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO scoring_model_active (portal_id, version) VALUES ($1, $2) \
         ON CONFLICT (portal_id) DO UPDATE SET version = EXCLUDED.version, activated_at = now()",
    )
    .bind(portal.get())
    .bind(version)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO model_rescores (portal_id, version) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(portal.get())
    .bind(version)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The active version and its document, if the portal has one.
pub async fn active(
    pool: &PgPool,
    portal: PortalId,
) -> Result<Option<(i32, serde_json::Value)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.version, m.document FROM scoring_model_active a \
         JOIN scoring_models m ON m.portal_id = a.portal_id AND m.version = a.version WHERE a.portal_id = $1",
    )
    .bind(portal.get())
    .fetch_optional(pool)
    .await
}

/// A claimed background rescore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RescoreJob {
    pub portal_id: PortalId,
    pub version: i32,
    /// Contacts with an id at or below this one are done.
    pub cursor_id: i64,
    pub done: i64,
    pub total: Option<i64>,
}

type JobRow = (i64, i32, i64, i64, Option<i64>);

fn job((portal, version, cursor_id, done, total): JobRow) -> Option<RescoreJob> {
    Some(RescoreJob {
        portal_id: PortalId::new(portal).ok()?,
        version,
        cursor_id,
        done,
        total,
    })
}

/// Claims the oldest unfinished rescore whose lease expired (or that has none), for
/// `lease_secs` seconds. (Maintenance across portals.)
pub async fn claim_rescore(
    pool: &PgPool,
    worker: &str,
    lease_secs: i64,
) -> Result<Option<RescoreJob>, sqlx::Error> {
    let row: Option<JobRow> = sqlx::query_as(
        "UPDATE model_rescores SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2) \
         WHERE (portal_id, version) = ( \
             SELECT portal_id, version FROM model_rescores \
             WHERE finished_at IS NULL AND (claimed_until IS NULL OR claimed_until < now()) \
             ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING portal_id, version, cursor_id, done, total",
    )
    .bind(worker)
    .bind(lease_secs as f64)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(job))
}

/// Records progress (and renews the lease).
pub async fn advance_rescore(
    conn: &mut sqlx::PgConnection,
    job: &RescoreJob,
    lease_secs: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE model_rescores SET cursor_id = $3, done = $4, total = $5, \
             claimed_until = now() + make_interval(secs => $6) WHERE portal_id = $1 AND version = $2",
    )
    .bind(job.portal_id.get())
    .bind(job.version)
    .bind(job.cursor_id)
    .bind(job.done)
    .bind(job.total)
    .bind(lease_secs as f64)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a rescore finished.
pub async fn finish_rescore(pool: &PgPool, job: &RescoreJob) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE model_rescores SET finished_at = now(), claimed_until = NULL, done = $3 \
         WHERE portal_id = $1 AND version = $2",
    )
    .bind(job.portal_id.get())
    .bind(job.version)
    .bind(job.done)
    .execute(pool)
    .await?;
    Ok(())
}

/// A rescore's progress, for admin views and tests.
pub async fn rescore_status(
    pool: &PgPool,
    portal: PortalId,
    version: i32,
) -> Result<Option<(i64, Option<i64>, Option<DateTime<Utc>>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT done, total, finished_at FROM model_rescores WHERE portal_id = $1 AND version = $2",
    )
    .bind(portal.get())
    .bind(version)
    .fetch_optional(pool)
    .await
}

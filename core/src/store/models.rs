//! Per-portal scoring models: immutable versions in `scoring_models`, one active version per
//! portal in `scoring_model_active`, and the background rescoring a new version triggers
//! (`model_rescores`). A portal without an active version is scored with
//! [`crate::scoring::Model::default_model`], reported as version 0.
//!
//! A new version is numbered, stored and activated in one transaction that holds the portal's
//! row ([`insert_and_activate`]), so two concurrent saves get consecutive numbers and the later
//! one wins.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

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
    activate_in(&mut tx, portal, version).await?;
    tx.commit().await
}

/// [`activate`] inside the caller's transaction. A rescore of that version that already finished
/// (a roll back to it) is queued again from the start; one still pending or running is left to
/// finish, since it already rescores every contact with this version.
pub async fn activate_in(
    conn: &mut PgConnection,
    portal: PortalId,
    version: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO scoring_model_active (portal_id, version) VALUES ($1, $2) \
         ON CONFLICT (portal_id) DO UPDATE SET version = EXCLUDED.version, activated_at = now()",
    )
    .bind(portal.get())
    .bind(version)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO model_rescores (portal_id, version) VALUES ($1, $2) \
         ON CONFLICT (portal_id, version) DO UPDATE SET cursor_id = 0, done = 0, total = NULL, \
             claimed_by = NULL, claimed_until = NULL, finished_at = NULL, created_at = now() \
         WHERE model_rescores.finished_at IS NOT NULL",
    )
    .bind(portal.get())
    .bind(version)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One stored version, without its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct VersionInfo {
    pub version: i32,
    /// Who saved it (a person's e-mail and id, or the tool that did).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// One stored version with its document (a [`Model`] as JSON).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredVersion {
    #[sqlx(flatten)]
    pub info: VersionInfo,
    pub document: serde_json::Value,
}

/// Every stored version of a portal, newest first.
pub async fn list_versions(
    pool: &PgPool,
    portal: PortalId,
) -> Result<Vec<VersionInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, created_by, created_at FROM scoring_models \
         WHERE portal_id = $1 ORDER BY version DESC",
    )
    .bind(portal.get())
    .fetch_all(pool)
    .await
}

/// One stored version with its document.
pub async fn get_version(
    pool: &PgPool,
    portal: PortalId,
    version: i32,
) -> Result<Option<StoredVersion>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, created_by, created_at, document FROM scoring_models \
         WHERE portal_id = $1 AND version = $2",
    )
    .bind(portal.get())
    .bind(version)
    .fetch_optional(pool)
    .await
}

/// The portal's active version number, if it has one stored (none: the built-in model, 0).
pub async fn active_version(pool: &PgPool, portal: PortalId) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM scoring_model_active WHERE portal_id = $1")
        .bind(portal.get())
        .fetch_optional(pool)
        .await
}

/// The number the portal's next version gets: one above its highest stored version.
pub async fn next_version(conn: &mut PgConnection, portal: PortalId) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(max(version), 0) + 1 FROM scoring_models WHERE portal_id = $1",
    )
    .bind(portal.get())
    .fetch_one(conn)
    .await
}

/// Stores `model` (the caller validated it) as the portal's next version and activates it,
/// queueing a rescore, all in one transaction; returns the new version number, or `None` when
/// the portal does not exist. The stored document's own `version` field is set to that number,
/// so a document always names the version it is. The portal's row is locked first, so concurrent saves of one
/// portal are numbered one after the other.
pub async fn insert_and_activate(
    pool: &PgPool,
    portal: PortalId,
    model: &Model,
    created_by: &str,
) -> Result<Option<i32>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // NO KEY UPDATE: serializes saves without blocking the foreign-key checks of other tables.
    let exists = sqlx::query_scalar::<_, i64>(
        "SELECT portal_id FROM portals WHERE portal_id = $1 FOR NO KEY UPDATE",
    )
    .bind(portal.get())
    .fetch_optional(&mut *tx)
    .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let version = next_version(&mut tx, portal).await?;
    let mut document = model.clone();
    document.version = u32::try_from(version).unwrap_or(u32::MAX);
    sqlx::query(
        "INSERT INTO scoring_models (portal_id, version, document, created_by) VALUES ($1, $2, $3, $4)",
    )
    .bind(portal.get())
    .bind(version)
    .bind(Json(&document))
    .bind(created_by)
    .execute(&mut *tx)
    .await?;
    activate_in(&mut tx, portal, version).await?;
    tx.commit().await?;
    Ok(Some(version))
}

/// The portal's latest rescore (by when it was queued): (version, done, total, finished_at).
pub async fn latest_rescore(
    pool: &PgPool,
    portal: PortalId,
) -> Result<Option<(i32, i64, Option<i64>, Option<DateTime<Utc>>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, done, total, finished_at FROM model_rescores \
         WHERE portal_id = $1 ORDER BY (finished_at IS NULL) DESC, created_at DESC LIMIT 1",
    )
    .bind(portal.get())
    .fetch_optional(pool)
    .await
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

/// The active model document of every installed portal (active or awaiting re-authorization),
/// by portal. Portals without a stored active version use the built-in model and are absent.
/// Deliberately across portals: one HubSpot app definition serves them all
/// (`ember hubspot-app render`, docs/hubspot-app.md), and the caller only reads which
/// properties the models use.
pub async fn installed_active_models(
    pool: &PgPool,
) -> Result<Vec<(PortalId, i32, serde_json::Value)>, sqlx::Error> {
    let rows: Vec<(i64, i32, serde_json::Value)> = sqlx::query_as(
        "SELECT a.portal_id, m.version, m.document FROM scoring_model_active a \
         JOIN scoring_models m ON m.portal_id = a.portal_id AND m.version = a.version \
         JOIN portals p ON p.portal_id = a.portal_id \
         WHERE p.status IN ('active', 'needs_reauth') ORDER BY a.portal_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(p, version, document)| Some((PortalId::new(p).ok()?, version, document)))
        .collect())
}

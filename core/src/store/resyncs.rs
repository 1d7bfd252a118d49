//! On-demand resyncs (`portal_resyncs`, migration `migrations/20261207000003_resyncs.sql`): one
//! row per run of `ember portal resync`, see docs/resync.md. This module is the table's only
//! owner.
//!
//! The resync loop (worker/src/resync.rs) commits each page's contact rows, outbox rows and
//! [`advance`] in one transaction, after [`lock_current`] checked that the row still expects
//! that page: two runners of the same resync cannot both apply a page, and a restarted one goes
//! on from the last committed cursor.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::PortalId;

/// One resync run.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Resync {
    pub resync_id: i64,
    pub portal_id: i64,
    pub started_at: DateTime<Utc>,
    /// The `after` of the next page to fetch; `None`: the first page (or, when finished, none).
    pub cursor: Option<String>,
    pub pages: i64,
    pub contacts_read: i64,
    pub contacts_scored: i64,
    pub outbox_writes: i64,
    pub finished_at: Option<DateTime<Utc>>,
    /// The last failure of an unfinished run (it resumes from `cursor`), or why a finished run
    /// was abandoned.
    pub error: Option<String>,
}

/// What one committed page adds to its resync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub contacts_read: i64,
    pub contacts_scored: i64,
    pub outbox_writes: i64,
}

const COLUMNS: &str = "resync_id, portal_id, started_at, cursor, pages, contacts_read, \
                       contacts_scored, outbox_writes, finished_at, error";

/// The portal's unfinished resync, if any.
pub async fn unfinished(pool: &PgPool, portal: PortalId) -> Result<Option<Resync>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM portal_resyncs WHERE portal_id = $1 AND finished_at IS NULL"
    )))
    .bind(portal.get())
    .fetch_optional(pool)
    .await
}

/// Starts a resync from the first page. `None` when the portal already has an unfinished one
/// (the unique index on unfinished runs refuses a second).
pub async fn start(pool: &PgPool, portal: PortalId) -> Result<Option<Resync>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO portal_resyncs (portal_id) VALUES ($1) \
         ON CONFLICT (portal_id) WHERE finished_at IS NULL DO NOTHING RETURNING {COLUMNS}"
    )))
    .bind(portal.get())
    .fetch_optional(pool)
    .await
}

/// Ends the portal's unfinished resync without completing it (`--restart`); returns whether
/// there was one. Its committed pages stay applied.
pub async fn abandon(pool: &PgPool, portal: PortalId, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE portal_resyncs SET finished_at = now(), updated_at = now(), error = $2 \
         WHERE portal_id = $1 AND finished_at IS NULL",
    )
    .bind(portal.get())
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Locks the resync's row if it is unfinished and still expects the page at `cursor`; `None`
/// when another runner advanced, finished or abandoned it meanwhile.
pub async fn lock_current(
    tx: &mut PgConnection,
    portal: PortalId,
    resync_id: i64,
    cursor: Option<&str>,
) -> Result<Option<Resync>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM portal_resyncs \
         WHERE portal_id = $1 AND resync_id = $2 AND finished_at IS NULL \
           AND cursor IS NOT DISTINCT FROM $3 FOR UPDATE"
    )))
    .bind(portal.get())
    .bind(resync_id)
    .bind(cursor)
    .fetch_optional(tx)
    .await
}

/// Records a committed page: adds its counts, stores the next cursor and, on the last page
/// (`next` is `None`), finishes the run. Returns the updated row.
pub async fn advance(
    tx: &mut PgConnection,
    portal: PortalId,
    resync_id: i64,
    next: Option<&str>,
    counts: PageCounts,
) -> Result<Resync, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE portal_resyncs SET cursor = $3, pages = pages + 1, \
           contacts_read = contacts_read + $4, contacts_scored = contacts_scored + $5, \
           outbox_writes = outbox_writes + $6, error = NULL, updated_at = now(), \
           finished_at = CASE WHEN $3 IS NULL THEN now() END \
         WHERE portal_id = $1 AND resync_id = $2 RETURNING {COLUMNS}"
    )))
    .bind(portal.get())
    .bind(resync_id)
    .bind(next)
    .bind(counts.contacts_read)
    .bind(counts.contacts_scored)
    .bind(counts.outbox_writes)
    .fetch_one(tx)
    .await
}

/// Records why an unfinished run stopped; it stays unfinished and resumes from its cursor.
pub async fn record_failure(
    pool: &PgPool,
    portal: PortalId,
    resync_id: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE portal_resyncs SET error = $3, updated_at = now() \
         WHERE portal_id = $1 AND resync_id = $2 AND finished_at IS NULL",
    )
    .bind(portal.get())
    .bind(resync_id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// The newest run of every portal that has one, by portal id (`ember portal list`).
pub async fn latest_by_portal(pool: &PgPool) -> Result<HashMap<i64, Resync>, sqlx::Error> {
    let rows: Vec<Resync> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT ON (portal_id) {COLUMNS} FROM portal_resyncs \
         ORDER BY portal_id, resync_id DESC"
    )))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.portal_id, r)).collect())
}

//! Periodic jobs: the decay sweep, the background rescore after a model change, and the purge
//! of old dedupe keys.
//!
//! - **Sweep**: contacts whose `next_change_at` is due (a partial index serves the query; no full
//!   scan) are locked, rescored and saved, and an outbox row is written for those whose values
//!   changed. One process sweeps at a time (`pg_try_advisory_xact_lock`), batch by batch.
//! - **Rescore**: activating a model version queues a `model_rescores` job. A worker claims it
//!   with a lease, walks the portal's contacts in id order in batches, rescoring those not yet on
//!   the new version, and records its cursor, so another worker resumes after a crash. Progress is
//!   logged per batch and exported as `ember_worker_rescore_done` / `_total`.
//! - **Purge**: dedupe keys older than the retention (at least 7 days) go, in small batches.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ember_core::domain::{EventKey, ObjectId, PortalId};
use ember_core::store::contacts::{self, ContactRecord};
use ember_core::store::{dedupe, models, outbox};
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;

use crate::effects::{Rescored, rescore};
use crate::model::{ModelCache, PortalModel};

/// Advisory lock key of the sweep leader (one sweeper at a time across processes).
const SWEEP_LOCK_KEY: i64 = 0x656d_6265_7200_0001; // "ember" + 1

/// Rescores due contacts at `now`, at most `batch` of them; returns how many were due.
pub async fn sweep_once(
    pool: &PgPool,
    models: &ModelCache,
    now: DateTime<Utc>,
    batch: i64,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let leader = ember_core::store::locks::try_xact_lock(&mut tx, SWEEP_LOCK_KEY).await?;
    if !leader {
        tx.rollback().await?;
        return Ok(0);
    }
    let due = contacts::due(&mut tx, now, batch).await?;
    if due.is_empty() {
        // End the transaction here rather than by dropping it: a dropped transaction's ROLLBACK
        // is sent later, when its connection is next used, so the lock would outlive this call
        // and make the next sweep (on another pooled connection) think it is not the leader.
        tx.rollback().await?;
        return Ok(0);
    }
    contacts::lock_many(&mut tx, &due).await?;
    let mut by_portal: BTreeMap<PortalId, Vec<ObjectId>> = BTreeMap::new();
    for (portal, contact) in &due {
        by_portal.entry(*portal).or_default().push(*contact);
    }
    let mut written = 0usize;
    for (portal, ids) in by_portal {
        let model = models.get(portal).await?;
        // Re-check under the lock: an event may have rescored the contact meanwhile.
        written += rescore_ids(&mut tx, portal, &ids, &model, now, |r| {
            r.next_change_at.is_some_and(|t| t <= now)
        })
        .await?;
    }
    tx.commit().await?;
    metrics::counter!("ember_worker_decay_rescored_total").increment(due.len() as u64);
    metrics::counter!("ember_worker_outbox_writes_total").increment(written as u64);
    tracing::debug!(due = due.len(), written, "decay sweep batch");
    Ok(due.len())
}

/// Loads, rescores (those `select` picks) and saves contacts; returns the outbox rows written.
/// The caller holds their locks.
async fn rescore_ids(
    conn: &mut PgConnection,
    portal: PortalId,
    ids: &[ObjectId],
    model: &PortalModel,
    now: DateTime<Utc>,
    select: impl Fn(&ContactRecord) -> bool,
) -> anyhow::Result<usize> {
    let keys: Vec<EventKey> = ids
        .iter()
        .map(|id| dedupe::erasure_key(portal, *id))
        .collect();
    let mut save = Vec::new();
    let mut rows = Vec::new();
    let mut retired = Vec::new();
    for loaded in contacts::load(conn, portal, ids, &keys).await? {
        let Some(mut record) = loaded.record else {
            continue;
        };
        if !select(&record) {
            continue;
        }
        match rescore(&mut record, model, now, false) {
            Rescored::Write(row) => rows.push(row),
            Rescored::Retired => retired.push(record.contact_id),
            Rescored::Unchanged => {}
        }
        save.push(record);
    }
    contacts::save(conn, portal, &save).await?;
    outbox::delete(conn, portal, &retired).await?;
    outbox::upsert(conn, portal, &rows).await?;
    Ok(rows.len())
}

/// Runs [`sweep_once`] every `interval` (at once again after a full batch) until shutdown.
pub async fn run_sweeper(
    pool: PgPool,
    models: Arc<ModelCache>,
    interval: Duration,
    batch: i64,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let pause = match sweep_once(&pool, &models, Utc::now(), batch).await {
            Ok(n) if n as i64 >= batch => Duration::ZERO,
            Ok(_) => interval,
            Err(e) => {
                tracing::warn!(error = %e, "decay sweep failed; trying again later");
                interval
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Claims one pending model rescore and runs it to the end (or until shutdown). Returns whether
/// there was one.
pub async fn rescore_once(
    pool: &PgPool,
    worker: &str,
    batch: i64,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    const LEASE_SECS: i64 = 60;
    let Some(mut job) = models::claim_rescore(pool, worker, LEASE_SECS).await? else {
        return Ok(false);
    };
    let portal = job.portal_id;
    // Compile the version the job is for from the database (the cache may not have seen the
    // activation yet).
    let model = match models::active(pool, portal).await? {
        Some((version, document)) if version == job.version => {
            let document: ember_core::scoring::Model =
                serde_json::from_value(document).map_err(|e| {
                    anyhow::anyhow!("model version {version} of portal {portal} is unreadable: {e}")
                })?;
            PortalModel::new(version, &document)?
        }
        active => {
            tracing::info!(portal_id = %portal, version = job.version, active = ?active.map(|(v, _)| v), "model rescore superseded");
            models::finish_rescore(pool, &job).await?;
            return Ok(true);
        }
    };
    if job.total.is_none() {
        job.total = Some(contacts::count(pool, portal).await?);
    }
    let total = job.total.unwrap_or(0);
    tracing::info!(portal_id = %portal, version = job.version, done = job.done, total, "model rescore started");
    let portal_label = portal.to_string();
    while !*shutdown.borrow() {
        let ids = contacts::ids_after(pool, portal, job.cursor_id, batch).await?;
        let Some(last) = ids.last() else {
            models::finish_rescore(pool, &job).await?;
            tracing::info!(portal_id = %portal, version = job.version, done = job.done, total, "model rescore finished");
            return Ok(true);
        };
        let now = Utc::now();
        let mut tx = pool.begin().await?;
        contacts::lock(&mut tx, portal, &ids).await?;
        let version = job.version;
        let written = rescore_ids(&mut tx, portal, &ids, &model, now, |r| {
            r.model_version != Some(version)
        })
        .await?;
        job.cursor_id = last.get();
        job.done += ids.len() as i64;
        models::advance_rescore(&mut tx, &job, LEASE_SECS).await?;
        tx.commit().await?;
        metrics::counter!("ember_worker_outbox_writes_total").increment(written as u64);
        metrics::gauge!("ember_worker_rescore_done", "portal_id" => portal_label.clone())
            .set(job.done as f64);
        metrics::gauge!("ember_worker_rescore_total", "portal_id" => portal_label.clone())
            .set(total as f64);
        tracing::info!(portal_id = %portal, version = job.version, done = job.done, total, written, "model rescore progress");
    }
    Ok(true)
}

/// Runs model rescores as they are queued, until shutdown.
pub async fn run_rescorer(
    pool: PgPool,
    worker: String,
    interval: Duration,
    batch: i64,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let pause = match rescore_once(&pool, &worker, batch, &shutdown).await {
            Ok(true) => Duration::ZERO,
            Ok(false) => interval,
            Err(e) => {
                tracing::warn!(error = %e, "model rescore failed; trying again later");
                interval
            }
        };
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Deletes dedupe keys older than `retention`, `batch` at a time; returns how many went.
pub async fn purge_once(
    pool: &PgPool,
    retention: chrono::Duration,
    batch: i64,
) -> anyhow::Result<u64> {
    let cutoff = Utc::now() - retention;
    let mut total = 0;
    loop {
        let n = dedupe::purge(pool, cutoff, batch).await?;
        total += n;
        if (n as i64) < batch {
            break;
        }
        // Leave room for the hot path between batches.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if total > 0 {
        metrics::counter!("ember_worker_dedupe_purged_total").increment(total);
        tracing::info!(purged = total, "old dedupe keys purged");
    }
    Ok(total)
}

/// Runs [`purge_once`] every `interval` until shutdown.
pub async fn run_purger(
    pool: PgPool,
    retention: chrono::Duration,
    interval: Duration,
    batch: i64,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = purge_once(&pool, retention, batch).await {
            tracing::warn!(error = %e, "dedupe purge failed; trying again later");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

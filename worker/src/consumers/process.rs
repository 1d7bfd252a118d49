//! The processing consumer: one message (an [`EventBatch`] of up to 500 events of one portal), one
//! Postgres transaction, a handful of statements whatever the number of events:
//!
//! 1. `dedupe::claim`: insert every event's key (one `INSERT … SELECT unnest … ON CONFLICT DO
//!    NOTHING RETURNING`); keys that were already there are events already done.
//! 2. `contacts::lock`: advisory locks of every contact the new events name, ascending order.
//! 3. `contacts::load`: their rows, aliases (merged ids) and erasure markers, in one query. An id
//!    that turns out to be an alias adds a second lock + load for its survivor.
//! 4. apply the events in memory ([`crate::effects`]), rescore the touched contacts;
//! 5. `contacts::save` (one upsert), `outbox::upsert` (one), `context::request` (one, if any
//!    contact lacks model properties), plus the rare merge / deletion / erasure statements;
//! 6. commit. Only then does the runner ack.
//!
//! A deadlock or serialization failure (possible only when an alias adds locks out of order)
//! rolls back and runs the transaction again, a few times, before it becomes a delayed retry.
//!
//! One event must not take the others of its message down: when the transaction fails with a
//! permanent data error (a value PostgreSQL cannot store, such as a NUL character that reached
//! the queue without the intake's cleaning), the message is split in halves, each half in its
//! own transaction, and a failing half again, until the failing events stand alone
//! ([`Outcome::Partial`]). The others commit; the runner dead-letters each refused event as a
//! one-event batch. A transient error at any point retries the whole message as before, and the
//! halves already committed are then duplicates that the dedupe keys absorb.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ember_core::domain::{EventBatch, EventKey, ObjectId, PortalId, QueuedEvent};
use ember_core::store::{aliases, contacts, context, dedupe, outbox};
use sqlx::{PgConnection, PgPool};

use super::Outcome;
use crate::effects::{Effect, WorkingSet};
use crate::model::{ModelCache, PortalModel};

/// What one message did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub events: usize,
    /// Events applied for the first time.
    pub applied: usize,
    /// Events already processed (dedupe key present), or repeated in the message.
    pub duplicates: usize,
    /// New events Ember has nothing to do with (companies, associations...) or that name an
    /// erased contact.
    pub skipped: usize,
    pub contacts: usize,
    pub outbox_writes: usize,
    pub context_requests: usize,
}

impl Summary {
    /// Adds what another transaction of the same message did.
    fn absorb(&mut self, other: &Summary) {
        self.applied += other.applied;
        self.duplicates += other.duplicates;
        self.skipped += other.skipped;
        self.contacts += other.contacts;
        self.outbox_writes += other.outbox_writes;
        self.context_requests += other.context_requests;
    }
}

/// How a run of events failed, once conflicts were retried.
enum Failure {
    /// Cannot succeed on a retry (the database refused the data).
    Permanent(String),
    /// May succeed later (connection, pool, timeouts, conflicts that kept coming).
    Transient(String),
}

/// Why a transaction failed.
#[derive(Debug, thiserror::Error)]
enum TxError {
    #[error("conflict with a concurrent transaction: {0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Applies event batches to the database.
pub struct Processor {
    pool: PgPool,
    models: Arc<ModelCache>,
    tx_attempts: u32,
}

impl Processor {
    pub fn new(pool: PgPool, models: Arc<ModelCache>, tx_attempts: u32) -> Self {
        Self {
            pool,
            models,
            tx_attempts: tx_attempts.max(1),
        }
    }

    /// Processes one message.
    pub async fn handle(&self, batch: &EventBatch) -> Outcome {
        let portal = batch.portal_id;
        if let Some(e) = batch.events.iter().find(|e| e.portal_id() != portal) {
            return Outcome::Reject(format!(
                "an event of portal {} is in a batch of portal {portal}",
                e.portal_id()
            ));
        }
        let model = match self.models.get(portal).await {
            Ok(m) => m,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        match self.run(batch, &batch.events, &model).await {
            Ok(summary) => {
                record_metrics(&summary);
                Outcome::Done(summary)
            }
            Err(Failure::Permanent(reason)) if batch.events.len() > 1 => {
                self.isolate(batch, &model, &reason).await
            }
            Err(Failure::Permanent(reason)) => Outcome::Reject(reason),
            Err(Failure::Transient(reason)) => Outcome::Retry(reason),
        }
    }

    /// After a permanent failure of the whole message: halves in their own transactions, a
    /// failing half split again, so that one bad event costs about 2·log2(n) transactions.
    /// Ranges are run in message order, so events still apply in the order they came.
    async fn isolate(&self, batch: &EventBatch, model: &PortalModel, first: &str) -> Outcome {
        tracing::warn!(events = batch.events.len(), reason = %first, "The database refused a message; isolating the events it refuses.");
        metrics::counter!("ember_worker_isolations_total").increment(1);
        let mut summary = Summary {
            events: batch.events.len(),
            ..Summary::default()
        };
        let mut rejected = Vec::new();
        let n = batch.events.len();
        // A stack of ranges, the next to run on top.
        let mut pending = vec![(n / 2, n), (0, n / 2)];
        while let Some((start, end)) = pending.pop() {
            let events = &batch.events[start..end];
            match self.run(batch, events, model).await {
                Ok(done) => summary.absorb(&done),
                Err(Failure::Permanent(_)) if events.len() > 1 => {
                    let mid = start + events.len() / 2;
                    pending.push((mid, end));
                    pending.push((start, mid));
                }
                Err(Failure::Permanent(reason)) => {
                    tracing::error!(event = start, reason = %reason, "The database refuses an event; it goes to the dead letters alone.");
                    rejected.push((events[0].clone(), reason));
                }
                Err(Failure::Transient(reason)) => return Outcome::Retry(reason),
            }
        }
        record_metrics(&summary);
        if rejected.is_empty() {
            // The failure did not come back event by event (it depended on the events together,
            // or went away): everything is committed.
            return Outcome::Done(summary);
        }
        metrics::counter!("ember_worker_events_total", "result" => "dead_lettered")
            .increment(rejected.len() as u64);
        Outcome::Partial { summary, rejected }
    }

    /// Runs `events` of `batch` in one transaction, again on conflicts (a few times).
    async fn run(
        &self,
        batch: &EventBatch,
        events: &[QueuedEvent],
        model: &PortalModel,
    ) -> Result<Summary, Failure> {
        let mut attempt = 1;
        loop {
            match self
                .try_once(batch.portal_id, batch.received_at, events, model)
                .await
            {
                Ok(summary) => return Ok(summary),
                Err(TxError::Conflict(why)) if attempt < self.tx_attempts => {
                    tracing::debug!(attempt, reason = %why, "transaction conflict; running it again");
                    metrics::counter!("ember_worker_tx_conflicts_total").increment(1);
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(TxError::Conflict(why)) => return Err(Failure::Transient(why)),
                Err(TxError::Db(e)) => return Err(classify(e)),
            }
        }
    }

    async fn try_once(
        &self,
        portal: PortalId,
        received_at: DateTime<Utc>,
        events: &[QueuedEvent],
        model: &PortalModel,
    ) -> Result<Summary, TxError> {
        let mut summary = Summary {
            events: events.len(),
            ..Summary::default()
        };
        let keys: Vec<EventKey> = events.iter().map(|e| e.key()).collect();
        let mut tx = self.pool.begin().await?;
        let fresh_keys = dedupe::claim(&mut tx, portal, &keys)
            .await
            .map_err(conflict)?;
        let mut seen = HashSet::with_capacity(fresh_keys.len());
        let mut effects = Vec::with_capacity(fresh_keys.len());
        for (event, key) in events.iter().zip(&keys) {
            if fresh_keys.contains(key) && seen.insert(*key) {
                effects.push(Effect::of(event, received_at));
            } else {
                summary.duplicates += 1;
            }
        }
        if effects.is_empty() {
            tx.commit().await?;
            return Ok(summary);
        }

        let mut ids = Vec::new();
        for e in &effects {
            e.contacts(&mut ids);
        }
        ids.sort_unstable();
        ids.dedup();
        let mut ws = WorkingSet::new();
        if !ids.is_empty() {
            contacts::lock(&mut tx, portal, &ids)
                .await
                .map_err(conflict)?;
            let survivors = load_into(&mut tx, portal, &ids, &mut ws).await?;
            let extra: Vec<ObjectId> = survivors
                .into_iter()
                .filter(|s| ids.binary_search(s).is_err())
                .collect();
            if !extra.is_empty() {
                // Out of order: may deadlock with another transaction; Postgres then aborts one.
                contacts::lock(&mut tx, portal, &extra)
                    .await
                    .map_err(conflict)?;
                if !load_into(&mut tx, portal, &extra, &mut ws)
                    .await?
                    .is_empty()
                {
                    return Err(TxError::Conflict(
                        "a survivor of a merge was merged again meanwhile".into(),
                    ));
                }
            }
        }
        for effect in effects {
            if ws.apply(effect, model) {
                summary.applied += 1;
            } else {
                summary.skipped += 1;
            }
        }
        let changes = ws.finish(model, Utc::now());
        summary.contacts = changes.save.len();
        summary.outbox_writes = changes.outbox.len();

        for &erased in &changes.erasures {
            let mut gone = aliases::erase(&mut tx, portal, erased).await?;
            gone.push(erased);
            dedupe::mark_erased(&mut tx, portal, &gone).await?;
            contacts::delete(&mut tx, portal, &gone).await?;
            outbox::delete(&mut tx, portal, &gone).await?;
            context::cancel(&mut tx, portal, &gone).await?;
        }
        for (old, survivor) in &changes.merges {
            aliases::merge(&mut tx, portal, old, *survivor).await?;
        }
        contacts::delete(&mut tx, portal, &changes.delete).await?;
        context::cancel(&mut tx, portal, &changes.delete).await?;
        contacts::save(&mut tx, portal, &changes.save)
            .await
            .map_err(conflict)?;
        outbox::delete(&mut tx, portal, &changes.outbox_delete).await?;
        outbox::upsert(&mut tx, portal, &changes.outbox).await?;
        summary.context_requests =
            context::request(&mut tx, portal, &changes.context).await? as usize;
        tx.commit().await.map_err(conflict)?;
        Ok(summary)
    }
}

/// Loads rows into the working set; returns the survivors of ids that are aliases.
async fn load_into(
    conn: &mut PgConnection,
    portal: PortalId,
    ids: &[ObjectId],
    ws: &mut WorkingSet,
) -> Result<Vec<ObjectId>, TxError> {
    let keys: Vec<EventKey> = ids
        .iter()
        .map(|id| dedupe::erasure_key(portal, *id))
        .collect();
    let mut survivors = Vec::new();
    for loaded in contacts::load(conn, portal, ids, &keys).await? {
        if loaded.erased {
            ws.add_erased(loaded.id);
        }
        if let Some(current) = loaded.alias_of {
            ws.add_alias(loaded.id, current);
            survivors.push(current);
        }
        if let Some(record) = loaded.record {
            ws.add_record(record);
        }
    }
    survivors.sort_unstable();
    survivors.dedup();
    Ok(survivors)
}

/// Deadlocks and serialization failures are worth an immediate second try.
fn conflict(e: sqlx::Error) -> TxError {
    match &e {
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")) => {
            TxError::Conflict(db.message().to_owned())
        }
        _ => TxError::Db(e),
    }
}

/// Data errors (SQLSTATE classes 22 and 23) cannot succeed on a retry; everything else
/// (connection, pool, timeouts, a server restarting) may.
fn classify(e: sqlx::Error) -> Failure {
    match &e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some(code) if code.starts_with("22") || code.starts_with("23") => {
                Failure::Permanent(format!("database rejected the data: {e}"))
            }
            _ => Failure::Transient(format!("database error: {e}")),
        },
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } | sqlx::Error::Encode(_) => {
            Failure::Permanent(format!("cannot map a row: {e}"))
        }
        _ => Failure::Transient(format!("database unavailable: {e}")),
    }
}

fn record_metrics(s: &Summary) {
    metrics::counter!("ember_worker_events_total", "result" => "applied")
        .increment(s.applied as u64);
    metrics::counter!("ember_worker_events_total", "result" => "duplicate")
        .increment(s.duplicates as u64);
    metrics::counter!("ember_worker_events_total", "result" => "skipped")
        .increment(s.skipped as u64);
    metrics::counter!("ember_worker_outbox_writes_total").increment(s.outbox_writes as u64);
    metrics::counter!("ember_worker_context_requests_total").increment(s.context_requests as u64);
}

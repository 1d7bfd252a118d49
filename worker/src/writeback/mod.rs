//! The write-back: moves scores from the outbox into HubSpot as fast as the portal's limit
//! allows, without ever tripping it (ARCHITECTURE.md, step 4).
//!
//! One turn serves one portal with one `batch/update` call:
//! 1. take a permit from the portal's limiter ([`LimiterGate::reserve`]) *before* locking rows;
//! 2. lock up to 100 of the portal's oldest outbox rows that no other process holds
//!    (`FOR UPDATE SKIP LOCKED`; the outbox already keeps one row per contact, newest values);
//! 3. send only the values that differ from what HubSpot last acknowledged (`""` clears);
//! 4. settle every row of the (multi-status) answer ([`plan::classify`]): written rows leave the
//!    outbox *at the version sent* (a newer value that arrived meanwhile stays and goes next);
//!    `OBJECT_NOT_FOUND` is resolved with a single read, which follows merges: a merged id is
//!    written to the surviving record with a single update (unless Ember has a score of the
//!    survivor's own, which is newer and wins), a deleted contact is retired; a
//!    missing property is provisioned again and the row retried in the next batch; a bad
//!    value is dead-lettered with HubSpot's reason; anything else stays for a retry;
//! 5. commit. A failed call (5xx, timeout, reset, 429) leaves every row where it was and the
//!    portal backs off exponentially with full jitter. Nothing is dropped.
//!
//! Portals take turns round-robin ([`plan::Rotation`]), at most one turn per portal at a time
//! per process and `concurrency` turns in all, so a huge portal gets the same turns as a
//! small one, and its limiter waits never hold rows.
//!
//! Two rules keep the calls near the minimum (one call per 100 contacts whose values changed)
//! while events still flow, since HubSpot's limit is counted in calls, not rows:
//! - **linger**: a portal with fewer than a full batch ready waits up to
//!   [`WritebackOptions::linger`] since its oldest pending row before sending a partial batch,
//!   so that rows arriving meanwhile share the call (a full batch goes at once); within the
//!   linger it goes as soon as the portal has been **quiet** ([`WritebackOptions::quiet`]: no
//!   new score for that long), so a burst is written right after it ends, in full batches;
//!
//!   Both are timing: nothing the write-back can read says whether more scores for the portal
//!   are coming (the events queue is shared by every portal). On a loaded machine a pause in
//!   processing longer than `quiet` splits a burst into more, smaller calls, never into wrong
//!   values; so tests assert calls ≤ rows written, and the minimum only in a benchmark
//!   (worker/README.md, "Write-back");
//! - a contact whose snapshot still waits for its context fetch is not written yet (up to
//!   [`WritebackOptions::context_wait`]): its score lacks the fit properties and is about to
//!   change (the fetch rescores it at once).
//!
//! HubSpot is reached through [`Crm`], three capability-sized calls the worker implements over
//! `ember_hubspot::HubSpot` (built `.with_gate(gate)`) and its token store.

pub mod hubspot_crm;
pub mod limits;
pub mod plan;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ember_core::config::{MAX_WRITEBACK_BATCH, WorkerSettings};
use ember_core::domain::{ObjectId, PortalId};
use ember_core::limiter::LimitError;
use ember_core::store::{outbox, writeback_dead_letters};
use ember_hubspot::crm::{BatchUpdate, RowResult, UpdateRow};
use sqlx::PgPool;
use tokio::task::JoinSet;

pub use ember_core::limiter::LimiterGate;

/// After a timed-out call, the portal waits at least this long before sending again.
const TIMEOUT_SETTLE: Duration = Duration::from_secs(15);
pub use ember_core::store::outbox::{OutboxRow, Values};
pub use plan::{Backoff, Disposition, Rotation};

/// The HubSpot calls the write-back makes. Every implementation's calls must go through the
/// portal's limiter (a `HubSpot` client built with [`LimiterGate`]).
pub trait Crm: Send + Sync + 'static {
    /// `POST /crm/objects/2026-09/contacts/batch/update` with up to 100 rows.
    fn batch_update(
        &self,
        portal: PortalId,
        rows: Vec<UpdateRow>,
    ) -> impl Future<Output = Result<BatchUpdate, ember_hubspot::Error>> + Send;

    /// Where a contact id that batch endpoints do not know lives now: `Some(id)` of the
    /// record a single read resolves it to (merges are followed), `None` if it is gone.
    fn resolve(
        &self,
        portal: PortalId,
        id: &str,
    ) -> impl Future<Output = Result<Option<String>, ember_hubspot::Error>> + Send;

    /// Creates Ember's property group and score properties where missing (idempotent).
    fn provision(
        &self,
        portal: PortalId,
    ) -> impl Future<Output = Result<(), ember_hubspot::Error>> + Send;
}

/// How the write-back runs: the `writeback_*` keys of `[worker]`
/// ([`WritebackOptions::from_settings`]).
#[derive(Debug, Clone)]
pub struct WritebackOptions {
    /// Contacts per `batch/update` call (HubSpot's maximum is 100).
    pub max_batch: usize,
    /// Portals served at once by this process.
    pub concurrency: usize,
    /// How often the outbox is scanned for portals with work.
    pub poll: Duration,
    /// Retry delays after a failed call.
    pub backoff: Backoff,
    /// Longest wait, since a portal's oldest pending row, before a partial batch is sent. Zero
    /// sends at once.
    pub linger: Duration,
    /// Within the linger, a partial batch also goes once no new score has arrived for this
    /// long (the portal's burst is over). Zero turns it off (only the linger counts).
    pub quiet: Duration,
    /// Longest wait for a contact's context (fetched from HubSpot) before its score is sent
    /// without it. A fetch normally fills it within a second; this bounds the wait when
    /// fetches keep failing. Zero never waits (a process without the context fetch).
    pub context_wait: Duration,
}

impl WritebackOptions {
    pub fn from_settings(settings: &WorkerSettings) -> Self {
        Self {
            max_batch: settings.writeback_max_batch,
            concurrency: settings.writeback_concurrency,
            poll: Duration::from_millis(settings.writeback_poll_ms),
            backoff: Backoff {
                base: Duration::from_millis(settings.writeback_backoff_base_ms),
                cap: Duration::from_millis(settings.writeback_backoff_cap_ms),
            },
            linger: Duration::from_millis(settings.writeback_linger_ms),
            quiet: Duration::from_millis(settings.writeback_quiet_ms),
            context_wait: Duration::from_millis(settings.writeback_context_wait_ms),
        }
    }
}

/// What one turn did (for metrics, logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Turn {
    /// No pending row was free.
    pub idle: bool,
    /// The limiter gave no permit in time (`wait` says how long to wait).
    pub limited: bool,
    /// Less than a full batch is ready and the oldest row is younger than the linger (`wait`
    /// says how long it may still wait).
    pub lingering: bool,
    /// Rows sent in the batch call.
    pub sent: usize,
    /// Rows written (or already up to date).
    pub done: usize,
    /// Rows written to the record their contact was merged into.
    pub merged: usize,
    /// Rows of deleted contacts, retired.
    pub retired: usize,
    /// Rows left for a retry.
    pub retry: usize,
    /// Rows dead-lettered.
    pub dead: usize,
    /// Whether properties were provisioned.
    pub provisioned: bool,
    /// The failure of the batch call, if it failed as a whole.
    pub error: Option<String>,
    /// How long HubSpot or the limiter asked us to wait.
    pub wait: Option<Duration>,
}

/// The write-back of one process.
pub struct Writeback<C: Crm> {
    pool: PgPool,
    crm: Arc<C>,
    gate: Arc<LimiterGate>,
    options: WritebackOptions,
}

impl<C: Crm> Writeback<C> {
    /// Prepares the write-back (its tables come from the migrations).
    pub async fn new(
        pool: PgPool,
        crm: Arc<C>,
        gate: Arc<LimiterGate>,
        options: WritebackOptions,
    ) -> anyhow::Result<Self> {
        let options = WritebackOptions {
            max_batch: options.max_batch.clamp(1, MAX_WRITEBACK_BATCH),
            ..options
        };
        Ok(Self {
            pool,
            crm,
            gate,
            options,
        })
    }

    /// Drains the outbox until `shutdown` resolves; turns in flight finish first.
    pub async fn run_until_stopped(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send) {
        let mut rotation = Rotation::default();
        let mut busy: HashSet<PortalId> = HashSet::new();
        let mut inflight: JoinSet<(PortalId, anyhow::Result<Turn>)> = JoinSet::new();
        let mut last_scan: Option<Instant> = None;
        tokio::pin!(shutdown);
        loop {
            let now = Instant::now();
            if last_scan.is_none_or(|t| now.duration_since(t) >= self.options.poll) {
                match outbox::pending_portals(&self.pool).await {
                    Ok(portals) => rotation.sync(&portals),
                    Err(e) => {
                        tracing::warn!(error = %e, "Write-back could not list portals with pending writes.")
                    }
                }
                last_scan = Some(now);
            }
            while inflight.len() < self.options.concurrency {
                let Some(portal) = rotation.next(now, |p| busy.contains(&p)) else {
                    break;
                };
                busy.insert(portal);
                let this = self.clone();
                inflight.spawn(async move { (portal, this.turn(portal).await) });
            }
            tokio::select! {
                _ = &mut shutdown => break,
                Some(joined) = inflight.join_next(), if !inflight.is_empty() => {
                    let Ok((portal, result)) = joined else { continue };
                    busy.remove(&portal);
                    self.after_turn(&mut rotation, portal, result);
                }
                _ = tokio::time::sleep(self.options.poll / 4) => {}
            }
        }
        while let Some(joined) = inflight.join_next().await {
            if let Ok((portal, result)) = joined {
                self.after_turn(&mut rotation, portal, result);
            }
        }
    }

    fn after_turn(&self, rotation: &mut Rotation, portal: PortalId, result: anyhow::Result<Turn>) {
        let now = Instant::now();
        match result {
            Ok(t) if t.idle => rotation.defer(portal, now + self.options.poll),
            // Looked at again at least every poll: a full batch may be ready before the linger ends.
            Ok(t) if t.lingering => rotation.defer(
                portal,
                now + t.wait.unwrap_or(self.options.poll).min(self.options.poll),
            ),
            Ok(t) if t.limited => rotation.defer(portal, now + t.wait.unwrap_or(self.options.poll)),
            Ok(t) if t.error.is_some() || t.retry > 0 => {
                let wait = rotation.failed(portal, now, &self.options.backoff, t.wait);
                tracing::debug!(portal = %portal, error = ?t.error, retry = t.retry, wait_ms = wait.as_millis() as u64,
                    "Write-back will retry the portal's rows.");
            }
            Ok(_) => rotation.succeeded(portal),
            Err(e) => {
                let wait = rotation.failed(portal, now, &self.options.backoff, None);
                tracing::warn!(portal = %portal, error = %e, cause = ?e.source(), wait_ms = wait.as_millis() as u64,
                    "Write-back turn failed; it will be retried.");
            }
        }
    }

    /// How much longer a batch of `rows` waits for more (`None`: send it now). A full batch
    /// never waits; a partial one waits while its oldest row is younger than the linger and,
    /// when a quiet period is set, while scores are still arriving.
    fn hold(&self, rows: usize, oldest_age: Duration, newest_age: Duration) -> Option<Duration> {
        let o = &self.options;
        if rows >= o.max_batch || oldest_age >= o.linger {
            return None;
        }
        let linger_left = o.linger - oldest_age;
        if o.quiet.is_zero() {
            return Some(linger_left);
        }
        (newest_age < o.quiet).then(|| linger_left.min(o.quiet - newest_age))
    }

    /// One batch for one portal (see the module docs): prepare the batch, send it, settle
    /// every row of the answer, commit.
    pub async fn turn(&self, portal: PortalId) -> anyhow::Result<Turn> {
        let (mut round, send) = match self.prepare(portal).await? {
            Prepared::Batch(round, send) => (round, send),
            Prepared::Not(turn) => return Ok(turn),
        };
        if !send.is_empty() {
            self.send(&mut round, send).await?;
        }
        let Round {
            mut tx,
            turn,
            settle,
            ..
        } = round;
        outbox::settle(&mut tx, portal, &settle.done, &settle.retired)
            .await
            .context("Failed to settle outbox rows.")?;
        tx.commit()
            .await
            .context("Failed to commit the write-back transaction.")?;
        count_rows(&turn);
        Ok(turn)
    }

    /// The portal's batch, claimed in a transaction, with the rows whose values HubSpot already
    /// has settled as done; or why there is none this turn (idle, lingering, limited).
    async fn prepare(&self, portal: PortalId) -> anyhow::Result<Prepared> {
        let max_batch = self.options.max_batch as i64;
        // Before the permit: a lingering portal must not spend one.
        let ready = outbox::ready(&self.pool, portal, max_batch, self.options.context_wait)
            .await
            .context("Failed to look at the portal's pending rows.")?;
        if ready.rows == 0 {
            return Ok(Prepared::idle());
        }
        if let Some(wait) = self.hold(ready.rows as usize, ready.oldest_age, ready.newest_age) {
            return Ok(Prepared::lingering(wait));
        }
        if let Err(e) = self.gate.reserve(portal).await {
            if matches!(e, LimitError::DailyExhausted { .. }) {
                tracing::warn!(portal = %portal, error = %e, "Write-back paused: the portal's daily API budget is spent.");
            }
            return Ok(Prepared::Not(Turn {
                limited: true,
                wait: Some(e.retry_after()),
                ..Turn::default()
            }));
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .context("Failed to begin the write-back transaction.")?;
        let claimed = outbox::claim(&mut tx, portal, max_batch, self.options.context_wait)
            .await
            .context("Failed to claim outbox rows.")?;
        if claimed.rows.is_empty() {
            tx.commit().await?;
            return Ok(Prepared::idle());
        }
        // Another process may have taken part of what looked like a full batch: what is left
        // lingers like any partial batch.
        if let Some(wait) = self.hold(claimed.rows.len(), claimed.oldest_age, claimed.newest_age) {
            tx.rollback().await?;
            return Ok(Prepared::lingering(wait));
        }
        let rows = plan::coalesce(claimed.rows);
        let ids: Vec<_> = rows.iter().map(|r| r.contact_id).collect();
        let written = outbox::written(&mut tx, portal, &ids)
            .await
            .context("Failed to read written values.")?;
        let mut round = Round {
            portal,
            tx,
            turn: Turn::default(),
            settle: Settle::default(),
        };
        let mut send = Vec::new();
        for row in rows {
            let changed = plan::changed(written.get(&row.contact_id), &row.properties);
            if changed.is_empty() {
                round.turn.done += 1;
                round
                    .settle
                    .done
                    .push((row.contact_id, row.version, Values::new()));
            } else {
                send.push((row, changed));
            }
        }
        Ok(Prepared::Batch(round, send))
    }

    /// The batch call, and each row of its answer settled into the round. A request refused
    /// as a whole is retried row by row, so that one bad row cannot hold the others.
    async fn send(&self, round: &mut Round, send: Vec<(OutboxRow, Values)>) -> anyhow::Result<()> {
        let portal = round.portal;
        round.turn.sent = send.len();
        let batch: Vec<UpdateRow> = send
            .iter()
            .map(|(r, changed)| UpdateRow {
                id: r.contact_id.to_string(),
                properties: changed.clone(),
            })
            .collect();
        match self.crm.batch_update(portal, batch).await {
            Ok(answer) => {
                // HubSpot answers rows in any order: match them by id.
                let mut results: HashMap<String, RowResult> =
                    answer.rows.into_iter().map(|o| (o.id, o.result)).collect();
                for (row, changed) in send {
                    let result = results
                        .remove(&row.contact_id.to_string())
                        .unwrap_or(RowResult::Unknown);
                    self.settle_row(round, row, changed, plan::classify(&result))
                        .await?;
                }
            }
            Err(e) if !e.is_transient() && e.status() == Some(400) && send.len() > 1 => {
                tracing::warn!(portal = %portal, error = %e, "HubSpot refused a whole batch; retrying its rows one by one.");
                for (row, changed) in send {
                    let disposition = self.send_alone(portal, &row, &changed).await;
                    self.settle_row(round, row, changed, disposition).await?;
                }
            }
            Err(e) => self.call_failed(round, send.len(), e).await,
        }
        Ok(())
    }

    /// One row in a call of its own, and what became of it.
    async fn send_alone(&self, portal: PortalId, row: &OutboxRow, changed: &Values) -> Disposition {
        let one = vec![UpdateRow {
            id: row.contact_id.to_string(),
            properties: changed.clone(),
        }];
        match self.crm.batch_update(portal, one).await {
            Ok(a) => plan::classify(
                &a.rows
                    .first()
                    .map(|o| o.result.clone())
                    .unwrap_or(RowResult::Unknown),
            ),
            Err(e) if e.status() == Some(400) => Disposition::BadValue {
                category: e.category().unwrap_or("VALIDATION_ERROR").to_owned(),
                reason: e.to_string(),
            },
            Err(e) => Disposition::Transient(e.to_string()),
        }
    }

    /// A batch call that failed as a whole: every row stays for a retry, after the wait HubSpot
    /// asked for (or, after a timeout, long enough for the lost request to land).
    async fn call_failed(&self, round: &mut Round, rows: usize, e: ember_hubspot::Error) {
        use ember_hubspot::wire::rate_limit::POLICY_DAILY;
        if let ember_hubspot::Error::Api(a) = &e
            && a.policy.as_deref() == Some(POLICY_DAILY)
        {
            self.gate.observe_policy(round.portal, POLICY_DAILY).await;
        }
        metrics::counter!("ember_writeback_calls_failed_total", "kind" => e.kind()).increment(1);
        let t = &mut round.turn;
        t.retry += rows;
        t.wait = e.retry_after();
        if matches!(e, ember_hubspot::Error::Transport { timeout: true, .. }) {
            // The timed-out request may still reach HubSpot: give it time to land before these
            // rows (or newer values of them) are sent again.
            t.wait = Some(t.wait.unwrap_or_default().max(TIMEOUT_SETTLE));
        }
        t.error = Some(e.to_string());
    }

    /// Settles one row of an answer into the round: written, merged, retired, retried or
    /// dead-lettered.
    async fn settle_row(
        &self,
        round: &mut Round,
        row: OutboxRow,
        changed: Values,
        disposition: Disposition,
    ) -> anyhow::Result<()> {
        match disposition {
            Disposition::Done => {
                round.turn.done += 1;
                round
                    .settle
                    .done
                    .push((row.contact_id, row.version, changed));
            }
            Disposition::NotFound => self.settle_not_found(round, row).await?,
            Disposition::MissingProperty(name) => self.reprovision(round, &name).await,
            Disposition::BadValue { category, reason } => {
                self.dead(round, &row, &category, &reason).await?
            }
            Disposition::Transient(_) => round.turn.retry += 1,
        }
        Ok(())
    }

    /// A row HubSpot has no such contact for: deleted (retired), or merged into another
    /// record, which then gets the values unless it has a score of its own.
    async fn settle_not_found(&self, round: &mut Round, row: OutboxRow) -> anyhow::Result<()> {
        let portal = round.portal;
        let own = row.contact_id.to_string();
        let current = match self.crm.resolve(portal, &own).await {
            Ok(None) => {
                tracing::info!(portal = %portal, contact = %row.contact_id, "Contact deleted in HubSpot; its pending score is retired.");
                round.retire(&row);
                return Ok(());
            }
            Ok(Some(current)) if current != own => current,
            Ok(Some(_)) | Err(_) => {
                round.turn.retry += 1;
                return Ok(());
            }
        };
        let Some(survivor) = survivor_id(&current) else {
            // A survivor id that is no contact id: writing to it cannot succeed, and asking
            // again gets the same answer. A permanent failure of this row.
            let reason = format!(
                "HubSpot resolved contact {} to {current:?}, which is not a contact id",
                row.contact_id
            );
            let category = writeback_dead_letters::INVALID_SURVIVOR;
            return self.dead(round, &row, category, &reason).await;
        };
        if outbox::has_own_score(&mut round.tx, portal, survivor).await? {
            // Merged into a record Ember scores itself: that newer score wins.
            tracing::info!(portal = %portal, contact = %row.contact_id, survivor = %current,
                "Contact was merged into a record with its own score; its pending score is retired.");
            round.retire(&row);
            return Ok(());
        }
        // Merged: the survivor gets every value, with a single update.
        let one = vec![UpdateRow {
            id: current.clone(),
            properties: row.properties.clone(),
        }];
        let result = self.crm.batch_update(portal, one).await.map(|a| {
            a.rows
                .into_iter()
                .next()
                .map(|o| o.result)
                .unwrap_or(RowResult::Unknown)
        });
        match result {
            Ok(RowResult::Updated) => {
                tracing::info!(portal = %portal, contact = %row.contact_id, survivor = %current,
                    "Contact was merged; its score was written to the surviving record.");
                round.turn.merged += 1;
                round.settle.retired.push((row.contact_id, row.version));
            }
            Ok(result) => match plan::classify(&result) {
                Disposition::BadValue { category, reason } => {
                    self.dead(round, &row, &category, &reason).await?
                }
                _ => round.turn.retry += 1,
            },
            Err(_) => round.turn.retry += 1,
        }
        Ok(())
    }

    /// A score property HubSpot says is missing (deleted by someone): provisioned again, once
    /// per turn; the row goes with the next batch (it stays the oldest).
    async fn reprovision(&self, round: &mut Round, name: &Option<String>) {
        let t = &mut round.turn;
        if !t.provisioned {
            match self.crm.provision(round.portal).await {
                Ok(()) => {
                    tracing::warn!(portal = %round.portal, property = ?name,
                        "A score property was missing in HubSpot; provisioned it again.");
                    t.provisioned = true;
                }
                Err(e) => {
                    tracing::warn!(portal = %round.portal, error = %e, "Provisioning the score properties failed.");
                    t.error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        if !t.provisioned {
            t.retry += 1;
        }
    }

    async fn dead(
        &self,
        round: &mut Round,
        row: &OutboxRow,
        category: &str,
        reason: &str,
    ) -> anyhow::Result<()> {
        tracing::error!(portal = %round.portal, contact = %row.contact_id, version = row.version, category, reason,
            "A score write cannot succeed; dead-lettered (HubSpot refused a value Ember wrote, or named a survivor that is no contact id).");
        writeback_dead_letters::record(&mut round.tx, round.portal, row, category, reason)
            .await
            .context("Failed to dead-letter a write.")?;
        round.turn.dead += 1;
        Ok(())
    }
}

/// Counts a turn's rows by outcome.
fn count_rows(t: &Turn) {
    for (outcome, n) in [
        ("written", t.done),
        ("merged", t.merged),
        ("retired", t.retired),
        ("retry", t.retry),
        ("dead_letter", t.dead),
    ] {
        if n > 0 {
            metrics::counter!("ember_writeback_rows_total", "outcome" => outcome)
                .increment(n as u64);
        }
    }
}

/// The contact id HubSpot's resolved `id` names, if it is one.
fn survivor_id(id: &str) -> Option<ObjectId> {
    ObjectId::new(id.parse().ok()?).ok()
}

/// One turn's claimed batch in its transaction: the counts so far and the rows to settle.
struct Round {
    portal: PortalId,
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    turn: Turn,
    settle: Settle,
}

impl Round {
    /// The row's contact is gone (deleted, or merged into a record with its own score).
    fn retire(&mut self, row: &OutboxRow) {
        self.turn.retired += 1;
        self.settle.retired.push((row.contact_id, row.version));
    }
}

/// What [`Writeback::prepare`] found.
enum Prepared {
    /// A claimed batch and the rows of it to send.
    Batch(Round, Vec<(OutboxRow, Values)>),
    /// No batch this turn; the turn says why.
    Not(Turn),
}

impl Prepared {
    fn idle() -> Self {
        Prepared::Not(Turn {
            idle: true,
            ..Turn::default()
        })
    }

    fn lingering(wait: Duration) -> Self {
        Prepared::Not(Turn {
            lingering: true,
            wait: Some(wait),
            ..Turn::default()
        })
    }
}

#[derive(Default)]
struct Settle {
    done: Vec<(ObjectId, i64, Values)>,
    retired: Vec<(ObjectId, i64)>,
}

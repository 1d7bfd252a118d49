//! On-demand resync of one portal (`ember portal resync ID`, docs/resync.md).
//!
//! Pages through every unarchived contact of the portal with HubSpot's list endpoint
//! (`GET /crm/objects/2026-09/contacts?limit=100&after=..&properties=..`, docs/hubspot.md E),
//! asking only for the properties the portal's active model reads (`Model::read_properties`).
//! Each page is applied in ONE Postgres transaction, with the worker's own rules
//! ([`crate::effects`]):
//! 1. `resyncs::lock_current`: the run still expects this page (another runner of the same
//!    resync that got there first makes this one stop, so no page is applied twice);
//! 2. `contacts::lock` + `contacts::load` of the page's contacts, as the processing consumer
//!    does;
//! 3. every value goes through [`WorkingSet::set_reported`] at the record's `updatedAt`: the
//!    same last-writer-wins rule as a live event, so a live change newer than HubSpot's record
//!    keeps its value; a contact Ember holds as deleted is restored at that time (HubSpot lists
//!    it as existing), unless its deletion is newer;
//! 4. [`WorkingSet::finish`] rescores every listed contact; an outbox row is written only when
//!    the values to write change, so the write-back is the worker's normal one;
//! 5. `resyncs::advance` stores the next page's cursor and the page's counts, and commits.
//!
//! A crash before the commit leaves nothing of the page; a restart resumes at the stored cursor.
//!
//! Budget: every list call goes through the limiter-gated client (the portal's
//! `AccountLimits` from the portals table), and the loop leaves at least [`list_interval`]
//! between two calls, so the resync's calls are at most `resync.share` of the account's burst in
//! any limiter window. Live traffic takes its permits from the same limiter: the pacing keeps
//! the rest of the burst for it, the limiter keeps both together under the account's limit.
//!
//! Engagement history is not reconstructed: values read back add no ledger entries.
//!
//! Metrics: `ember_resync_contacts_total{stage="read|scored"}`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use ember_core::config::{LimiterSettings, Settings};
use ember_core::domain::{ObjectId, PortalId};
use ember_core::limiter::{AccountLimits, AppType, LimiterGate};
use ember_core::scoring::Model;
use ember_core::store::contacts::ContactStatus;
use ember_core::store::portals::{self, PortalStatus};
use ember_core::store::resyncs::{self, PageCounts, Resync};
use ember_core::store::{contacts, context, dedupe, models, outbox};
use ember_hubspot::crm::MAX_LIST_LIMIT;
use ember_hubspot::wire::crm::CollectionResponse;
use sqlx::PgPool;
use tokio::time::Instant;

use crate::effects::{Effect, WorkingSet};
use crate::model::PortalModel;
use crate::writeback::hubspot_crm::{HubSpotCrm, token_failure};

/// How a resync runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ResyncOptions {
    /// Abandon an unfinished resync of the portal and start from the first page.
    pub restart: bool,
    /// Stop (unfinished, resumable) after this many pages of this run; `None`: all pages.
    pub max_pages: Option<u64>,
    /// `resync.share`: the share of the account's burst the list calls may take.
    pub share: f64,
}

/// Why a resync did not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error("portal {0} is not known")]
    UnknownPortal(PortalId),
    #[error("portal {0} has uninstalled Ember; nothing to resync")]
    Uninstalled(PortalId),
    #[error(
        "portal {0} must be re-authorized before a resync (HubSpot rejected its refresh token)"
    )]
    NeedsReauth(PortalId),
    #[error("another runner started a resync of portal {0} at the same time; this one stops")]
    AlreadyStarted(PortalId),
    #[error(
        "another runner advanced or ended resync {resync_id} of portal {portal}; this one stops"
    )]
    Superseded { portal: PortalId, resync_id: i64 },
    #[error("the model of portal {0} cannot be used: {1}")]
    Model(PortalId, String),
    #[error(
        "listing the contacts of portal {portal} failed (run the resync again to resume after its {pages} committed pages)"
    )]
    HubSpot {
        portal: PortalId,
        pages: i64,
        #[source]
        source: ember_hubspot::Error,
    },
    #[error("database error during the resync of portal {portal}")]
    Database {
        portal: PortalId,
        #[source]
        source: sqlx::Error,
    },
}

impl ResyncError {
    /// A refusal before anything changed (unknown, uninstalled or unauthorized portal).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ResyncError::UnknownPortal(_)
                | ResyncError::Uninstalled(_)
                | ResyncError::NeedsReauth(_)
        )
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncReport {
    /// The resync's row after the last committed page (totals over every run of it).
    pub resync: Resync,
    /// Whether this run resumed an unfinished resync.
    pub resumed: bool,
    /// List calls this run made.
    pub list_calls: u64,
}

/// The least time between two list calls: the limiter's window (with its padding) divided by
/// `floor(burst × (1 − safety margin) × share)` calls, at least one call per window. A run
/// paced so makes at most that many calls in any window.
pub fn list_interval(limits: &AccountLimits, limiter: &LimiterSettings, share: f64) -> Duration {
    let burst = match limits.app {
        AppType::Public => limiter.public_burst,
        AppType::Private { burst, .. } => burst,
    };
    let usable = (f64::from(burst) * (1.0 - limiter.safety_margin)).floor();
    let calls = (usable * share).floor().max(1.0) as u32;
    Duration::from_millis(limiter.window_ms + limiter.window_padding_ms) / calls
}

/// Runs the portal's resync in the foreground.
pub struct Resyncer {
    pool: PgPool,
    crm: Arc<HubSpotCrm>,
    gate: Arc<LimiterGate>,
    limiter: LimiterSettings,
}

impl Resyncer {
    /// `crm`'s client must be gated by `gate`.
    pub fn new(
        pool: PgPool,
        crm: Arc<HubSpotCrm>,
        gate: Arc<LimiterGate>,
        limiter: LimiterSettings,
    ) -> Self {
        Self {
            pool,
            crm,
            gate,
            limiter,
        }
    }

    /// The resyncer the settings describe: a limiter-gated HubSpot client over the shared Redis
    /// limiter, the token manager (needs `EMBER_ENCRYPTION_KEY`), and `[limiter]`.
    pub fn from_settings(settings: &Settings, pool: PgPool) -> anyhow::Result<Self> {
        settings
            .require_encryption_key()
            .context("a resync opens the portal's tokens")?;
        let (crm, gate) = HubSpotCrm::from_settings(settings, pool.clone())?;
        Ok(Self::new(pool, crm, gate, settings.limiter.clone()))
    }

    /// Waits until the limiter has recorded every HubSpot answer seen (before the process ends).
    pub async fn settled(&self) {
        self.gate.settled().await;
    }

    /// Resyncs `portal` (resuming its unfinished resync unless `options.restart`), calling
    /// `progress` after every committed page.
    pub async fn run(
        &self,
        portal: PortalId,
        options: &ResyncOptions,
        mut progress: impl FnMut(&Resync),
    ) -> Result<ResyncReport, ResyncError> {
        let db = |source| ResyncError::Database { portal, source };
        let summary = portals::summary(&self.pool, portal)
            .await
            .map_err(db)?
            .ok_or(ResyncError::UnknownPortal(portal))?;
        match summary.status {
            PortalStatus::Active => {}
            PortalStatus::Uninstalled => return Err(ResyncError::Uninstalled(portal)),
            PortalStatus::NeedsReauth => return Err(ResyncError::NeedsReauth(portal)),
        }
        let (model, reads) = self.model(portal).await?;
        let limits = AccountLimits::of_portal(summary.app_kind, summary.private_tier);
        self.gate.set_limits(portal, limits);
        let interval = list_interval(&limits, &self.limiter, options.share);

        if options.restart {
            resyncs::abandon(&self.pool, portal, "abandoned by a restart")
                .await
                .map_err(db)?;
        }
        let (mut resync, resumed) =
            match resyncs::unfinished(&self.pool, portal).await.map_err(db)? {
                Some(r) => (r, true),
                None => match resyncs::start(&self.pool, portal).await.map_err(db)? {
                    Some(r) => (r, false),
                    // Another runner started one between the two statements.
                    None => return Err(ResyncError::AlreadyStarted(portal)),
                },
            };
        let mut report = ResyncReport {
            resync: resync.clone(),
            resumed,
            list_calls: 0,
        };
        let mut last_call: Option<Instant> = None;
        while resync.finished_at.is_none() {
            if options
                .max_pages
                .is_some_and(|max| report.list_calls >= max)
            {
                break;
            }
            if let Some(at) = last_call {
                tokio::time::sleep_until(at + interval).await;
            }
            last_call = Some(Instant::now());
            let page = match self.list(portal, resync.cursor.as_deref(), &reads).await {
                Ok(page) => page,
                Err(source) => {
                    let message = source.to_string();
                    if let Err(e) =
                        resyncs::record_failure(&self.pool, portal, resync.resync_id, &message)
                            .await
                    {
                        tracing::warn!(portal_id = portal.get(), error = %e, "Could not record the resync's failure.");
                    }
                    return Err(ResyncError::HubSpot {
                        portal,
                        pages: resync.pages,
                        source,
                    });
                }
            };
            report.list_calls += 1;
            resync = match self
                .apply_page(portal, &resync, &model, &reads, &page)
                .await
            {
                Ok(advanced) => advanced,
                Err(e) => {
                    if matches!(e, ResyncError::Database { .. }) {
                        // Best effort: the database may be what failed.
                        if let Err(why) = resyncs::record_failure(
                            &self.pool,
                            portal,
                            resync.resync_id,
                            &e.to_string(),
                        )
                        .await
                        {
                            tracing::warn!(portal_id = portal.get(), error = %why, "Could not record the resync's failure.");
                        }
                    }
                    return Err(e);
                }
            };
            progress(&resync);
        }
        report.resync = resync;
        Ok(report)
    }

    /// The portal's active model (the built-in default without one) and what it reads.
    async fn model(&self, portal: PortalId) -> Result<(PortalModel, Vec<String>), ResyncError> {
        let (version, document) = match models::active(&self.pool, portal)
            .await
            .map_err(|source| ResyncError::Database { portal, source })?
        {
            Some((version, document)) => (
                version,
                serde_json::from_value::<Model>(document)
                    .map_err(|e| ResyncError::Model(portal, format!("version {version}: {e}")))?,
            ),
            None => (0, Model::default_model()),
        };
        let compiled = PortalModel::new(version, &document)
            .map_err(|e| ResyncError::Model(portal, e.to_string()))?;
        Ok((compiled, document.read_properties().into_iter().collect()))
    }

    /// One gated list call, with the token manager's refresh-once on a 401.
    async fn list(
        &self,
        portal: PortalId,
        after: Option<&str>,
        reads: &[String],
    ) -> Result<CollectionResponse, ember_hubspot::Error> {
        let client = self.crm.client();
        self.crm
            .tokens()
            .with_token(portal, |token| async move {
                client
                    .list_contacts(portal.get(), &token, MAX_LIST_LIMIT, after, reads)
                    .await
                    .map(|r| r.value)
            })
            .await
            .map_err(token_failure)
    }

    /// Applies one page and advances the cursor, in one transaction (see the module docs).
    async fn apply_page(
        &self,
        portal: PortalId,
        resync: &Resync,
        model: &PortalModel,
        reads: &[String],
        page: &CollectionResponse,
    ) -> Result<Resync, ResyncError> {
        let db = |source| ResyncError::Database { portal, source };
        let mut tx = self.pool.begin().await.map_err(db)?;
        if resyncs::lock_current(&mut tx, portal, resync.resync_id, resync.cursor.as_deref())
            .await
            .map_err(db)?
            .is_none()
        {
            return Err(ResyncError::Superseded {
                portal,
                resync_id: resync.resync_id,
            });
        }
        let records: Vec<_> = page
            .results
            .iter()
            .filter(|r| !r.archived)
            .filter_map(|r| Some((r.id.parse().ok().and_then(|i| ObjectId::new(i).ok())?, r)))
            .collect();
        let mut ids: Vec<ObjectId> = records.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut ws = WorkingSet::new();
        // Ids Ember knows as merged into another contact: HubSpot lists only current records,
        // so such an id is left alone rather than applied to a survivor that is not loaded.
        let mut aliases = Vec::new();
        let mut deleted = Vec::new();
        if !ids.is_empty() {
            contacts::lock(&mut tx, portal, &ids).await.map_err(db)?;
            let keys: Vec<_> = ids
                .iter()
                .map(|id| dedupe::erasure_key(portal, *id))
                .collect();
            for loaded in contacts::load(&mut tx, portal, &ids, &keys)
                .await
                .map_err(db)?
            {
                if loaded.erased {
                    ws.add_erased(loaded.id);
                }
                if loaded.alias_of.is_some() {
                    aliases.push(loaded.id);
                    continue;
                }
                if let Some(record) = loaded.record {
                    if record.status == ContactStatus::Deleted {
                        deleted.push(record.contact_id);
                    }
                    ws.add_record(record);
                }
            }
        }
        for (id, record) in &records {
            if aliases.contains(id) {
                continue;
            }
            if deleted.contains(id) {
                ws.apply(
                    Effect::Restore {
                        contact: *id,
                        at: record.updated_at,
                    },
                    model,
                );
            }
            for name in reads {
                let value = record
                    .properties
                    .get(name)
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                ws.set_reported(*id, name, &value, record.updated_at);
            }
        }
        let changes = ws.finish(model, Utc::now());
        let counts = PageCounts {
            contacts_read: page.results.len() as i64,
            contacts_scored: changes
                .save
                .iter()
                .filter(|r| r.status == ContactStatus::Active)
                .count() as i64,
            outbox_writes: changes.outbox.len() as i64,
        };
        contacts::save(&mut tx, portal, &changes.save)
            .await
            .map_err(db)?;
        outbox::delete(&mut tx, portal, &changes.outbox_delete)
            .await
            .map_err(db)?;
        outbox::upsert(&mut tx, portal, &changes.outbox)
            .await
            .map_err(db)?;
        // Every property the fit rules read was set above; a contact can lack one only if the
        // model changed meanwhile, and then the context fetch fills it as usual.
        context::request(&mut tx, portal, &changes.context)
            .await
            .map_err(db)?;
        let next = page
            .paging
            .as_ref()
            .and_then(|p| p.next.as_ref())
            .map(|n| n.after.as_str());
        let advanced = resyncs::advance(&mut tx, portal, resync.resync_id, next, counts)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        metrics::counter!("ember_resync_contacts_total", "stage" => "read")
            .increment(counts.contacts_read as u64);
        metrics::counter!("ember_resync_contacts_total", "stage" => "scored")
            .increment(counts.contacts_scored as u64);
        Ok(advanced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_core::limiter::PortalZone;

    fn limiter() -> LimiterSettings {
        LimiterSettings {
            public_burst: 110,
            window_ms: 10_000,
            safety_margin: 0.05,
            window_padding_ms: 250,
            processes: 1,
            max_wait_ms: 30_000,
            redis_timeout_ms: 250,
        }
    }

    #[test]
    fn the_interval_leaves_the_rest_of_the_burst_to_live_traffic() {
        let public = AccountLimits::public(PortalZone::UTC);
        // 110 × 0.95 = 104 usable, half of it 52 calls per 10.25 s window.
        assert_eq!(
            list_interval(&public, &limiter(), 0.5),
            Duration::from_millis(10_250) / 52
        );
        let pro = AccountLimits {
            app: AppType::PRIVATE_PROFESSIONAL,
            zone: PortalZone::UTC,
        };
        // 190 × 0.95 = 180 usable, a quarter 45.
        assert_eq!(
            list_interval(&pro, &limiter(), 0.25),
            Duration::from_millis(10_250) / 45
        );
        // A tiny share still allows one call per window.
        assert_eq!(
            list_interval(&public, &limiter(), 0.001),
            Duration::from_millis(10_250)
        );
    }
}

//! The HubSpot side of the context fetch (see `worker/README.md`, *Context fetch*).
//!
//! Per portal with waiting `context_requests`, one round:
//! 1. lease up to 100 of its oldest requests (`store::context::lease`, `FOR UPDATE SKIP
//!    LOCKED`) for [`LEASE`]: they stay in the table, invisible to other fetchers, so that a
//!    fetcher that dies mid-round loses nothing and the write-back keeps waiting for them;
//! 2. `POST /crm/objects/2026-09/contacts/batch/read` with those ids and the properties the model
//!    reads, through the limiter-gated client and the token manager (no transaction open);
//! 3. turn the answer into events and apply them with the worker's own per-message path
//!    ([`Processor::handle`]): one `contact.propertyChange` per requested property, at HubSpot's
//!    `updatedAt` of the record (a property HubSpot has no value for becomes `""`, so the contact
//!    no longer lacks it), so snapshot, score and outbox change exactly as for a webhook; an id
//!    HubSpot says does not exist (or archived) gets a `contact.deletion` (retired, not
//!    retried). A merged id comes back under its new record: it is recognised through
//!    `hs_merged_object_ids` and its values are applied to the requested id (which Ember
//!    resolves through its aliases);
//! 4. remove the leased requests (`store::context::complete`).
//!
//! If the call or the apply fails, the leased requests come back when the lease ends and the
//! portal waits [`FAILURE_PAUSE`]. A portal awaiting re-authorization keeps its requests the
//! same way.
//!
//! Metrics: `ember_context_api_calls_total{outcome}`, `ember_context_events_total{kind}`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use ember_core::domain::{
    AppEvent, BATCH_FORMAT_VERSION, EventBatch, EventId, EventSource, ObjectId, PortalId,
    PropertyChange, PropertyName, QueuedEvent, SubscriptionId, SubscriptionType,
};
use ember_core::store::context;
use ember_hubspot::crm::BatchRead;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::consumers::Outcome;
use crate::consumers::process::Processor;
use crate::model::ModelCache;
use crate::writeback::hubspot_crm::{HubSpotCrm, token_failure};

/// Contacts per batch read (HubSpot's maximum).
pub const MAX_BATCH: i64 = 100;
/// How long leased requests are reserved for one round (after a crash, they wait this long).
pub const LEASE: Duration = Duration::from_secs(30);
/// How long a portal waits after a failed round.
pub const FAILURE_PAUSE: Duration = Duration::from_secs(30);
/// HubSpot's property listing the ids merged into a record (`;`-separated).
const MERGED_IDS: &str = "hs_merged_object_ids";
/// Marks the synthetic events in logs and dedupe keys.
const CHANGE_SOURCE: &str = "EMBER_CONTEXT_FETCH";

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Requests claimed (0: nothing to do).
    pub claimed: usize,
    /// Contacts HubSpot returned (matched to a requested id).
    pub found: usize,
    /// Contacts retired because HubSpot does not have them.
    pub retired: usize,
    /// Events applied through the processor.
    pub events: usize,
}

/// Fetches missing context from HubSpot.
pub struct ContextFetcher {
    pool: PgPool,
    models: Arc<ModelCache>,
    processor: Arc<Processor>,
    crm: Arc<HubSpotCrm>,
}

impl ContextFetcher {
    pub fn new(
        pool: PgPool,
        models: Arc<ModelCache>,
        processor: Arc<Processor>,
        crm: Arc<HubSpotCrm>,
    ) -> Self {
        Self {
            pool,
            models,
            processor,
            crm,
        }
    }

    /// One round for one portal (see the module docs).
    pub async fn round(&self, portal: PortalId) -> anyhow::Result<Round> {
        let (ids, stamp) = {
            let mut conn = self.pool.acquire().await?;
            context::lease(&mut conn, portal, MAX_BATCH, LEASE)
                .await
                .context("Failed to lease context requests.")?
        };
        let mut round = Round {
            claimed: ids.len(),
            ..Round::default()
        };
        let Some(stamp) = stamp else {
            return Ok(round);
        };
        // On failure (or if this process dies) the requests come back when the lease ends.
        self.fetch_and_apply(portal, &ids, &mut round).await?;
        let mut conn = self.pool.acquire().await?;
        context::complete(&mut conn, portal, &ids, stamp)
            .await
            .context("Failed to remove fetched context requests.")?;
        Ok(round)
    }

    async fn fetch_and_apply(
        &self,
        portal: PortalId,
        ids: &[ObjectId],
        round: &mut Round,
    ) -> anyhow::Result<()> {
        let model = self.models.get(portal).await?;
        let wanted: Vec<String> = model.properties.clone();
        let mut ask = wanted.clone();
        ask.push(MERGED_IDS.to_owned());
        let id_strings: Vec<String> = ids.iter().map(|i| i.get().to_string()).collect();
        let client = self.crm.client();
        let answer = self
            .crm
            .tokens()
            .with_token(portal, |token| {
                let (ids, ask) = (&id_strings, &ask);
                async move {
                    client
                        .batch_read_contacts(portal.get(), &token, ids, ask)
                        .await
                        .map(|r| r.value)
                }
            })
            .await;
        let answer = match answer {
            Ok(a) => {
                metrics::counter!("ember_context_api_calls_total", "outcome" => "ok").increment(1);
                a
            }
            Err(e) => {
                metrics::counter!("ember_context_api_calls_total", "outcome" => "failed")
                    .increment(1);
                return Err(anyhow::Error::new(token_failure(e)).context("Batch read failed."));
            }
        };
        let batch = events_of(portal, ids, &wanted, &answer, Utc::now(), round);
        if batch.events.is_empty() {
            return Ok(());
        }
        round.events = batch.events.len();
        match self.processor.handle(&batch).await {
            Outcome::Done(_) => {
                metrics::counter!("ember_context_events_total", "kind" => "applied")
                    .increment(round.events as u64);
                Ok(())
            }
            // Fetched values have no message to dead-letter: the refused ones are counted and
            // logged (never their values), the rest are applied.
            Outcome::Partial { rejected, .. } => {
                metrics::counter!("ember_context_events_total", "kind" => "applied")
                    .increment((round.events - rejected.len()) as u64);
                metrics::counter!("ember_context_events_total", "kind" => "refused")
                    .increment(rejected.len() as u64);
                for (_, reason) in &rejected {
                    tracing::warn!(reason = %reason, "The database refused a fetched context value.");
                }
                Ok(())
            }
            Outcome::Retry(why) | Outcome::Reject(why) => {
                anyhow::bail!("Applying fetched context failed: {why}")
            }
        }
    }

    /// Serves every portal with waiting requests every `interval` (the coalescing window)
    /// until `shutdown` turns true. Full batches go again at once.
    pub async fn run(self: Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut paused: HashMap<PortalId, Instant> = HashMap::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            let portals = match context::pending(&self.pool).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "Could not list portals waiting for context.");
                    continue;
                }
            };
            let now = Instant::now();
            paused.retain(|_, until| *until > now);
            for (portal, _) in portals {
                if paused.contains_key(&portal) {
                    continue;
                }
                loop {
                    if *shutdown.borrow() {
                        return;
                    }
                    match self.round(portal).await {
                        Ok(r) if r.claimed as i64 == MAX_BATCH => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(portal_id = portal.get(), error = %e, cause = ?e.source(),
                                "Context fetch failed; the requests wait for the next attempt.");
                            paused.insert(portal, Instant::now() + FAILURE_PAUSE);
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// The events a batch-read answer stands for (see the module docs).
fn events_of(
    portal: PortalId,
    ids: &[ObjectId],
    wanted: &[String],
    answer: &BatchRead,
    now: DateTime<Utc>,
    round: &mut Round,
) -> EventBatch {
    let requested: BTreeSet<i64> = ids.iter().map(|i| i.get()).collect();
    let mut events = Vec::new();
    let mut seen = BTreeSet::new();
    for record in &answer.records {
        let Ok(returned) = record.id.parse::<i64>() else {
            continue;
        };
        // The requested ids this record answers: itself, or the ids merged into it.
        let mut targets: Vec<i64> = Vec::new();
        if requested.contains(&returned) {
            targets.push(returned);
        }
        if let Some(Some(merged)) = record.properties.get(MERGED_IDS) {
            targets.extend(
                merged
                    .split(';')
                    .filter_map(|s| s.trim().parse::<i64>().ok())
                    .filter(|m| requested.contains(m) && *m != returned),
            );
        }
        for target in targets {
            let Ok(contact) = ObjectId::new(target) else {
                continue;
            };
            seen.insert(target);
            if record.archived {
                events.push(event(
                    portal,
                    contact,
                    "contact.deletion",
                    None,
                    record.archived_at.unwrap_or(now),
                ));
                round.retired += 1;
                continue;
            }
            round.found += 1;
            for name in wanted {
                let value = record
                    .properties
                    .get(name)
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                events.push(event(
                    portal,
                    contact,
                    "contact.propertyChange",
                    Some((name, value)),
                    record.updated_at,
                ));
            }
        }
    }
    for id in &answer.not_found {
        let Ok(target) = id.parse::<i64>() else {
            continue;
        };
        if !requested.contains(&target) || !seen.insert(target) {
            continue;
        }
        if let Ok(contact) = ObjectId::new(target) {
            events.push(event(portal, contact, "contact.deletion", None, now));
            round.retired += 1;
        }
    }
    if !answer.errors.is_empty() {
        tracing::warn!(
            portal_id = portal.get(),
            errors = answer.errors.len(),
            "HubSpot's batch read reported row errors; those contacts are not fetched."
        );
    }
    EventBatch {
        format: BATCH_FORMAT_VERSION,
        portal_id: portal,
        source: EventSource::AppWebhook,
        received_at: now,
        request_id: format!("context-{}", uuid::Uuid::new_v4()),
        events,
    }
}

fn event(
    portal: PortalId,
    contact: ObjectId,
    kind: &str,
    property: Option<(&String, String)>,
    at: DateTime<Utc>,
) -> QueuedEvent {
    QueuedEvent::App(AppEvent {
        event_id: EventId::new(0).expect("0 is a valid event id"),
        subscription_id: SubscriptionId::new(1).expect("1 is a valid subscription id"),
        portal_id: portal,
        app_id: None,
        occurred_at: at,
        subscription_type: SubscriptionType::parse(kind).expect("a known subscription type"),
        attempt_number: 0,
        object_id: Some(contact),
        object_type_id: None,
        property: property.and_then(|(name, value)| {
            Some(PropertyChange {
                name: PropertyName::parse(name).ok()?,
                value,
            })
        }),
        change_source: Some(CHANGE_SOURCE.to_owned()),
        source_id: None,
        change_flag: None,
        merge: None,
        association: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_hubspot::wire::crm::SimplePublicObject;

    fn record(id: &str, props: serde_json::Value, archived: bool) -> SimplePublicObject {
        serde_json::from_value(serde_json::json!({
            "id": id, "properties": props, "createdAt": "2026-11-01T00:00:00Z",
            "updatedAt": "2026-11-20T10:00:00Z", "archived": archived,
        }))
        .expect("a record")
    }

    fn property(e: &QueuedEvent) -> Option<(i64, String, String, i64)> {
        let QueuedEvent::App(a) = e else { return None };
        let p = a.property.as_ref()?;
        Some((
            a.object_id?.get(),
            p.name.as_str().to_owned(),
            p.value.clone(),
            a.occurred_at.timestamp_millis(),
        ))
    }

    #[test]
    fn answers_become_events_for_the_requested_ids() {
        let portal = PortalId::new(7).unwrap();
        let ids: Vec<ObjectId> = [1, 2, 3, 4].map(|i| ObjectId::new(i).unwrap()).to_vec();
        let wanted = vec!["industry".to_owned(), "jobtitle".to_owned()];
        let answer = BatchRead {
            records: vec![
                // Found, one property without a value.
                record(
                    "1",
                    serde_json::json!({"jobtitle": "CEO", "industry": null}),
                    false,
                ),
                // 2 was merged into 99: its values apply to 2.
                record(
                    "99",
                    serde_json::json!({"jobtitle": "VP", "industry": "Retail", "hs_merged_object_ids": "2;50"}),
                    false,
                ),
                record("3", serde_json::json!({}), true),
            ],
            not_found: vec!["4".to_owned(), "1000".to_owned()],
            errors: Vec::new(),
        };
        let now = Utc::now();
        let mut round = Round::default();
        let batch = events_of(portal, &ids, &wanted, &answer, now, &mut round);
        let at = record("1", serde_json::json!({}), false)
            .updated_at
            .timestamp_millis();
        let props: Vec<_> = batch.events.iter().filter_map(property).collect();
        assert_eq!(
            props,
            vec![
                (1, "industry".into(), "".into(), at),
                (1, "jobtitle".into(), "CEO".into(), at),
                (2, "industry".into(), "Retail".into(), at),
                (2, "jobtitle".into(), "VP".into(), at),
            ]
        );
        let deleted: Vec<i64> = batch
            .events
            .iter()
            .filter_map(|e| match e {
                QueuedEvent::App(a) if a.subscription_type.as_str() == "contact.deletion" => {
                    a.object_id.map(|o| o.get())
                }
                _ => None,
            })
            .collect();
        assert_eq!(deleted, vec![3, 4]);
        assert_eq!((round.found, round.retired), (2, 2));
        assert!(batch.events.iter().all(|e| e.portal_id() == portal));
    }
}

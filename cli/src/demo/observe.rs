//! The demo's figures, each read where it lives:
//!
//! - events received, unique and duplicated: the simulator's delivery log. Each delivery Ember
//!   answered 2xx is verified and normalized exactly as the api does (same signature check, same
//!   normalizer, same per-event dedupe key), so "unique" is what Ember must process exactly once;
//! - scored contacts, written contacts, outbox and context backlog: Postgres;
//! - HubSpot calls, write-back calls and 429s: the simulator's call log;
//! - queue depth: a passive declare of the events and retry queues;
//! - duplicates the workers dropped: their `ember_worker_events_total{result="duplicate"}` counter
//!   (the workers run in this process, so the process's metrics are theirs).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use ember_core::domain::EventKey;
use ember_core::normalize::{AppBodyLimits, normalize_app_webhook};
use ember_core::queue::Topology;
use ember_core::signature::{SignedRequest, Verifier};
use hubspot_sim::{Control, DeliveryAttempt, DeliveryKind};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use sqlx::PgPool;
use tokio::sync::watch;

use super::install::InstalledPortal;
use super::plan::{Plan, queue_names};
use super::system::System;

/// The write-back's HubSpot endpoint, as the simulator's call log names it.
const BATCH_UPDATE: &str = ember_hubspot::version::CONTACTS_BATCH_UPDATE;
/// The context fetch's HubSpot endpoint.
const BATCH_READ: &str = ember_hubspot::version::CONTACTS_BATCH_READ;
/// How often the drain is checked.
const DRAIN_POLL: Duration = Duration::from_millis(300);
/// Consecutive idle, unchanged polls that count as drained (messages a worker holds are not
/// counted by the queue; a second of stillness covers them).
const QUIET_POLLS: u32 = 3;

/// Figures of one portal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalFigures {
    pub portal: u64,
    /// Webhook events Ember accepted (2xx), duplicates included.
    pub events: u64,
    /// Distinct events among them (by Ember's dedupe key).
    pub unique: u64,
    /// Contacts with a score.
    pub scored: i64,
    /// Contacts whose score HubSpot acknowledged.
    pub written: i64,
    pub outbox: i64,
    pub context_waiting: i64,
    pub hubspot_calls: u64,
    pub writeback_calls: u64,
    /// Batch reads of the context fetch (contacts whose snapshot lacked scoring properties).
    pub context_reads: u64,
    pub rate_limited: u64,
}

impl PortalFigures {
    pub fn duplicates(&self) -> u64 {
        self.events - self.unique
    }
}

/// Everything at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub portals: Vec<PortalFigures>,
    /// Ready messages on the events and retry queues.
    pub queued: u32,
    pub dead_letters: u32,
    /// Duplicates the workers dropped (their counter).
    pub dedupe_drops: u64,
    /// Events the simulator has not delivered yet, and batches awaiting a retry.
    pub undelivered: usize,
    processed_total: i64,
    score_versions: i64,
}

impl Snapshot {
    pub fn outbox(&self) -> i64 {
        self.portals.iter().map(|p| p.outbox).sum()
    }

    pub fn context_waiting(&self) -> i64 {
        self.portals.iter().map(|p| p.context_waiting).sum()
    }

    /// Nothing waits anywhere along the path.
    fn idle(&self) -> bool {
        self.undelivered == 0
            && self.queued == 0
            && self.outbox() == 0
            && self.context_waiting() == 0
    }

    /// What moves while work is in flight.
    fn progress(&self) -> (i64, i64, u64) {
        (
            self.processed_total,
            self.score_versions,
            self.portals.iter().map(|p| p.hubspot_calls).sum(),
        )
    }

    /// What still waits, in words.
    pub fn waiting(&self) -> String {
        format!(
            "{} events not yet delivered by HubSpot, {} messages queued, {} scores in the outbox, \
             {} contacts waiting for context",
            self.undelivered,
            self.queued,
            self.outbox(),
            self.context_waiting()
        )
    }
}

/// How waiting for the drain ended.
pub enum Drain {
    Drained { after: Duration },
    TimedOut { waiting: String },
    Interrupted,
}

/// What the delivery log says about one portal.
#[derive(Default)]
struct PortalDeliveries {
    events: u64,
    keys: HashSet<EventKey>,
    /// When a `contact.creation` event of each new contact was first accepted (simulator ms).
    created_accepted_ms: HashMap<u64, i64>,
}

/// Reads the figures.
pub struct Observer {
    control: Control,
    pool: PgPool,
    amqp_url: String,
    queues: Vec<String>,
    dead_letter_queue: String,
    amqp: Option<Connection>,
    verifier: Verifier,
    portals: Vec<u64>,
    /// Delivery attempts read so far.
    cursor: usize,
    deliveries: BTreeMap<u64, PortalDeliveries>,
    /// Accepted deliveries that did not verify or normalize here (a bug if ever non-zero).
    unreadable: u64,
}

impl Observer {
    pub fn new(system: &System, plan: &Plan, portals: &[InstalledPortal]) -> anyhow::Result<Self> {
        let settings = system.settings();
        let secret = settings.require_client_secret()?.clone();
        let topology = Topology::from_settings(&settings.amqp);
        let mut queues = queue_names(&topology);
        let dead_letter_queue = topology.dead_letter_queue();
        queues.retain(|q| *q != dead_letter_queue);
        Ok(Self {
            control: system.sim().control().clone(),
            pool: system.pool().clone(),
            amqp_url: plan.amqp_url.clone(),
            queues,
            dead_letter_queue,
            amqp: None,
            verifier: Verifier::new(secret),
            portals: portals.iter().map(|p| p.id).collect(),
            cursor: 0,
            deliveries: portals
                .iter()
                .map(|p| (p.id, PortalDeliveries::default()))
                .collect(),
            unreadable: 0,
        })
    }

    /// Accepted deliveries that could not be read back (should be 0).
    pub fn unreadable(&self) -> u64 {
        self.unreadable
    }

    /// Closes the broker connection the queue depths are read on.
    pub async fn close(&mut self) {
        if let Some(connection) = self.amqp.take() {
            let _ = connection.close(200, "demo done".into()).await;
        }
    }

    /// Unique accepted events per portal.
    pub fn unique_counts(&self) -> BTreeMap<u64, u64> {
        self.deliveries
            .iter()
            .map(|(portal, d)| (*portal, d.keys.len() as u64))
            .collect()
    }

    /// When the creation of `contact` was accepted by Ember (simulator ms), if it was.
    pub fn creation_accepted_ms(&self, portal: u64, contact: u64) -> Option<i64> {
        self.deliveries
            .get(&portal)
            .and_then(|d| d.created_accepted_ms.get(&contact))
            .copied()
    }

    /// Reads every figure now.
    pub async fn snapshot(&mut self) -> anyhow::Result<Snapshot> {
        self.read_new_deliveries();
        let rows = ember_core::store::demo::portal_figures(&self.pool)
            .await
            .context("cannot read the demo's figures from Postgres")?;
        let (processed_total, score_versions) = ember_core::store::demo::progress(&self.pool)
            .await
            .context("cannot read the demo's progress from Postgres")?;
        let by_portal: HashMap<i64, (i64, i64, i64, i64)> = rows
            .into_iter()
            .map(|f| {
                (
                    f.portal_id,
                    (f.scored, f.written, f.outbox, f.context_waiting),
                )
            })
            .collect();
        let mut portals = Vec::new();
        for &portal in &self.portals {
            let delivered = self.deliveries.get(&portal);
            let (scored, written, outbox, context_waiting) = i64::try_from(portal)
                .ok()
                .and_then(|p| by_portal.get(&p))
                .copied()
                .unwrap_or_default();
            let calls = self.control.calls_for(portal);
            portals.push(PortalFigures {
                portal,
                events: delivered.map_or(0, |d| d.events),
                unique: delivered.map_or(0, |d| d.keys.len() as u64),
                scored,
                written,
                outbox,
                context_waiting,
                hubspot_calls: calls.len() as u64,
                writeback_calls: calls.iter().filter(|c| c.endpoint == BATCH_UPDATE).count() as u64,
                context_reads: calls.iter().filter(|c| c.endpoint == BATCH_READ).count() as u64,
                rate_limited: self.control.rate_limited(Some(portal)).values().sum(),
            });
        }
        let (queued, dead_letters) = self.queue_depths().await?;
        let undelivered = self
            .portals
            .iter()
            .map(|p| self.control.pending_events(*p))
            .sum::<usize>()
            + self.control.pending_retries();
        Ok(Snapshot {
            portals,
            queued,
            dead_letters,
            dedupe_drops: worker_duplicates(),
            undelivered,
            processed_total,
            score_versions,
        })
    }

    /// Polls until nothing waits anywhere and nothing moves, at most `timeout`.
    pub async fn wait_for_drain(
        &mut self,
        timeout: Duration,
        interrupted: &mut watch::Receiver<bool>,
        mut on_update: impl FnMut(&Snapshot),
    ) -> anyhow::Result<Drain> {
        let start = Instant::now();
        let mut quiet = 0;
        let mut idle_since = None;
        let mut last_progress = None;
        loop {
            let snapshot = self.snapshot().await?;
            on_update(&snapshot);
            let progress = snapshot.progress();
            if snapshot.idle() && last_progress == Some(progress) {
                quiet += 1;
            } else {
                quiet = 0;
                idle_since = snapshot.idle().then(|| start.elapsed());
            }
            last_progress = Some(progress);
            if quiet >= QUIET_POLLS {
                return Ok(Drain::Drained {
                    after: idle_since.unwrap_or_else(|| start.elapsed()),
                });
            }
            if start.elapsed() > timeout {
                return Ok(Drain::TimedOut {
                    waiting: snapshot.waiting(),
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(DRAIN_POLL) => {}
                _ = interrupted.wait_for(|set| *set) => return Ok(Drain::Interrupted),
            }
        }
    }

    /// Per portal: how many of the unique accepted events Ember recorded as processed.
    pub async fn processed_counts(&self) -> anyhow::Result<BTreeMap<u64, i64>> {
        let mut counts = BTreeMap::new();
        for (portal, delivered) in &self.deliveries {
            let keys: Vec<Vec<u8>> = delivered
                .keys
                .iter()
                .map(|k| k.as_bytes().to_vec())
                .collect();
            let id = ember_core::domain::PortalId::new(i64::try_from(*portal)?)?;
            let n = ember_core::store::demo::processed_of(&self.pool, id, &keys)
                .await
                .context("cannot count processed events")?;
            counts.insert(*portal, n);
        }
        Ok(counts)
    }

    /// Takes the delivery attempts recorded since the last call into the per-portal figures.
    fn read_new_deliveries(&mut self) {
        let cursor = self.cursor;
        let fresh: Vec<DeliveryAttempt> = self
            .control
            .inspect_deliveries(|all| all.get(cursor..).map(<[_]>::to_vec).unwrap_or_default());
        self.cursor += fresh.len();
        for attempt in fresh {
            let accepted = attempt.status.is_some_and(|s| (200..300).contains(&s));
            if attempt.kind != DeliveryKind::App || !accepted {
                continue;
            }
            let Some(delivered) = self.deliveries.get_mut(&attempt.portal) else {
                continue;
            };
            if read_delivery(&self.verifier, &attempt, delivered).is_err() {
                self.unreadable += 1;
            }
        }
    }

    /// Ready messages on the events and retry queues, and on the dead-letter queue.
    async fn queue_depths(&mut self) -> anyhow::Result<(u32, u32)> {
        if self.amqp.as_ref().is_none_or(|c| !c.status().connected()) {
            self.amqp = Some(
                Connection::connect(&self.amqp_url, ConnectionProperties::default())
                    .await
                    .context("cannot reach RabbitMQ to read the queue depth")?,
            );
        }
        let Some(connection) = &self.amqp else {
            anyhow::bail!("no RabbitMQ connection");
        };
        let channel = connection.create_channel().await?;
        let depth = |queue: String| {
            let channel = channel.clone();
            async move {
                channel
                    .queue_declare(
                        queue.as_str().into(),
                        QueueDeclareOptions {
                            passive: true,
                            ..QueueDeclareOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                    .map(|q| q.message_count())
                    .with_context(|| format!("cannot read the depth of {queue}"))
            }
        };
        let mut queued = 0;
        for queue in self.queues.clone() {
            queued += depth(queue).await?;
        }
        let dead = depth(self.dead_letter_queue.clone()).await?;
        let _ = channel.close(200, "depth read".into()).await;
        Ok((queued, dead))
    }
}

/// Verifies and normalizes one accepted delivery as the api did, and counts its events.
fn read_delivery(
    verifier: &Verifier,
    attempt: &DeliveryAttempt,
    delivered: &mut PortalDeliveries,
) -> anyhow::Result<()> {
    let timestamp = attempt
        .request_timestamp
        .as_deref()
        .context("no request timestamp")?;
    let sent_ms: i64 = timestamp.parse()?;
    let body = verifier.verify_v3(
        SignedRequest {
            method: "POST",
            uri: &attempt.url,
            body: attempt.body.as_bytes(),
        },
        attempt.signature_v3.as_deref(),
        Some(timestamp),
        // Checked as of when it was sent: the api checked its age then.
        sent_ms,
    )?;
    let events = normalize_app_webhook(body, AppBodyLimits::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for event in events.events {
        delivered.events += 1;
        delivered.keys.insert(event.key());
        if event.subscription_type.as_str() == "contact.creation"
            && let Some(contact) = event.object_id
        {
            delivered
                .created_accepted_ms
                .entry(u64::try_from(contact.get()).unwrap_or_default())
                .or_insert(attempt.at_ms);
        }
    }
    Ok(())
}

/// The workers' `ember_worker_events_total{result="duplicate"}`, from this process's metrics.
fn worker_duplicates() -> u64 {
    let rendered = ember_core::telemetry::metrics_handle().render();
    rendered
        .lines()
        .filter(|line| {
            line.starts_with("ember_worker_events_total{") && line.contains("result=\"duplicate\"")
        })
        .filter_map(|line| line.rsplit(' ').next())
        .filter_map(|value| value.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

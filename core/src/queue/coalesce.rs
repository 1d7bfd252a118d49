//! Group commit for the intake: concurrent requests for the same portal share one confirmed
//! message.
//!
//! A quorum queue confirms a bounded number of messages per second, whatever their size. When
//! HubSpot sends many small requests at once (batches of 1 are common for low-volume
//! subscriptions), one message per request makes the broker the ceiling. Here a single task
//! takes requests from a channel; while its `in_flight` publishes are all awaiting confirms, new
//! requests wait in the channel, and the next free slot takes all of them at once, one message
//! per (portal, source), up to `max_events` events. At low load nothing waits: a request is
//! published as soon as it arrives. Every request still learns its own outcome, and only after
//! the broker confirmed the message holding its events.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{PublishError, Publisher, routing_key};
use crate::domain::{BATCH_FORMAT_VERSION, EventBatch, EventSource, PortalId, QueuedEvent};

/// Tuning of the group commit.
#[derive(Debug, Clone, Copy)]
pub struct CoalesceSettings {
    /// Publishes awaiting a confirm at once.
    pub in_flight: usize,
    /// Most events in one message (a request's own events are never split).
    pub max_events: usize,
}

struct Job {
    portal_id: PortalId,
    source: EventSource,
    request_id: String,
    events: Vec<QueuedEvent>,
    done: oneshot::Sender<Result<(), Arc<PublishError>>>,
}

/// Why a coalesced publish failed. Cloned to every request that shared the message.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct SharedPublishError(#[from] pub Arc<PublishError>);

/// The intake's handle on the group-commit task.
#[derive(Clone)]
pub struct CoalescingPublisher {
    jobs: mpsc::UnboundedSender<Job>,
    publisher: Publisher,
}

impl CoalescingPublisher {
    /// Starts the group-commit task on the current runtime.
    pub fn start(publisher: Publisher, settings: CoalesceSettings) -> Self {
        let (jobs, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(publisher.clone(), receiver, settings));
        Self { jobs, publisher }
    }

    /// The underlying publisher (readiness checks, shutdown).
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Queues one request's events for one portal; returns once the broker confirmed them.
    pub async fn publish(
        &self,
        portal_id: PortalId,
        source: EventSource,
        request_id: &str,
        events: Vec<QueuedEvent>,
    ) -> Result<(), SharedPublishError> {
        let (done, outcome) = oneshot::channel();
        let job = Job {
            portal_id,
            source,
            request_id: request_id.to_owned(),
            events,
            done,
        };
        let stopped = || SharedPublishError(Arc::new(PublishError::Stopped));
        self.jobs.send(job).map_err(|_| stopped())?;
        outcome
            .await
            .map_err(|_| stopped())?
            .map_err(SharedPublishError)
    }
}

async fn run(
    publisher: Publisher,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    settings: CoalesceSettings,
) {
    let slots = Arc::new(Semaphore::new(settings.in_flight.max(1)));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = jobs.recv().await else {
            return;
        };
        let mut taken = vec![first];
        while let Ok(job) = jobs.try_recv() {
            taken.push(job);
        }
        // Several portals in one take: the first group uses the slot we hold, the others take
        // free slots if there are any and go ahead regardless (they are already waiting).
        let mut slot = Some(slot);
        for group in group(taken, settings.max_events) {
            let publisher = publisher.clone();
            let permit = slot
                .take()
                .or_else(|| slots.clone().try_acquire_owned().ok());
            tokio::spawn(async move {
                publish_group(&publisher, group).await;
                drop(permit);
            });
        }
    }
}

/// Jobs of the same portal and source, in arrival order, cut at `max_events` per message.
fn group(jobs: Vec<Job>, max_events: usize) -> Vec<Vec<Job>> {
    let mut by_key: BTreeMap<(PortalId, u8), Vec<Vec<Job>>> = BTreeMap::new();
    for job in jobs {
        let key = (job.portal_id, job.source as u8);
        let groups = by_key.entry(key).or_default();
        let fits = groups.last().is_some_and(|g| {
            g.iter().map(|j| j.events.len()).sum::<usize>() + job.events.len() <= max_events
        });
        if fits {
            groups.last_mut().expect("checked above").push(job);
        } else {
            groups.push(vec![job]);
        }
    }
    by_key.into_values().flatten().collect()
}

async fn publish_group(publisher: &Publisher, group: Vec<Job>) {
    let first = &group[0];
    let mut events = Vec::with_capacity(group.iter().map(|j| j.events.len()).sum());
    let (portal_id, source, request_id) = (first.portal_id, first.source, first.request_id.clone());
    let mut waiters = Vec::with_capacity(group.len());
    for job in group {
        events.extend(job.events);
        waiters.push(job.done);
    }
    let batch = EventBatch {
        format: BATCH_FORMAT_VERSION,
        portal_id,
        source,
        received_at: Utc::now(),
        // A coalesced message names the first request it carries.
        request_id,
        events,
    };
    let outcome = match batch.encode() {
        Ok(payload) => publisher
            .publish(&routing_key(portal_id), &payload)
            .await
            .map_err(Arc::new),
        Err(e) => Err(Arc::new(PublishError::Encode(e.to_string()))),
    };
    if outcome.is_ok() {
        metrics::histogram!("ember_intake_message_events").record(batch.events.len() as f64);
    }
    for waiter in waiters {
        let _ = waiter.send(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(portal: i64, source: EventSource, events: usize) -> Job {
        let event = crate::domain::WorkflowEvent {
            portal_id: PortalId::new(portal).unwrap(),
            workflow_id: crate::domain::WorkflowId::new(1).unwrap(),
            object_id: crate::domain::ObjectId::new(1).unwrap(),
            event_name: None,
            occurred_at: None,
            idempotency: None,
            properties: Default::default(),
        };
        Job {
            portal_id: PortalId::new(portal).unwrap(),
            source,
            request_id: format!("r{portal}"),
            events: vec![QueuedEvent::Workflow(event); events],
            done: oneshot::channel().0,
        }
    }

    fn shape(groups: &[Vec<Job>]) -> Vec<(i64, usize, usize)> {
        groups
            .iter()
            .map(|g| {
                (
                    g[0].portal_id.get(),
                    g.len(),
                    g.iter().map(|j| j.events.len()).sum(),
                )
            })
            .collect()
    }

    #[test]
    fn groups_by_portal_and_source_and_cuts_at_the_event_limit() {
        let jobs = vec![
            job(1, EventSource::AppWebhook, 60),
            job(2, EventSource::AppWebhook, 10),
            job(1, EventSource::AppWebhook, 40),
            job(1, EventSource::WorkflowWebhook, 1),
            job(1, EventSource::AppWebhook, 1),
        ];
        let groups = group(jobs, 100);
        assert_eq!(
            shape(&groups),
            vec![(1, 2, 100), (1, 1, 1), (1, 1, 1), (2, 1, 10)]
        );
        assert!(
            groups
                .iter()
                .all(|g| g.iter().all(|j| j.source == g[0].source))
        );
    }

    #[test]
    fn a_request_is_never_split_even_above_the_limit() {
        let groups = group(
            vec![
                job(1, EventSource::AppWebhook, 150),
                job(1, EventSource::AppWebhook, 1),
            ],
            100,
        );
        assert_eq!(shape(&groups), vec![(1, 1, 150), (1, 1, 1)]);
    }
}

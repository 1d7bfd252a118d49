//! Groups normalized events per portal, drops or keeps unknown portals, and publishes one
//! confirmed message per portal.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;
use ember_core::domain::{BATCH_FORMAT_VERSION, EventBatch, EventSource, PortalId, QueuedEvent};
use ember_core::queue::routing_key;
use futures_util::future::try_join_all;

use crate::error::ApiError;
use crate::state::Intake;

/// What happened to a request's events.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    pub accepted: usize,
    pub dropped_unknown_portal: usize,
}

/// Publishes the events; returns only after the broker confirmed every message.
pub async fn publish_events(
    intake: &Intake,
    source: EventSource,
    request_id: &str,
    events: Vec<QueuedEvent>,
    retry_after: u64,
) -> Result<Outcome, ApiError> {
    let source_label = match source {
        EventSource::AppWebhook => "app",
        EventSource::WorkflowWebhook => "workflow",
    };
    let mut by_portal: BTreeMap<PortalId, Vec<QueuedEvent>> = BTreeMap::new();
    for event in events {
        by_portal.entry(event.portal_id()).or_default().push(event);
    }
    let mut outcome = Outcome::default();
    let mut batches = Vec::with_capacity(by_portal.len());
    for (portal_id, events) in by_portal {
        let accepts = intake.portals.accepts_events(&intake.pool, portal_id).await.map_err(|e| {
            ApiError::unavailable("cannot check the portal's installation; retry later", retry_after, e.into())
        })?;
        if !accepts && !intake.queue_unknown_portals {
            tracing::info!(portal_id = %portal_id, events = events.len(), "dropped events of a portal that has not installed Ember");
            metrics::counter!("ember_intake_events_total", "source" => source_label, "outcome" => "dropped_unknown_portal")
                .increment(events.len() as u64);
            outcome.dropped_unknown_portal += events.len();
            continue;
        }
        outcome.accepted += events.len();
        batches.push(EventBatch {
            format: BATCH_FORMAT_VERSION,
            portal_id,
            source,
            received_at: Utc::now(),
            request_id: request_id.to_owned(),
            events,
        });
    }

    let started = Instant::now();
    let publishes = batches.iter().map(|batch| async move {
        let payload = serde_json::to_vec(batch).map_err(|e| ApiError::internal(e.into()))?;
        intake.publisher.publish(&routing_key(batch.portal_id), &payload).await.map_err(|e| {
            metrics::counter!("ember_intake_publish_failures_total").increment(1);
            ApiError::unavailable("the event queue is unavailable; retry later", retry_after, e.into())
        })
    });
    try_join_all(publishes).await?;
    if !batches.is_empty() {
        metrics::histogram!("ember_intake_publish_seconds").record(started.elapsed().as_secs_f64());
    }
    metrics::counter!("ember_intake_events_total", "source" => source_label, "outcome" => "accepted")
        .increment(outcome.accepted as u64);
    Ok(outcome)
}

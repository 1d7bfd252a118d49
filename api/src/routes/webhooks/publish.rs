//! Groups normalized events per portal, drops or keeps unknown portals, and hands each portal's
//! events to the group-commit publisher; returns once every one of them is confirmed.

use std::collections::BTreeMap;
use std::time::Instant;

use ember_core::domain::{EventSource, PortalId, QueuedEvent};
use futures_util::future::try_join_all;

use crate::error::ApiError;
use crate::state::Intake;

/// What happened to a request's events.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    pub accepted: usize,
    pub dropped_unknown_portal: usize,
    /// Values accepted after cleaning (`event[3].propertyValue: NUL character (U+0000)
    /// removed`), naming event and field, never the value. Left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Events of types Ember does not use, each with its reason. Left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<super::dropped::DroppedEvent>,
}

/// Counts and logs (once per request, fields only) the values the normalizer cleaned, and
/// returns them as the answer's notes.
pub fn cleaned_values(
    source: &'static str,
    notes: &[ember_core::normalize::FieldError],
) -> Vec<String> {
    if notes.is_empty() {
        return Vec::new();
    }
    metrics::counter!("ember_intake_values_cleaned_total", "source" => source)
        .increment(notes.len() as u64);
    let notes: Vec<String> = notes.iter().map(ToString::to_string).collect();
    tracing::warn!(source, cleaned = notes.len(), fields = ?notes, "Webhook values had NUL characters removed.");
    notes
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
    let mut accepted = Vec::with_capacity(by_portal.len());
    for (portal_id, events) in by_portal {
        let accepts = intake
            .portals
            .accepts_events(&intake.pool, portal_id)
            .await
            .map_err(|e| {
                ApiError::unavailable(
                    "cannot check the portal's installation; retry later",
                    retry_after,
                    e.into(),
                )
            })?;
        if !accepts && !intake.queue_unknown_portals {
            tracing::info!(portal_id = %portal_id, events = events.len(), "dropped events of a portal that has not installed Ember");
            metrics::counter!("ember_intake_events_total", "source" => source_label, "outcome" => "dropped_unknown_portal")
                .increment(events.len() as u64);
            outcome.dropped_unknown_portal += events.len();
            continue;
        }
        outcome.accepted += events.len();
        accepted.push((portal_id, events));
    }

    let started = Instant::now();
    let publishes = accepted.into_iter().map(|(portal_id, events)| async move {
        intake
            .publisher
            .publish(portal_id, source, request_id, events)
            .await
            .map_err(|e| {
                metrics::counter!("ember_intake_publish_failures_total").increment(1);
                ApiError::unavailable(
                    "the event queue is unavailable; retry later",
                    retry_after,
                    e.into(),
                )
            })
    });
    let published = try_join_all(publishes).await?;
    if !published.is_empty() {
        metrics::histogram!("ember_intake_publish_seconds").record(started.elapsed().as_secs_f64());
    }
    metrics::counter!("ember_intake_events_total", "source" => source_label, "outcome" => "accepted")
        .increment(outcome.accepted as u64);
    Ok(outcome)
}

//! App events of types Ember does not use (`ember_core::normalize::Dropped`): counted by reason
//! (`ember_intake_events_dropped_total{source,reason}`), logged once per request, listed in the
//! answer, and recorded in the portal's recent rejections, sampled, so that an agency sees which
//! subscriptions send Ember what it ignores. They are answered 2xx like the rest of the request:
//! HubSpot retries any 4xx or 5xx of the whole batch for a day (docs/intake.md, "Events Ember
//! does not use").

use std::collections::BTreeMap;

use ember_core::normalize::Dropped;
use serde::Serialize;

use crate::rejections::RecentRejections;

/// One dropped event as the answer lists it: HubSpot's type names and the reason, no values.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedEvent {
    /// Index of the event in the request's array.
    pub event: usize,
    pub subscription_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_type_id: Option<String>,
    pub reason: &'static str,
}

/// Counts, logs and records the dropped events of one request; returns them for the answer.
pub fn settle_dropped(
    source: &'static str,
    dropped: Vec<Dropped>,
    rejections: &RecentRejections,
) -> Vec<DroppedEvent> {
    if dropped.is_empty() {
        return Vec::new();
    }
    let mut by_reason: BTreeMap<&'static str, u64> = BTreeMap::new();
    for drop in &dropped {
        *by_reason.entry(drop.reason.as_str()).or_default() += 1;
        if let Some(portal) = drop.portal_id {
            rejections.record_dropped(portal, drop);
        }
    }
    for (reason, count) in &by_reason {
        metrics::counter!("ember_intake_events_dropped_total", "source" => source, "reason" => *reason)
            .increment(*count);
    }
    tracing::info!(source, dropped = dropped.len(), reasons = ?by_reason, "Webhook events of types Ember does not use were dropped.");
    dropped
        .into_iter()
        .map(|d| DroppedEvent {
            event: d.index,
            subscription_type: d.subscription_type,
            object_type_id: d.object_type_id,
            reason: d.reason.as_str(),
        })
        .collect()
}

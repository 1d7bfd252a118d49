//! Which shape the app's webhook events take (docs/hubspot.md A.7): the legacy `contact.*`
//! types, the developer platform's generic `object.*` types with `objectTypeId` `0-1`, or both
//! at once, as an app migrating from one set of subscriptions to the other receives them.
//! `contact.privacyDeletion` stays as it is in every shape: on the new platform it is a hub
//! event, which generic subscriptions do not cover; so do association changes, whose generic
//! payload the simulator does not model.

use ember_hubspot::wire::webhook::WebhookEvent;
use serde::{Deserialize, Serialize};

/// The `objectTypeId` of contacts.
const CONTACT_OBJECT_TYPE_ID: &str = "0-1";
/// Added to a legacy subscription's id (and event id) to name its generic twin, which in
/// HubSpot is a subscription of its own with its own notifications.
pub(crate) const GENERIC_ID_OFFSET: u64 = 1 << 40;
/// Legacy contact actions that have a generic form.
const GENERIC_ACTIONS: [&str; 5] = ["creation", "deletion", "propertyChange", "merge", "restore"];

/// The shape of the app's webhook events (`SimConfig::webhook_shape`, `ember sim --webhook-shape`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum WebhookShape {
    /// `contact.creation`, `contact.propertyChange`...: what legacy apps receive.
    #[default]
    Legacy,
    /// `object.creation` with `objectTypeId` `0-1`...: generic subscriptions (`crmObjects`).
    Generic,
    /// Every change twice, legacy and generic, under different subscription and event ids.
    Both,
}

impl WebhookShape {
    /// How many pending changes fit one request of at most `max_events` events.
    pub(crate) fn changes_per_batch(self, max_events: usize) -> usize {
        match self {
            WebhookShape::Both => (max_events / 2).max(1),
            WebhookShape::Legacy | WebhookShape::Generic => max_events,
        }
    }

    /// The events HubSpot sends for these legacy-shaped changes.
    pub(crate) fn apply(self, events: Vec<WebhookEvent>) -> Vec<WebhookEvent> {
        match self {
            WebhookShape::Legacy => events,
            WebhookShape::Generic => events
                .into_iter()
                .map(|e| generic_twin(&e).unwrap_or(e))
                .collect(),
            WebhookShape::Both => {
                let mut out = Vec::with_capacity(events.len() * 2);
                for e in events {
                    let twin = generic_twin(&e);
                    out.push(e);
                    out.extend(twin);
                }
                out
            }
        }
    }
}

/// The generic form of a legacy contact event, if it has one.
fn generic_twin(event: &WebhookEvent) -> Option<WebhookEvent> {
    let action = event.subscription_type.strip_prefix("contact.")?;
    if !GENERIC_ACTIONS.contains(&action) {
        return None;
    }
    let mut twin = event.clone();
    twin.subscription_type = format!("object.{action}");
    twin.object_type_id = Some(CONTACT_OBJECT_TYPE_ID.into());
    twin.subscription_id = event.subscription_id + GENERIC_ID_OFFSET;
    twin.event_id = event.event_id + GENERIC_ID_OFFSET;
    Some(twin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(kind: &str, event_id: u64) -> WebhookEvent {
        let body = serde_json::json!({
            "eventId": event_id, "subscriptionId": 7, "portalId": 1, "appId": 2, "occurredAt": 3,
            "subscriptionType": kind, "attemptNumber": 0, "objectId": 9
        });
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn generic_renames_contact_events_and_keeps_hub_events() {
        let out = WebhookShape::Generic.apply(vec![
            legacy("contact.propertyChange", 1),
            legacy("contact.privacyDeletion", 2),
        ]);
        assert_eq!(out[0].subscription_type, "object.propertyChange");
        assert_eq!(out[0].object_type_id.as_deref(), Some("0-1"));
        assert_eq!(out[0].subscription_id, 7 + GENERIC_ID_OFFSET);
        assert_eq!(out[1].subscription_type, "contact.privacyDeletion");
        assert_eq!(out[1].object_type_id, None);
    }

    #[test]
    fn both_sends_each_change_twice_within_one_request() {
        let out = WebhookShape::Both.apply(vec![
            legacy("contact.creation", 1),
            legacy("contact.privacyDeletion", 2),
        ]);
        let kinds: Vec<&str> = out.iter().map(|e| e.subscription_type.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "contact.creation",
                "object.creation",
                "contact.privacyDeletion"
            ]
        );
        assert_ne!(out[0].event_id, out[1].event_id);
        assert_eq!(WebhookShape::Both.changes_per_batch(100), 50);
        assert_eq!(
            WebhookShape::Legacy.apply(vec![legacy("contact.creation", 1)])[0].subscription_type,
            "contact.creation"
        );
    }
}

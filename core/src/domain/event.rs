//! Typed events as they travel from the intake to the workers.
//!
//! The intake publishes one [`EventBatch`] per request and portal: a RabbitMQ quorum queue
//! confirms tens of thousands of messages per second, not hundreds of thousands, so batching is
//! what lets one api accept HubSpot-sized batches at line rate. The worker still deduplicates
//! event by event, with [`QueuedEvent::key`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    AppId, EventId, EventKey, ObjectId, PortalId, PropertyName, SubscriptionId, SubscriptionType,
    WorkflowId,
};

/// Version of the [`EventBatch`] wire format; a worker rejects versions it does not know.
pub const BATCH_FORMAT_VERSION: u16 = 1;

/// What one queue message carries: every event of one intake request for one portal. Absent
/// optional fields are left out of the JSON, which keeps HubSpot-sized batches small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub format: u16,
    pub portal_id: PortalId,
    pub source: EventSource,
    pub received_at: DateTime<Utc>,
    /// The intake request this batch came from, for tracing across processes.
    pub request_id: String,
    pub events: Vec<QueuedEvent>,
}

/// Why a queue message is not an event batch this worker can read.
#[derive(Debug, thiserror::Error)]
pub enum BatchDecodeError {
    /// Not JSON, or no `format` field: garbage or another producer's message.
    #[error("not an event batch (no readable format field): {0}")]
    NoFormat(#[source] serde_json::Error),
    /// A format this build does not know (a newer intake, or an older one long retired).
    #[error("unknown batch format {found} (this worker reads {BATCH_FORMAT_VERSION})")]
    UnknownFormat { found: u16 },
    /// The right format, but a field is missing or invalid.
    #[error("invalid event batch: {0}")]
    Invalid(#[source] serde_json::Error),
}

impl EventBatch {
    /// The message body the intake publishes (JSON).
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Reads a message body: the format first, so that a newer format is named as such, then
    /// the batch through the same checked constructors as the intake used.
    pub fn decode(data: &[u8]) -> Result<Self, BatchDecodeError> {
        #[derive(Deserialize)]
        struct Envelope {
            format: u16,
        }
        let envelope: Envelope =
            serde_json::from_slice(data).map_err(BatchDecodeError::NoFormat)?;
        if envelope.format != BATCH_FORMAT_VERSION {
            return Err(BatchDecodeError::UnknownFormat {
                found: envelope.format,
            });
        }
        serde_json::from_slice(data).map_err(BatchDecodeError::Invalid)
    }

    /// A batch of the same request holding only `event`: how the worker dead-letters one event
    /// of a message whose other events it committed.
    pub fn with_only(&self, event: QueuedEvent) -> Self {
        Self {
            format: self.format,
            portal_id: self.portal_id,
            source: self.source,
            received_at: self.received_at,
            request_id: self.request_id.clone(),
            events: vec![event],
        }
    }
}

/// Which HubSpot feature sent the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    AppWebhook,
    WorkflowWebhook,
}

/// One event on the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// Most events are app events: boxing them would cost an allocation each for no gain.
#[allow(clippy::large_enum_variant)]
pub enum QueuedEvent {
    App(AppEvent),
    Workflow(WorkflowEvent),
}

impl QueuedEvent {
    pub fn portal_id(&self) -> PortalId {
        match self {
            QueuedEvent::App(e) => e.portal_id,
            QueuedEvent::Workflow(e) => e.portal_id,
        }
    }

    /// When the event happened; a workflow body that does not say is dated by its arrival.
    pub fn occurred_at(&self, received_at: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            QueuedEvent::App(e) => e.occurred_at,
            QueuedEvent::Workflow(e) => e.occurred_at.unwrap_or(received_at),
        }
    }

    /// The per-portal dedupe key.
    pub fn key(&self) -> EventKey {
        match self {
            QueuedEvent::App(e) => e.key(),
            QueuedEvent::Workflow(e) => e.key(),
        }
    }
}

/// A property change carried by a `*.propertyChange` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyChange {
    pub name: PropertyName,
    /// The new value, as HubSpot sends it (always a string; `""` means cleared).
    pub value: String,
}

/// The merge fields of a `*.merge` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// The record that won the merge.
    pub primary_object_id: ObjectId,
    /// The records merged into it.
    pub merged_object_ids: Vec<ObjectId>,
    /// The id of the record the merge created; it can differ from `primary_object_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_object_id: Option<ObjectId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_properties_moved: Option<i64>,
}

/// The association fields of a `*.associationChange` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Association {
    pub association_type: String,
    pub from_object_id: ObjectId,
    pub to_object_id: ObjectId,
    pub removed: bool,
    pub is_primary: bool,
}

/// One notification of an app webhook subscription, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppEvent {
    pub event_id: EventId,
    pub subscription_id: SubscriptionId,
    pub portal_id: PortalId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<AppId>,
    pub occurred_at: DateTime<Utc>,
    pub subscription_type: SubscriptionType,
    pub attempt_number: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<ObjectId>,
    /// Generic (`object.*`) subscriptions name the object type, e.g. `0-1` for contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<PropertyChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_flag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Merge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub association: Option<Association>,
}

impl AppEvent {
    /// The dedupe key: the change itself, not the notification that carried it. HubSpot's
    /// `eventId` is "not guaranteed to be unique", and during a migration one change arrives
    /// twice, as a legacy `contact.*` and as a generic `object.*` event, under different
    /// subscription and event ids (the normalizer gives the generic one its legacy type). So
    /// the key covers the portal, the type, the object, the time, and the property and value,
    /// merge ids or association ends; never `subscriptionId`, `eventId` or `attemptNumber`
    /// (docs/intake.md, "The dedupe key").
    pub fn key(&self) -> EventKey {
        let mut h = KeyHasher::new("app.change");
        h.field(self.portal_id.get())
            .field(self.subscription_type.as_str())
            .field(self.object_id.map_or(0, ObjectId::get))
            .field(self.occurred_at.timestamp_millis());
        if let Some(p) = &self.property {
            h.field(p.name.as_str()).field(p.value.as_str());
        }
        if let Some(m) = &self.merge {
            h.field(m.primary_object_id.get());
            for id in &m.merged_object_ids {
                h.field(id.get());
            }
        }
        if let Some(a) = &self.association {
            h.field(a.association_type.as_str())
                .field(a.from_object_id.get())
                .field(a.to_object_id.get())
                .field(u8::from(a.removed));
        }
        h.finish()
    }
}

/// One call of a workflow "Send a webhook" action, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowEvent {
    pub portal_id: PortalId,
    pub workflow_id: WorkflowId,
    pub object_id: ObjectId,
    /// The engagement this workflow reports (`pricing_page_view`), when the action names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// When the body says the event happened (`occurredAt`/`timestamp`), if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// An idempotency value the portal's workflow put in the body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<String>,
    /// Every other field of the body, each value normalized to HubSpot's string form.
    pub properties: BTreeMap<String, String>,
}

impl WorkflowEvent {
    /// The dedupe key. A workflow body has no event id of its own, and HubSpot retries a failed
    /// call for 3 days with the same body. With an explicit idempotency value the key is
    /// (portal, workflow, object, value); without one it is (portal, workflow, object, event name,
    /// occurred-at, every normalized property), so a retry is recognized and two enrolments with
    /// different data are not merged.
    pub fn key(&self) -> EventKey {
        let mut h = KeyHasher::new("workflow");
        h.field(self.portal_id.get())
            .field(self.workflow_id.get())
            .field(self.object_id.get());
        match &self.idempotency {
            Some(value) => {
                h.field("explicit").field(value.as_str());
            }
            None => {
                h.field("derived")
                    .field(self.event_name.as_deref().unwrap_or(""))
                    .field(self.occurred_at.map_or(i64::MIN, |t| t.timestamp_millis()));
                for (name, value) in &self.properties {
                    h.field(name.as_str()).field(value.as_str());
                }
            }
        }
        h.finish()
    }
}

/// Hashes length-prefixed fields, so that no two different field lists hash the same input.
struct KeyHasher(Sha256);

trait KeyField {
    fn feed(&self, hasher: &mut Sha256);
}

impl KeyField for &str {
    fn feed(&self, hasher: &mut Sha256) {
        hasher.update((self.len() as u64).to_be_bytes());
        hasher.update(self.as_bytes());
    }
}

impl KeyField for i64 {
    fn feed(&self, hasher: &mut Sha256) {
        hasher.update([8]);
        hasher.update(self.to_be_bytes());
    }
}

impl KeyField for u8 {
    fn feed(&self, hasher: &mut Sha256) {
        hasher.update([1, *self]);
    }
}

impl KeyHasher {
    fn new(domain: &str) -> Self {
        let mut hasher = Sha256::new();
        domain.feed(&mut hasher);
        Self(hasher)
    }

    fn field(&mut self, value: impl KeyField) -> &mut Self {
        value.feed(&mut self.0);
        self
    }

    fn finish(self) -> EventKey {
        EventKey::from_bytes(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AppEvent {
        AppEvent {
            event_id: EventId::new(1).unwrap(),
            subscription_id: SubscriptionId::new(2).unwrap(),
            portal_id: PortalId::new(3).unwrap(),
            app_id: Some(AppId::new(4).unwrap()),
            occurred_at: DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
            subscription_type: SubscriptionType::parse("contact.propertyChange").unwrap(),
            attempt_number: 0,
            object_id: Some(ObjectId::new(5).unwrap()),
            object_type_id: None,
            property: Some(PropertyChange {
                name: PropertyName::parse("lifecyclestage").unwrap(),
                value: "lead".into(),
            }),
            change_source: Some("CRM_UI".into()),
            source_id: None,
            change_flag: None,
            merge: None,
            association: None,
        }
    }

    #[test]
    fn retries_share_a_key_and_different_changes_do_not() {
        let first = event();
        let mut retry = event();
        retry.attempt_number = 3;
        assert_eq!(first.key(), retry.key());

        let mut other_value = event();
        other_value.property.as_mut().unwrap().value = "customer".into();
        assert_ne!(first.key(), other_value.key());

        let mut same_event_id_other_object = event();
        same_event_id_other_object.object_id = Some(ObjectId::new(6).unwrap());
        assert_ne!(first.key(), same_event_id_other_object.key());

        let mut other_time = event();
        other_time.occurred_at = DateTime::from_timestamp_millis(1_700_000_000_001).unwrap();
        assert_ne!(first.key(), other_time.key());
    }

    #[test]
    fn one_change_has_one_key_whichever_subscription_carried_it() {
        let legacy = event();
        let mut generic = event();
        generic.subscription_id = SubscriptionId::new(777).unwrap();
        generic.event_id = EventId::new(888).unwrap();
        generic.object_type_id = Some("0-1".into());
        generic.change_source = Some("CRM".into());
        assert_eq!(legacy.key(), generic.key());

        let mut other_type = event();
        other_type.subscription_type = SubscriptionType::parse("contact.creation").unwrap();
        assert_ne!(legacy.key(), other_type.key());
    }

    #[test]
    fn batches_round_trip_through_json() {
        let batch = EventBatch {
            format: BATCH_FORMAT_VERSION,
            portal_id: PortalId::new(3).unwrap(),
            source: EventSource::AppWebhook,
            received_at: DateTime::from_timestamp_millis(1_700_000_000_500).unwrap(),
            request_id: "r1".into(),
            events: vec![QueuedEvent::App(event())],
        };
        let json = batch.encode().unwrap();
        assert_eq!(EventBatch::decode(&json).unwrap(), batch);
        let one = batch.with_only(QueuedEvent::App(event()));
        assert_eq!((one.request_id.as_str(), one.events.len()), ("r1", 1));
    }

    #[test]
    fn workflow_key_prefers_the_explicit_value() {
        let mut e = WorkflowEvent {
            portal_id: PortalId::new(3).unwrap(),
            workflow_id: WorkflowId::new(9).unwrap(),
            object_id: ObjectId::new(5).unwrap(),
            event_name: Some("pricing_page_view".into()),
            occurred_at: DateTime::from_timestamp_millis(1_700_000_000_000),
            idempotency: Some("abc".into()),
            properties: BTreeMap::from([("a".to_string(), "1".to_string())]),
        };
        let k1 = e.key();
        e.properties.insert("b".into(), "2".into());
        assert_eq!(k1, e.key(), "explicit idempotency ignores the body");
        e.idempotency = None;
        let k2 = e.key();
        e.properties.insert("b".into(), "3".into());
        assert_ne!(k2, e.key());
    }
}

//! What Ember should have written, computed offline from what HubSpot (the simulator) knows:
//! the unique webhook events it delivered and accepted, and each contact's properties.

use std::collections::{BTreeMap, HashSet};

use anyhow::Context;
use chrono::{DateTime, Utc};
use ember_core::scoring::{CompiledModel, EngagementSignal, Ledger, SignalKind, Snapshot};
use hubspot_sim::{DeliveryAttempt, DeliveryKind};
use serde::Deserialize;

/// One webhook event as HubSpot sends it (the fields scoring depends on).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent {
    event_id: u64,
    portal_id: u64,
    object_id: Option<u64>,
    subscription_type: String,
    occurred_at: i64,
    property_name: Option<String>,
    property_value: Option<String>,
}

/// An accepted event of one contact.
#[derive(Debug, Clone)]
pub struct ContactEvent {
    pub property: Option<(String, String)>,
    pub occurred_at_ms: i64,
}

/// Every event the simulator delivered and Ember accepted (answered 2xx), each counted once
/// however often it was delivered, by portal and contact.
#[derive(Debug, Default)]
pub struct AcceptedEvents {
    /// portal → contact → its unique events.
    pub by_contact: BTreeMap<u64, BTreeMap<u64, Vec<ContactEvent>>>,
    /// portal → contact → simulator times at which Ember accepted a delivery carrying an event
    /// of the contact (every attempt, duplicates included), ascending.
    pub accepted_at: BTreeMap<u64, BTreeMap<u64, Vec<i64>>>,
    /// Unique events per portal.
    pub unique: BTreeMap<u64, usize>,
    /// Events in accepted deliveries per portal, duplicates included.
    pub delivered: BTreeMap<u64, usize>,
}

impl AcceptedEvents {
    pub fn from_deliveries(deliveries: &[DeliveryAttempt]) -> anyhow::Result<Self> {
        let mut out = Self::default();
        let mut seen = HashSet::new();
        for d in deliveries {
            let accepted = d.status.is_some_and(|s| (200..300).contains(&s));
            if d.kind != DeliveryKind::App || !accepted {
                continue;
            }
            let events: Vec<WireEvent> = serde_json::from_str(&d.body).with_context(|| {
                format!("delivery of batch {} is not a list of events", d.batch_id)
            })?;
            for e in events {
                *out.delivered.entry(e.portal_id).or_default() += 1;
                let Some(contact) = e.object_id else { continue };
                out.accepted_at
                    .entry(e.portal_id)
                    .or_default()
                    .entry(contact)
                    .or_default()
                    .push(d.at_ms);
                let key = (
                    e.portal_id,
                    e.event_id,
                    e.subscription_type.clone(),
                    contact,
                    e.occurred_at,
                    e.property_name.clone(),
                    e.property_value.clone(),
                );
                if !seen.insert(key) {
                    continue;
                }
                *out.unique.entry(e.portal_id).or_default() += 1;
                let property = match (&e.property_name, &e.property_value) {
                    (Some(name), Some(value))
                        if e.subscription_type == "contact.propertyChange" =>
                    {
                        Some((name.clone(), value.clone()))
                    }
                    _ => None,
                };
                out.by_contact
                    .entry(e.portal_id)
                    .or_default()
                    .entry(contact)
                    .or_default()
                    .push(ContactEvent {
                        property,
                        occurred_at_ms: e.occurred_at,
                    });
            }
        }
        for contacts in out.accepted_at.values_mut() {
            for times in contacts.values_mut() {
                times.sort_unstable();
            }
        }
        Ok(out)
    }
}

/// The values Ember should have written for a contact: the portal's model over snapshot = the
/// contact's properties in HubSpot and ledger = its unique engagement events, at `at`.
pub fn expected_values(
    model: &CompiledModel,
    properties: &BTreeMap<String, String>,
    events: &[ContactEvent],
    at: DateTime<Utc>,
) -> BTreeMap<String, String> {
    let snapshot: Snapshot = properties
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut ledger = Ledger::new();
    for e in events {
        let Some((property, value)) = &e.property else {
            continue;
        };
        let signal = EngagementSignal {
            kind: SignalKind::PropertyChange {
                property: property.clone(),
                value: value.clone(),
            },
            occurred_at: DateTime::from_timestamp_millis(e.occurred_at_ms).unwrap_or_default(),
        };
        for entry in model.ledger_entries(&signal) {
            ledger.insert(entry);
        }
    }
    model.score(&snapshot, &ledger, at).hubspot_values(model)
}

/// Whether HubSpot holds `expected` (a value `""` means the property is cleared: absent).
pub fn differences(
    expected: &BTreeMap<String, String>,
    hubspot: &BTreeMap<String, String>,
) -> Vec<String> {
    expected
        .iter()
        .filter_map(|(name, want)| {
            let have = hubspot.get(name).map(String::as_str).unwrap_or("");
            (have != want).then(|| format!("{name}: HubSpot has {have:?}, expected {want:?}"))
        })
        .collect()
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

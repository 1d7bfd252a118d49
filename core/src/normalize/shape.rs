//! Which webhook shapes Ember uses, and the one name each used change goes by.
//!
//! HubSpot's 2026 developer platform sends three families of subscription to one target URL
//! (docs/hubspot.md A.7): generic `object.*` types that name the object in `objectTypeId`, the
//! legacy `contact.*` types, and hub events such as `contact.privacyDeletion`. Ember scores
//! contacts, so a generic contact event is renamed here to its legacy type (`object.creation`
//! with `0-1` becomes `contact.creation`) and both shapes of one change reach the worker as the
//! same typed event, with the same dedupe key. Every other type is dropped with a
//! [`DropReason`]: answered 2xx (HubSpot retries any 4xx or 5xx of the whole batch for a day),
//! counted, and shown in the console's rejections (docs/intake.md, "Events Ember does not use").

use std::fmt;

use crate::domain::PortalId;

/// The `objectTypeId` of contacts in generic subscriptions (docs/hubspot.md A.7).
pub const CONTACT_OBJECT_TYPE_ID: &str = "0-1";

/// The prefix of generic subscription types.
const GENERIC_PREFIX: &str = "object";

/// Actions Ember reads from contact events, in either shape.
const CONTACT_ACTIONS: [&str; 7] = [
    "creation",
    "deletion",
    "propertyChange",
    "merge",
    "restore",
    "associationChange",
    "privacyDeletion",
];

/// Actions a generic subscription carries an `objectTypeId` for (docs/hubspot.md A.7);
/// `object.associationChange` names two object types instead, and Ember does not use it.
const GENERIC_OBJECT_ACTIONS: [&str; 5] =
    ["creation", "deletion", "propertyChange", "merge", "restore"];

/// Objects HubSpot's legacy types name that Ember does not score.
const UNUSED_LEGACY_OBJECTS: [&str; 5] = ["company", "deal", "ticket", "product", "line_item"];

/// Objects whose events reach an app only as hub events (generic subscriptions do not cover
/// them, docs/hubspot.md A.7); Ember uses none of them.
const UNUSED_HUB_EVENT_OBJECTS: [&str; 1] = ["conversation"];

/// Why an event was dropped rather than queued; the label of
/// `ember_intake_events_dropped_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A hub event other than `contact.privacyDeletion` (e.g. `conversation.*`).
    UnusedHubEvent,
    /// A generic event about an object other than contacts (`0-2` companies...), or a legacy
    /// type of such an object (`company.creation`).
    UnusedObjectType,
    /// A generic event without its `objectTypeId`: Ember cannot tell what it is about.
    ObjectTypeMissing,
    /// A type Ember knows and does not use (`object.associationChange`).
    UnusedSubscriptionType,
    /// A type Ember does not know.
    UnknownSubscriptionType,
}

impl DropReason {
    /// The stable label, for metrics, answers and the rejections view.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnusedHubEvent => "unused_hub_event",
            DropReason::UnusedObjectType => "unused_object_type",
            DropReason::ObjectTypeMissing => "object_type_missing",
            DropReason::UnusedSubscriptionType => "unused_subscription_type",
            DropReason::UnknownSubscriptionType => "unknown_subscription_type",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event of a body that was dropped, and why. It holds the type and object type id as
/// HubSpot sent them (HubSpot's vocabulary, no personal data), never the event's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Index of the event in the body's array.
    pub index: usize,
    /// The portal the event names, when it names a valid one.
    pub portal_id: Option<PortalId>,
    pub subscription_type: String,
    pub object_type_id: Option<String>,
    pub reason: DropReason,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event[{}]: {}", self.index, self.subscription_type)?;
        if let Some(id) = &self.object_type_id {
            write!(f, " (objectTypeId {id})")?;
        }
        let why = match self.reason {
            DropReason::UnusedHubEvent => "a hub event Ember does not use",
            DropReason::UnusedObjectType => "an object type Ember does not score",
            DropReason::ObjectTypeMissing => "a generic event without objectTypeId",
            DropReason::UnusedSubscriptionType => "a subscription type Ember does not use",
            DropReason::UnknownSubscriptionType => "a subscription type Ember does not know",
        };
        write!(f, " dropped: {why} ({})", self.reason)
    }
}

/// What to do with an event of this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Shape {
    /// A contact event; `canonical` is its legacy type when it came in the generic shape.
    Contact {
        canonical: Option<String>,
    },
    Drop(DropReason),
}

/// Classifies a subscription type and, for generic types, its `objectTypeId`.
pub(super) fn classify(subscription_type: &str, object_type_id: Option<&str>) -> Shape {
    let Some((object, action)) = subscription_type.split_once('.') else {
        return Shape::Drop(DropReason::UnknownSubscriptionType);
    };
    if object == GENERIC_PREFIX {
        if !GENERIC_OBJECT_ACTIONS.contains(&action) {
            return Shape::Drop(if action == "associationChange" {
                DropReason::UnusedSubscriptionType
            } else {
                DropReason::UnknownSubscriptionType
            });
        }
        return match object_type_id.map(str::trim) {
            None | Some("") => Shape::Drop(DropReason::ObjectTypeMissing),
            Some(CONTACT_OBJECT_TYPE_ID) => Shape::Contact {
                canonical: Some(format!("contact.{action}")),
            },
            Some(_) => Shape::Drop(DropReason::UnusedObjectType),
        };
    }
    if object == "contact" {
        return if CONTACT_ACTIONS.contains(&action) {
            Shape::Contact { canonical: None }
        } else {
            Shape::Drop(DropReason::UnknownSubscriptionType)
        };
    }
    if UNUSED_HUB_EVENT_OBJECTS.contains(&object) {
        return Shape::Drop(DropReason::UnusedHubEvent);
    }
    if UNUSED_LEGACY_OBJECTS.contains(&object) && CONTACT_ACTIONS.contains(&action) {
        return Shape::Drop(DropReason::UnusedObjectType);
    }
    Shape::Drop(DropReason::UnknownSubscriptionType)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(t: &str, id: Option<&str>) -> Option<String> {
        match classify(t, id) {
            Shape::Contact { canonical } => canonical,
            Shape::Drop(r) => panic!("{t} dropped: {r}"),
        }
    }

    fn reason(t: &str, id: Option<&str>) -> DropReason {
        match classify(t, id) {
            Shape::Drop(r) => r,
            Shape::Contact { .. } => panic!("{t} kept"),
        }
    }

    #[test]
    fn generic_contact_events_take_their_legacy_name() {
        for action in GENERIC_OBJECT_ACTIONS {
            assert_eq!(
                canonical(&format!("object.{action}"), Some("0-1")),
                Some(format!("contact.{action}"))
            );
        }
        assert_eq!(canonical("contact.propertyChange", None), None);
        assert_eq!(canonical("contact.privacyDeletion", None), None);
        assert_eq!(canonical("contact.associationChange", None), None);
    }

    #[test]
    fn everything_else_is_dropped_with_its_reason() {
        use DropReason::*;
        assert_eq!(reason("object.creation", Some("0-2")), UnusedObjectType);
        assert_eq!(
            reason("object.propertyChange", Some("2-123")),
            UnusedObjectType
        );
        assert_eq!(reason("object.creation", None), ObjectTypeMissing);
        assert_eq!(reason("object.merge", Some(" ")), ObjectTypeMissing);
        assert_eq!(
            reason("object.associationChange", Some("0-1")),
            UnusedSubscriptionType
        );
        assert_eq!(
            reason("object.privacyDeletion", Some("0-1")),
            UnknownSubscriptionType
        );
        assert_eq!(reason("company.creation", None), UnusedObjectType);
        assert_eq!(reason("deal.propertyChange", None), UnusedObjectType);
        assert_eq!(reason("conversation.privacyDeletion", None), UnusedHubEvent);
        assert_eq!(reason("conversation.newMessage", None), UnusedHubEvent);
        assert_eq!(
            reason("contact.somethingNew", None),
            UnknownSubscriptionType
        );
        assert_eq!(reason("event.completed", None), UnknownSubscriptionType);
        assert_eq!(reason("nodot", None), UnknownSubscriptionType);
    }

    #[test]
    fn a_drop_reads_without_values() {
        let d = Dropped {
            index: 2,
            portal_id: None,
            subscription_type: "object.creation".into(),
            object_type_id: Some("0-2".into()),
            reason: DropReason::UnusedObjectType,
        };
        assert_eq!(
            d.to_string(),
            "event[2]: object.creation (objectTypeId 0-2) dropped: an object type Ember does not score (unused_object_type)"
        );
    }
}

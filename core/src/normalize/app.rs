//! App webhook bodies: a JSON array of notifications (HubSpot sends an array even for one).

use serde_json::{Map, Value};

use super::shape::{Dropped, Shape, classify};
use super::value::{boolean, describe, integer, property_value, text, timestamp, without_nul};
use super::{NormalizeError, Normalized, Problems};
use crate::domain::{
    AppEvent, AppId, Association, EventId, Merge, ObjectId, PortalId, PropertyChange, PropertyName,
    SubscriptionAction, SubscriptionId, SubscriptionType,
};
use crate::signature::VerifiedBody;

/// Limits on one app webhook body.
#[derive(Debug, Clone, Copy)]
pub struct AppBodyLimits {
    /// HubSpot sends at most 100 events per request.
    pub max_events: usize,
}

impl Default for AppBodyLimits {
    fn default() -> Self {
        Self { max_events: 100 }
    }
}

/// Longest `objectTypeId` a drop record keeps (HubSpot's are like `0-1` or `2-12345678`).
const MAX_DROPPED_OBJECT_TYPE_ID: usize = 40;

/// What one event object became.
// Most events are kept: boxing them would cost an allocation each for no gain.
#[allow(clippy::large_enum_variant)]
enum Read {
    Event(AppEvent),
    Dropped(Dropped),
}

/// Parses and normalizes a verified app webhook body. Events of types Ember does not use are
/// returned in [`Normalized::dropped`], not as errors (see `shape`).
pub fn normalize_app_webhook(
    body: VerifiedBody<'_>,
    limits: AppBodyLimits,
) -> Result<Normalized<Vec<AppEvent>>, NormalizeError> {
    let value: Value = serde_json::from_slice(body.bytes()).map_err(|e| {
        NormalizeError::body("malformed_json", format!("body is not valid JSON: {e}"))
    })?;
    let Value::Array(items) = value else {
        return Err(NormalizeError::body(
            "not_an_array",
            "body must be a JSON array of events",
        ));
    };
    if items.len() > limits.max_events {
        return Err(NormalizeError::body(
            "too_many_events",
            format!(
                "body has {} events; at most {} are accepted per request",
                items.len(),
                limits.max_events
            ),
        ));
    }
    let mut problems = Problems::default();
    let mut notes = Vec::new();
    let mut events = Vec::with_capacity(items.len());
    let mut dropped = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::Object(fields) => {
                let cleaned = without_nul(fields, Some(index), &mut notes);
                let fields = cleaned.as_ref().unwrap_or(fields);
                let reader = EventReader {
                    index,
                    fields,
                    problems: &mut problems,
                };
                match reader.read() {
                    Some(Read::Event(event)) => events.push(event),
                    Some(Read::Dropped(drop)) => dropped.push(drop),
                    None => {}
                }
            }
            other => problems.push(
                Some(index),
                "",
                format!("expected an object, got {}", describe(other)),
            ),
        }
    }
    if problems.is_empty() {
        Ok(Normalized {
            events,
            notes,
            dropped,
        })
    } else {
        Err(problems.into_error())
    }
}

/// Reads one event object, recording every problem instead of stopping at the first.
struct EventReader<'a> {
    index: usize,
    fields: &'a Map<String, Value>,
    problems: &'a mut Problems,
}

impl EventReader<'_> {
    fn read(mut self) -> Option<Read> {
        let before = self.problems.errors.len() + self.problems.more;
        // The docs' table and example say `eventType`; real payloads say `subscriptionType`.
        let subscription_type = match (
            self.fields.get("subscriptionType"),
            self.fields.get("eventType"),
        ) {
            (Some(v), _) | (None, Some(v)) => self.parse("subscriptionType", v, |v| match v {
                // A number here is not a type HubSpot has: refuse it rather than keep "5" as an
                // unknown type that every worker would skip in silence.
                Value::String(s) => SubscriptionType::parse(s.as_str()).map_err(|e| e.to_string()),
                other => Err(format!(
                    "expected a string such as \"contact.creation\", got {}",
                    describe(other)
                )),
            }),
            (None, None) => {
                self.problems
                    .push(Some(self.index), "subscriptionType", "is required");
                None
            }
        };
        // Classified before anything else is read: a type Ember does not use is dropped whatever
        // its other fields say, since a 400 would make HubSpot retry the whole batch for a day.
        let mut subscription_type = subscription_type;
        if let Some(t) = &subscription_type {
            let lenient_object_type = self.fields.get("objectTypeId").and_then(|v| text(v).ok());
            match classify(t.as_str(), lenient_object_type.as_deref()) {
                Shape::Drop(reason) => {
                    return Some(Read::Dropped(Dropped {
                        index: self.index,
                        portal_id: self
                            .fields
                            .get("portalId")
                            .and_then(|v| integer(v).ok())
                            .and_then(|id| PortalId::new(id).ok()),
                        subscription_type: t.as_str().to_owned(),
                        object_type_id: lenient_object_type
                            .map(|id| id.chars().take(MAX_DROPPED_OBJECT_TYPE_ID).collect()),
                        reason,
                    }));
                }
                Shape::Contact {
                    canonical: Some(canonical),
                } => {
                    // `contact.<action>` of a known action always parses; should it not, the
                    // event keeps the type it came with rather than vanish.
                    if let Ok(canonical) = SubscriptionType::parse(canonical) {
                        subscription_type = Some(canonical);
                    }
                }
                Shape::Contact { canonical: None } => {}
            }
        }
        let event_id = self.required("eventId", |v| {
            EventId::new(integer(v)?).map_err(|e| e.to_string())
        });
        let subscription_id = self.required("subscriptionId", |v| {
            SubscriptionId::new(integer(v)?).map_err(|e| e.to_string())
        });
        let portal_id = self.required("portalId", |v| {
            PortalId::new(integer(v)?).map_err(|e| e.to_string())
        });
        let app_id = self.optional("appId", |v| {
            AppId::new(integer(v)?).map_err(|e| e.to_string())
        });
        let occurred_at = self.required("occurredAt", timestamp);
        let attempt_number = self
            .optional("attemptNumber", |v| {
                u32::try_from(integer(v)?)
                    .map_err(|_| "expected a non-negative integer".to_string())
            })
            .unwrap_or(0);
        let object_id = self.optional("objectId", object_id);
        let object_type_id = self.optional("objectTypeId", text);
        let change_source = self.optional("changeSource", text);
        let source_id = self.optional("sourceId", text);
        let change_flag = self.optional("changeFlag", text);

        let action = subscription_type.as_ref().map(SubscriptionType::action);
        let property = match action {
            Some(SubscriptionAction::PropertyChange) => {
                let name = self.required("propertyName", |v| {
                    PropertyName::parse(text(v)?).map_err(|e| e.to_string())
                });
                let value = self
                    .optional("propertyValue", property_value)
                    .unwrap_or_default();
                name.map(|name| PropertyChange { name, value })
            }
            _ => None,
        };
        let merge = match action {
            Some(SubscriptionAction::Merge) => self.merge(),
            _ => None,
        };
        let association = match action {
            Some(SubscriptionAction::AssociationChange) => self.association(),
            _ => None,
        };
        let needs_object = matches!(
            action,
            Some(
                SubscriptionAction::Creation
                    | SubscriptionAction::Deletion
                    | SubscriptionAction::PropertyChange
                    | SubscriptionAction::Restore
                    | SubscriptionAction::PrivacyDeletion
            )
        );
        if needs_object && object_id.is_none() && !self.fields.contains_key("objectId") {
            self.problems.push(
                Some(self.index),
                "objectId",
                "is required for this subscription type",
            );
        }

        if self.problems.errors.len() + self.problems.more > before {
            return None;
        }
        Some(Read::Event(AppEvent {
            event_id: event_id?,
            subscription_id: subscription_id?,
            portal_id: portal_id?,
            app_id,
            occurred_at: occurred_at?,
            subscription_type: subscription_type?,
            attempt_number,
            object_id,
            object_type_id,
            property,
            change_source,
            source_id,
            change_flag,
            merge,
            association,
        }))
    }

    fn merge(&mut self) -> Option<Merge> {
        let primary = self.required("primaryObjectId", object_id);
        let merged = self.required("mergedObjectIds", |v| match v {
            Value::Array(ids) => ids.iter().map(object_id).collect::<Result<Vec<_>, _>>(),
            other => Err(format!("expected an array of ids, got {}", describe(other))),
        });
        let new_object_id = self.optional("newObjectId", object_id);
        let moved = self.optional("numberOfPropertiesMoved", integer);
        Some(Merge {
            primary_object_id: primary?,
            merged_object_ids: merged?,
            new_object_id,
            number_of_properties_moved: moved,
        })
    }

    fn association(&mut self) -> Option<Association> {
        let association_type = self.required("associationType", text);
        let from = self.required("fromObjectId", object_id);
        let to = self.required("toObjectId", object_id);
        let removed = self
            .optional("associationRemoved", boolean)
            .unwrap_or(false);
        let is_primary = self
            .optional("isPrimaryAssociation", boolean)
            .unwrap_or(false);
        Some(Association {
            association_type: association_type?,
            from_object_id: from?,
            to_object_id: to?,
            removed,
            is_primary,
        })
    }

    fn parse<T>(
        &mut self,
        field: &str,
        value: &Value,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match parse(value) {
            Ok(v) => Some(v),
            Err(problem) => {
                self.problems.push(Some(self.index), field, problem);
                None
            }
        }
    }

    fn required<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.fields.get(field) {
            Some(Value::Null) | None => {
                self.problems.push(Some(self.index), field, "is required");
                None
            }
            Some(v) => self.parse(field, v, parse),
        }
    }

    /// Absent and `null` both mean "not given".
    fn optional<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.fields.get(field) {
            Some(Value::Null) | None => None,
            Some(v) => self.parse(field, v, parse),
        }
    }
}

fn object_id(value: &Value) -> Result<ObjectId, String> {
    ObjectId::new(integer(value)?).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::VerifiedBody;

    fn run(body: &str) -> Result<Vec<AppEvent>, NormalizeError> {
        run_noted(body).map(|n| n.events)
    }

    fn run_noted(body: &str) -> Result<Normalized<Vec<AppEvent>>, NormalizeError> {
        normalize_app_webhook(
            VerifiedBody::authenticated_otherwise(body.as_bytes()),
            AppBodyLimits::default(),
        )
    }

    #[test]
    fn a_numeric_subscription_type_and_a_negative_occurred_at_are_refused() {
        let body = r#"[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"contact.creation","objectId":4},
            {"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":5,"objectId":4},
            {"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":-1,"subscriptionType":"contact.creation","objectId":4}]"#;
        let err = run(body).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("event[1].subscriptionType: expected a string"),
            "{text}"
        );
        assert!(
            text.contains("event[2].occurredAt: must not be before 1970"),
            "{text}"
        );
        assert_eq!(err.errors.len(), 2, "{text}");
    }

    #[test]
    fn nul_characters_are_removed_with_a_note_naming_event_and_field() {
        let body = r#"[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"contact.creation","objectId":4},
            {"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"contact.propertyChange",
             "objectId":4,"propertyName":"jobtitle","propertyValue":"VP\u0000 Sales","changeSource":"CRM\u0000"}]"#;
        let noted = run_noted(body).unwrap();
        assert_eq!(noted.events.len(), 2);
        let p = noted.events[1].property.as_ref().unwrap();
        assert_eq!(p.value, "VP Sales");
        assert_eq!(noted.events[1].change_source.as_deref(), Some("CRM"));
        let notes: Vec<String> = noted.notes.iter().map(ToString::to_string).collect();
        assert_eq!(
            notes,
            [
                format!("event[1].changeSource: {}", super::super::NUL_REMOVED),
                format!("event[1].propertyValue: {}", super::super::NUL_REMOVED)
            ]
        );
    }

    #[test]
    fn reads_the_docs_example_with_event_type_key() {
        let body = r#"[
          {"objectId":1246965,"propertyName":"lifecyclestage","propertyValue":"subscriber","changeSource":"ACADEMY",
           "eventId":3816279340,"subscriptionId":25,"portalId":33,"appId":1160452,"occurredAt":1462216307945,
           "eventType":"contact.propertyChange","attemptNumber":0},
          {"objectId":1246978,"changeSource":"IMPORT","eventId":3816279480,"subscriptionId":22,"portalId":33,
           "appId":1160452,"occurredAt":1462216307945,"eventType":"contact.creation","attemptNumber":0}
        ]"#;
        let events = run(body).unwrap();
        assert_eq!(events.len(), 2);
        let p = events[0].property.as_ref().unwrap();
        assert_eq!(
            (p.name.as_str(), p.value.as_str()),
            ("lifecyclestage", "subscriber")
        );
        assert_eq!(events[1].subscription_type.as_str(), "contact.creation");
        assert_eq!(events[0].occurred_at.timestamp_millis(), 1_462_216_307_945);
    }

    #[test]
    fn accepts_ids_as_strings_and_iso_dates() {
        let body = r#"[{"eventId":"7","subscriptionId":"8","portalId":"9","occurredAt":"2024-05-01T10:00:00+02:00",
            "subscriptionType":"contact.creation","objectId":"10","attemptNumber":"2"}]"#;
        let e = &run(body).unwrap()[0];
        assert_eq!(e.portal_id.get(), 9);
        assert_eq!(e.object_id.unwrap().get(), 10);
        assert_eq!(e.attempt_number, 2);
        assert_eq!(e.occurred_at.to_rfc3339(), "2024-05-01T08:00:00+00:00");
    }

    #[test]
    fn merges_and_associations_are_typed() {
        let body = r#"[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"contact.merge",
            "objectId":50,"primaryObjectId":50,"mergedObjectIds":[51,"52"],"newObjectId":53,"numberOfPropertiesMoved":4},
           {"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"contact.associationChange",
            "associationType":"CONTACT_TO_COMPANY","fromObjectId":5,"toObjectId":6,"associationRemoved":"TRUE",
            "isPrimaryAssociation":false}]"#;
        let events = run(body).unwrap();
        let m = events[0].merge.as_ref().unwrap();
        assert_eq!(
            m.merged_object_ids
                .iter()
                .map(|i| i.get())
                .collect::<Vec<_>>(),
            vec![51, 52]
        );
        assert_eq!(m.new_object_id.unwrap().get(), 53);
        assert!(events[1].association.as_ref().unwrap().removed);
    }

    #[test]
    fn a_generic_contact_event_takes_its_legacy_type_and_keeps_its_object_type() {
        let body = r#"[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"object.propertyChange",
            "objectTypeId":"0-1","objectId":4,"propertyName":"email","propertyValue":"a@b.c"}]"#;
        let noted = run_noted(body).unwrap();
        let e = &noted.events[0];
        assert_eq!(e.subscription_type.as_str(), "contact.propertyChange");
        assert_eq!(e.object_type_id.as_deref(), Some("0-1"));
        assert_eq!(e.property.as_ref().unwrap().name.as_str(), "email");
        assert!(noted.dropped.is_empty());
    }

    #[test]
    fn unused_and_unknown_types_are_dropped_with_their_reason_whatever_else_they_carry() {
        // The company event lacks its eventId and the unknown one its occurredAt: neither is
        // read, so neither makes the body a 400.
        let body = r#"[{"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"object.creation",
            "objectTypeId":"0-2","objectId":4},
            {"eventId":1,"subscriptionId":2,"portalId":"3","subscriptionType":"object.somethingNew","objectId":4},
            {"eventId":1,"subscriptionId":2,"portalId":-3,"occurredAt":1,"subscriptionType":"object.deletion","objectId":4},
            {"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"contact.creation","objectId":4}]"#;
        let noted = run_noted(body).unwrap();
        assert_eq!(noted.events.len(), 1);
        let dropped: Vec<(usize, Option<i64>, &str)> = noted
            .dropped
            .iter()
            .map(|d| (d.index, d.portal_id.map(PortalId::get), d.reason.as_str()))
            .collect();
        assert_eq!(
            dropped,
            [
                (0, Some(3), "unused_object_type"),
                (1, Some(3), "unknown_subscription_type"),
                (2, None, "object_type_missing"),
            ]
        );
        assert_eq!(noted.dropped[0].object_type_id.as_deref(), Some("0-2"));
    }

    #[test]
    fn a_kept_generic_event_is_still_checked_field_by_field() {
        let body = r#"[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"object.propertyChange",
            "objectTypeId":"0-1","objectId":4}]"#;
        let text = run(body).unwrap_err().to_string();
        assert!(
            text.contains("event[0].propertyName: is required"),
            "{text}"
        );
    }

    #[test]
    fn every_problem_names_event_and_field() {
        let body = r#"[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"contact.creation","objectId":4},
            {"eventId":"x","subscriptionId":2,"portalId":-3,"occurredAt":"yesterday","subscriptionType":"contact.propertyChange","objectId":4}]"#;
        let err = run(body).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("event[1].eventId: expected an integer"),
            "{text}"
        );
        assert!(
            text.contains("event[1].portalId: must be a positive integer"),
            "{text}"
        );
        assert!(
            text.contains("event[1].occurredAt: expected epoch milliseconds"),
            "{text}"
        );
        assert!(
            text.contains("event[1].propertyName: is required"),
            "{text}"
        );
        assert!(!text.contains("event[0]"), "{text}");
    }

    #[test]
    fn body_shape_errors() {
        assert_eq!(run("{").unwrap_err().reason, "malformed_json");
        assert_eq!(run("{}").unwrap_err().reason, "not_an_array");
        assert!(
            run("[1]")
                .unwrap_err()
                .to_string()
                .contains("event[0]: expected an object, got 1")
        );
        let many = format!("[{}]", vec!["{}"; 101].join(","));
        assert_eq!(run(&many).unwrap_err().reason, "too_many_events");
        assert_eq!(run("[]").unwrap(), vec![]);
    }

    #[test]
    fn bad_booleans_and_missing_fields_are_named() {
        let body = r#"[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1,"subscriptionType":"contact.associationChange",
            "associationType":"CONTACT_TO_COMPANY","fromObjectId":5,"toObjectId":6,"associationRemoved":"yes"}]"#;
        assert!(
            run(body)
                .unwrap_err()
                .to_string()
                .contains("event[0].associationRemoved: expected true or false")
        );
        let body = r#"[{"subscriptionId":2,"portalId":3,"occurredAt":1,"objectId":1}]"#;
        let text = run(body).unwrap_err().to_string();
        assert!(
            text.contains("event[0].subscriptionType: is required"),
            "{text}"
        );
        assert!(text.contains("event[0].eventId: is required"), "{text}");
    }
}

//! Workflow "Send a webhook" bodies: a flat JSON object whose value types are unreliable
//! (numbers for ids and enumerations, epoch milliseconds for dates, `"true"` for booleans).
//!
//! Reserved keys (any case of the first letter is not accepted: HubSpot keys are what the portal
//! typed in the action, so we document exact spellings):
//! - the record: `hs_object_id`, `objectId` or `vid` (required);
//! - the workflow: `workflowId` (or the `workflowId` query parameter);
//! - the engagement name: `event` (or the `event` query parameter), e.g. `pricing_page_view`;
//! - when it happened: `occurredAt` or `timestamp` (epoch ms or ISO 8601);
//! - an idempotency value: `idempotencyKey` or `eventId`.
//!
//! Every other key is kept as a property, its value turned into HubSpot's string form.

use std::collections::BTreeMap;

use serde_json::Value;

use super::value::{describe, integer, property_value, strip_nul, text, timestamp, without_nul};
use super::{NormalizeError, Normalized, Problems};
use crate::domain::{ObjectId, PortalId, WorkflowEvent, WorkflowId};
use crate::signature::VerifiedBody;

const OBJECT_ID_KEYS: [&str; 3] = ["hs_object_id", "objectId", "vid"];
const OCCURRED_AT_KEYS: [&str; 2] = ["occurredAt", "timestamp"];
const IDEMPOTENCY_KEYS: [&str; 2] = ["idempotencyKey", "eventId"];
const MAX_PROPERTIES: usize = 500;
const MAX_KEY_LEN: usize = 200;

/// What the request itself (path and query) says about the call.
#[derive(Debug, Clone)]
pub struct WorkflowRequest {
    pub portal_id: PortalId,
    /// From the `workflowId` query parameter, if the URL carries one.
    pub workflow_id: Option<String>,
    /// From the `event` query parameter, if the URL carries one.
    pub event_name: Option<String>,
}

/// Parses and normalizes a workflow webhook body.
pub fn normalize_workflow_webhook(
    request: &WorkflowRequest,
    body: VerifiedBody<'_>,
) -> Result<Normalized<WorkflowEvent>, NormalizeError> {
    let value: Value = serde_json::from_slice(body.bytes()).map_err(|e| {
        NormalizeError::body("malformed_json", format!("body is not valid JSON: {e}"))
    })?;
    let Value::Object(fields) = value else {
        return Err(NormalizeError::body(
            "not_an_object",
            "body must be a JSON object of properties",
        ));
    };
    if fields.len() > MAX_PROPERTIES {
        return Err(NormalizeError::body(
            "too_many_properties",
            format!(
                "body has {} keys; at most {MAX_PROPERTIES} are accepted",
                fields.len()
            ),
        ));
    }
    let mut notes = Vec::new();
    let cleaned = without_nul(&fields, None, &mut notes);
    let fields = cleaned.unwrap_or(fields);
    let mut problems = Problems::default();
    let object_id = match first(&fields, &OBJECT_ID_KEYS) {
        Some((key, v)) => integer(v)
            .and_then(|id| ObjectId::new(id).map_err(|e| e.to_string()))
            .map_err(|problem| problems.push(None, key, problem))
            .ok(),
        None => {
            problems.push(None, "hs_object_id", "is required (or objectId, or vid)");
            None
        }
    };
    let workflow_id = match (&request.workflow_id, first(&fields, &["workflowId"])) {
        (Some(q), _) => q
            .parse::<WorkflowId>()
            .map_err(|e| problems.push(None, "workflowId", format!("query parameter {e}")))
            .ok(),
        (None, Some((key, v))) => integer(v)
            .and_then(|id| WorkflowId::new(id).map_err(|e| e.to_string()))
            .map_err(|problem| problems.push(None, key, problem))
            .ok(),
        (None, None) => {
            problems.push(
                None,
                "workflowId",
                "is required (query parameter or body field)",
            );
            None
        }
    };

    let occurred_at = first(&fields, &OCCURRED_AT_KEYS).and_then(|(key, v)| {
        timestamp(v)
            .map_err(|problem| problems.push(None, key, problem))
            .ok()
    });
    let idempotency = first(&fields, &IDEMPOTENCY_KEYS).and_then(|(key, v)| match v {
        Value::String(_) | Value::Number(_) => text(v).ok(),
        other => {
            problems.push(
                None,
                key,
                format!("expected a string or number, got {}", describe(other)),
            );
            None
        }
    });
    let event_name = match (&request.event_name, fields.get("event")) {
        // A query parameter may carry `%00`.
        (Some(q), _) => Some(strip_nul(q, "event", &mut notes)),
        (None, Some(Value::Null)) | (None, None) => None,
        (None, Some(v)) => text(v)
            .map_err(|problem| problems.push(None, "event", problem))
            .ok(),
    };
    if let Some(name) = &event_name
        && (name.is_empty() || name.len() > MAX_KEY_LEN)
    {
        problems.push(
            None,
            "event",
            format!("must be 1 to {MAX_KEY_LEN} characters"),
        );
    }

    let reserved = |k: &str| {
        OBJECT_ID_KEYS.contains(&k)
            || OCCURRED_AT_KEYS.contains(&k)
            || IDEMPOTENCY_KEYS.contains(&k)
            || k == "workflowId"
            || k == "event"
    };
    let mut properties = BTreeMap::new();
    for (key, value) in &fields {
        if reserved(key) {
            continue;
        }
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            problems.push(
                None,
                key,
                format!("key must be 1 to {MAX_KEY_LEN} characters"),
            );
            continue;
        }
        match property_value(value) {
            Ok(v) => {
                properties.insert(key.clone(), v);
            }
            Err(problem) => problems.push(None, key, problem),
        }
    }

    if !problems.is_empty() {
        return Err(problems.into_error());
    }
    match (object_id, workflow_id) {
        (Some(object_id), Some(workflow_id)) => Ok(Normalized {
            events: WorkflowEvent {
                portal_id: request.portal_id,
                workflow_id,
                object_id,
                event_name,
                occurred_at,
                idempotency,
                properties,
            },
            notes,
            dropped: Vec::new(),
        }),
        _ => Err(NormalizeError::body(
            "invalid_field",
            "body lacks its record or workflow id",
        )),
    }
}

fn first<'a>(
    fields: &'a serde_json::Map<String, Value>,
    keys: &[&'static str],
) -> Option<(&'static str, &'a Value)> {
    keys.iter()
        .find_map(|k| fields.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(workflow: Option<&str>) -> WorkflowRequest {
        WorkflowRequest {
            portal_id: PortalId::new(62515).unwrap(),
            workflow_id: workflow.map(str::to_owned),
            event_name: None,
        }
    }

    fn run(req: &WorkflowRequest, body: &str) -> Result<WorkflowEvent, NormalizeError> {
        normalize_workflow_webhook(req, VerifiedBody::authenticated_otherwise(body.as_bytes()))
            .map(|n| n.events)
    }

    #[test]
    fn a_negative_occurred_at_is_refused() {
        let text = run(&request(Some("1")), r#"{"vid":5,"occurredAt":-1}"#)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("occurredAt: must not be before 1970"),
            "{text}"
        );
    }

    #[test]
    fn nul_characters_are_removed_from_values_keys_and_the_event_name() {
        let mut req = request(Some("1"));
        req.event_name = Some("demo\0".into());
        let noted = normalize_workflow_webhook(
            &req,
            VerifiedBody::authenticated_otherwise(
                br#"{"vid":5,"job\u0000title":"VP\u0000","idempotencyKey":"k\u0000"}"#,
            ),
        )
        .unwrap();
        let e = noted.events;
        assert_eq!(e.event_name.as_deref(), Some("demo"));
        assert_eq!(e.idempotency.as_deref(), Some("k"));
        assert_eq!(e.properties["jobtitle"], "VP");
        let fields: Vec<&str> = noted.notes.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(fields.len(), 3, "{fields:?}");
        assert!(fields.contains(&"event") && fields.contains(&"jobtitle"));
    }

    #[test]
    fn normalizes_hubspot_type_quirks() {
        let body = r#"{"hs_object_id":101,"event":"pricing_page_view","occurredAt":1700000000000,
            "numemployees":250,"hs_is_student":"true","annualrevenue":1.5e6,"lifecyclestage":"lead","notes":null}"#;
        let e = run(&request(Some("777")), body).unwrap();
        assert_eq!(e.object_id.get(), 101);
        assert_eq!(e.workflow_id.get(), 777);
        assert_eq!(e.event_name.as_deref(), Some("pricing_page_view"));
        assert_eq!(e.occurred_at.unwrap().timestamp_millis(), 1_700_000_000_000);
        assert_eq!(e.properties["numemployees"], "250");
        assert_eq!(e.properties["hs_is_student"], "true");
        assert_eq!(e.properties["annualrevenue"], "1500000.0");
        assert_eq!(e.properties["notes"], "");
        assert!(!e.properties.contains_key("hs_object_id"));
    }

    #[test]
    fn names_every_bad_field() {
        let err = run(
            &request(None),
            r#"{"vid":"abc","occurredAt":"soon","nested":{"a":1}}"#,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("vid: expected an integer"), "{text}");
        assert!(text.contains("workflowId: is required"), "{text}");
        assert!(
            text.contains("occurredAt: expected epoch milliseconds"),
            "{text}"
        );
        assert!(text.contains("nested: expected a single value"), "{text}");
    }

    #[test]
    fn body_shape_and_missing_record() {
        assert_eq!(
            run(&request(Some("1")), "[]").unwrap_err().reason,
            "not_an_object"
        );
        assert_eq!(
            run(&request(Some("1")), "nope").unwrap_err().reason,
            "malformed_json"
        );
        let text = run(&request(Some("1")), r#"{"a":1}"#)
            .unwrap_err()
            .to_string();
        assert!(text.contains("hs_object_id: is required"), "{text}");
        let text = run(&request(Some("x")), r#"{"vid":1}"#)
            .unwrap_err()
            .to_string();
        assert!(text.contains("workflowId: query parameter"), "{text}");
    }

    #[test]
    fn retries_of_the_same_body_share_a_key() {
        let body = r#"{"vid":5,"workflowId":9,"score_hint":"x"}"#;
        let a = run(&request(None), body).unwrap();
        let b = run(&request(None), body).unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.workflow_id.get(), 9);
        let c = run(
            &request(None),
            r#"{"vid":5,"workflowId":9,"score_hint":"y"}"#,
        )
        .unwrap();
        assert_ne!(a.key(), c.key());
    }
}

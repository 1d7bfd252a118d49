//! What every fuzz target checks about a batch the normalizer accepted: the worker decodes it
//! into the same batch, and PostgreSQL can store every string of it (no NUL character, which
//! neither `text` nor `jsonb` can hold).

use chrono::DateTime;
use ember_core::domain::{BATCH_FORMAT_VERSION, EventBatch, EventSource, PortalId, QueuedEvent};
use serde_json::Value;

/// Builds the message the intake would publish for `events`, and checks it.
pub fn check_publishable(portal: PortalId, source: EventSource, events: Vec<QueuedEvent>) {
    let batch = EventBatch {
        format: BATCH_FORMAT_VERSION,
        portal_id: portal,
        source,
        // Fixed, so that runs are reproducible.
        received_at: DateTime::from_timestamp_millis(1_700_000_000_000).expect("a valid time"),
        request_id: "fuzz".into(),
        events,
    };
    for event in &batch.events {
        let _ = event.key();
    }
    let bytes = batch.encode().expect("an accepted batch encodes");
    let decoded = EventBatch::decode(&bytes).expect("the worker decodes what the intake encodes");
    assert_eq!(decoded, batch, "decode(encode(batch)) == batch");
    let json: Value = serde_json::from_slice(&bytes).expect("the encoding is JSON");
    assert_no_nul(&json);
}

/// No string or key anywhere in `value` holds U+0000.
pub fn assert_no_nul(value: &Value) {
    match value {
        Value::String(s) => assert!(!s.contains('\0'), "a NUL reached the queue: {s:?}"),
        Value::Array(items) => items.iter().for_each(assert_no_nul),
        Value::Object(map) => {
            for (key, v) in map {
                assert!(!key.contains('\0'), "a NUL key reached the queue: {key:?}");
                assert_no_nul(v);
            }
        }
        _ => {}
    }
}

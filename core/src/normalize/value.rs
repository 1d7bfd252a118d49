//! Coercions of single JSON values into typed values, each naming what it expected.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use super::FieldError;

/// Describes a value for an error message without echoing long or personal content.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() <= 40 => format!("{s:?}"),
        Value::String(s) => format!("a string of {} characters", s.chars().count()),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// An integer given as a JSON integer or a string of digits (HubSpot sends both).
pub(super) fn integer(value: &Value) -> Result<i64, String> {
    let parsed = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s)
            if !s.is_empty()
                && s.bytes()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-')) =>
        {
            s.parse().ok()
        }
        _ => None,
    };
    parsed.ok_or_else(|| {
        format!(
            "expected an integer (number or string of digits), got {}",
            describe(value)
        )
    })
}

/// A date as epoch milliseconds (number or digit string) or ISO 8601, always to UTC. A date
/// without a time is midnight UTC (how HubSpot stores date properties); a date-time without an
/// offset is read as UTC, the zone HubSpot's APIs speak.
pub(super) fn timestamp(value: &Value) -> Result<DateTime<Utc>, String> {
    let expected = || {
        format!(
            "expected epoch milliseconds or an ISO 8601 date, got {}",
            describe(value)
        )
    };
    let from_ms = |ms: i64| DateTime::from_timestamp_millis(ms).ok_or_else(expected);
    let parsed = match value {
        Value::Number(n) => n.as_i64().ok_or_else(expected).and_then(from_ms),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| expected()).and_then(from_ms)
        }
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|dt| dt.with_timezone(&Utc))
            .or_else(|_| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc())
            })
            .or_else(|_| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(|d| d.and_time(Default::default()).and_utc())
            })
            .map_err(|_| expected()),
        _ => Err(expected()),
    }?;
    // HubSpot dates events by epoch milliseconds, which are never negative: `-1` (or a date
    // before 1970) is a sender's placeholder, not a time, and would sort before every real event.
    if parsed < DateTime::UNIX_EPOCH {
        return Err(format!(
            "must not be before 1970-01-01T00:00:00Z (epoch milliseconds are never negative), got {}",
            describe(value)
        ));
    }
    Ok(parsed)
}

/// The top-level fields of one event object without NUL characters, if any had one: PostgreSQL
/// cannot store U+0000 in `text` or `jsonb`, and a HubSpot value never means one. Each cleaned
/// field (value or key) is noted (`index`, field name), never its value. `None`: nothing to
/// clean. Nested values are not cleaned: the only nested fields (`mergedObjectIds`) are ids,
/// which a NUL makes invalid anyway.
pub(super) fn without_nul(
    fields: &Map<String, Value>,
    index: Option<usize>,
    notes: &mut Vec<FieldError>,
) -> Option<Map<String, Value>> {
    let dirty = |(k, v): (&String, &Value)| {
        k.contains('\0') || matches!(v, Value::String(s) if s.contains('\0'))
    };
    if !fields.iter().any(dirty) {
        return None;
    }
    let mut cleaned = Map::with_capacity(fields.len());
    for (key, value) in fields {
        let mut value = value.clone();
        if dirty((key, &value)) {
            if let Value::String(s) = &mut value {
                s.retain(|c| c != '\0');
            }
            notes.push(FieldError {
                index,
                field: key.replace('\0', ""),
                problem: NUL_REMOVED.into(),
            });
        }
        cleaned.insert(key.replace('\0', ""), value);
    }
    Some(cleaned)
}

/// The note for a value or key a NUL character was removed from.
pub const NUL_REMOVED: &str = "NUL character (U+0000) removed";

/// `value` without NUL characters, noting `field` if it had any.
pub(super) fn strip_nul(value: &str, field: &str, notes: &mut Vec<FieldError>) -> String {
    if !value.contains('\0') {
        return value.to_owned();
    }
    notes.push(FieldError {
        index: None,
        field: field.to_owned(),
        problem: NUL_REMOVED.into(),
    });
    value.replace('\0', "")
}

/// A boolean as `true`/`false` or the strings `"true"`/`"false"` in any case.
pub(super) fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(format!("expected true or false, got {}", describe(value))),
    }
}

/// A string; numbers and booleans are accepted in their canonical text form.
pub(super) fn text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("expected a string, got {}", describe(value))),
    }
}

/// A property value in HubSpot's string form: `null` clears (`""`), scalars become text.
pub(super) fn property_value(value: &Value) -> Result<String, String> {
    match value {
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err(format!(
            "expected a single value (string, number or boolean), got {}",
            describe(value)
        )),
        other => text(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_come_as_numbers_or_digit_strings() {
        assert_eq!(integer(&json!(42)), Ok(42));
        assert_eq!(integer(&json!("42")), Ok(42));
        assert!(integer(&json!(4.2)).is_err());
        assert!(integer(&json!("4x")).is_err());
        assert!(integer(&json!("")).is_err());
        assert!(integer(&json!(true)).is_err());
    }

    #[test]
    fn timestamps_accept_ms_and_iso() {
        let ms = 1_700_000_000_123;
        let want = DateTime::from_timestamp_millis(ms).unwrap();
        assert_eq!(timestamp(&json!(ms)), Ok(want));
        assert_eq!(timestamp(&json!(ms.to_string())), Ok(want));
        assert_eq!(timestamp(&json!("2023-11-14T22:13:20.123Z")), Ok(want));
        assert_eq!(timestamp(&json!("2023-11-15T00:13:20.123+02:00")), Ok(want));
        assert_eq!(timestamp(&json!("2023-11-14T22:13:20.123")), Ok(want));
        assert_eq!(
            timestamp(&json!("2023-11-14")),
            Ok(DateTime::parse_from_rfc3339("2023-11-14T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc))
        );
        assert!(timestamp(&json!("yesterday")).is_err());
        assert_eq!(timestamp(&json!(0)), Ok(DateTime::UNIX_EPOCH));
        assert!(timestamp(&json!(null)).is_err());
    }

    #[test]
    fn timestamps_before_1970_are_refused() {
        for v in [
            json!(-1),
            json!(-1_700_000_000_000_i64),
            json!("1969-12-31"),
        ] {
            let err = timestamp(&v).unwrap_err();
            assert!(err.contains("must not be before 1970"), "{v}: {err}");
        }
    }

    #[test]
    fn nul_characters_are_removed_from_values_and_keys_and_noted() {
        let fields = json!({"a": "x\0y", "b\0": 1, "c": "clean"});
        let mut notes = Vec::new();
        let cleaned = without_nul(fields.as_object().unwrap(), Some(3), &mut notes).unwrap();
        assert_eq!(
            Value::Object(cleaned),
            json!({"a": "xy", "b": 1, "c": "clean"})
        );
        let text: Vec<String> = notes.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                format!("event[3].a: {NUL_REMOVED}"),
                format!("event[3].b: {NUL_REMOVED}")
            ]
        );
        assert!(without_nul(json!({"a": "b"}).as_object().unwrap(), None, &mut notes).is_none());
        assert_eq!(strip_nul("p\0q", "event", &mut notes), "pq");
        assert_eq!(notes.len(), 3);
    }

    #[test]
    fn booleans_accept_the_string_forms() {
        assert_eq!(boolean(&json!(true)), Ok(true));
        assert_eq!(boolean(&json!("TRUE")), Ok(true));
        assert_eq!(boolean(&json!("false")), Ok(false));
        assert!(boolean(&json!("yes")).is_err());
        assert!(boolean(&json!(1)).is_err());
    }

    #[test]
    fn long_strings_are_not_echoed() {
        let long = "x".repeat(100);
        assert_eq!(describe(&json!(long)), "a string of 100 characters");
    }
}

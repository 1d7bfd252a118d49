//! Required fields and their JSON types, written from HubSpot's OpenAPI specs (never copied):
//! a contract test checks that every answer carries each one with its type, on top of strict
//! deserialization into `ember_hubspot::wire`.

use serde_json::Value;

#[derive(Debug, Clone, Copy)]
pub(crate) enum T {
    Str,
    Int,
    Bool,
    Arr,
    Obj,
    /// An ISO 8601 date-time string.
    DateTime,
}

pub(crate) type Schema = &'static [(&'static str, T)];

// OAuth v1
pub(crate) const ACCESS_TOKEN_RESPONSE: Schema = &[
    ("access_token", T::Str),
    ("expires_in", T::Int),
    ("refresh_token", T::Str),
    ("token_type", T::Str),
    ("token_use", T::Str),
];
pub(crate) const ACCESS_TOKEN_INFO: Schema = &[
    ("app_id", T::Int),
    ("expires_in", T::Int),
    ("hub_id", T::Int),
    ("scopes", T::Arr),
    ("token", T::Str),
    ("token_type", T::Str),
    ("user_id", T::Int),
];
pub(crate) const REFRESH_TOKEN_INFO: Schema = &[
    ("client_id", T::Str),
    ("hub_id", T::Int),
    ("scopes", T::Arr),
    ("token", T::Str),
    ("token_type", T::Str),
    ("user_id", T::Int),
];
// Errors
pub(crate) const ERROR: Schema = &[
    ("category", T::Str),
    ("correlationId", T::Str),
    ("message", T::Str),
];
pub(crate) const STANDARD_ERROR: Schema = &[
    ("category", T::Str),
    ("context", T::Obj),
    ("errors", T::Arr),
    ("links", T::Obj),
    ("message", T::Str),
    ("status", T::Str),
];
pub(crate) const RATE_LIMIT_429: Schema = &[
    ("status", T::Str),
    ("message", T::Str),
    ("errorType", T::Str),
    ("correlationId", T::Str),
    ("policyName", T::Str),
    ("requestId", T::Str),
];
// CRM
pub(crate) const SIMPLE_PUBLIC_OBJECT: Schema = &[
    ("archived", T::Bool),
    ("createdAt", T::DateTime),
    ("id", T::Str),
    ("properties", T::Obj),
    ("updatedAt", T::DateTime),
];
pub(crate) const UPSERT_OBJECT: Schema = &[
    ("archived", T::Bool),
    ("createdAt", T::DateTime),
    ("id", T::Str),
    ("new", T::Bool),
    ("properties", T::Obj),
    ("updatedAt", T::DateTime),
];
pub(crate) const BATCH_RESPONSE: Schema = &[
    ("completedAt", T::DateTime),
    ("results", T::Arr),
    ("startedAt", T::DateTime),
    ("status", T::Str),
];
pub(crate) const SEARCH_RESPONSE: Schema = &[("results", T::Arr), ("total", T::Int)];
pub(crate) const COLLECTION: Schema = &[("results", T::Arr)];
// Properties
pub(crate) const PROPERTY: Schema = &[
    ("description", T::Str),
    ("fieldType", T::Str),
    ("groupName", T::Str),
    ("label", T::Str),
    ("name", T::Str),
    ("options", T::Arr),
    ("type", T::Str),
];
pub(crate) const PROPERTY_GROUP: Schema = &[
    ("archived", T::Bool),
    ("displayOrder", T::Int),
    ("label", T::Str),
    ("name", T::Str),
];
pub(crate) const OPTION: Schema = &[("hidden", T::Bool), ("label", T::Str), ("value", T::Str)];
pub(crate) const MODIFICATION_METADATA: Schema = &[
    ("archivable", T::Bool),
    ("readOnlyDefinition", T::Bool),
    ("readOnlyValue", T::Bool),
];
// Account
pub(crate) const PORTAL_INFORMATION: Schema = &[
    ("accountType", T::Str),
    ("additionalCurrencies", T::Arr),
    ("companyCurrency", T::Str),
    ("dataHostingLocation", T::Str),
    ("portalId", T::Int),
    ("timeZone", T::Str),
    ("uiDomain", T::Str),
    ("utcOffset", T::Str),
    ("utcOffsetMilliseconds", T::Int),
];

/// Asserts every required field is present with its type.
pub(crate) fn check(v: &Value, schema: Schema, what: &str) {
    for (k, t) in schema {
        let f = v
            .get(*k)
            .unwrap_or_else(|| panic!("{what}: required field `{k}` missing in {v}"));
        let ok = match t {
            T::Str => f.is_string(),
            T::Int => f.is_i64() || f.is_u64(),
            T::Bool => f.is_boolean(),
            T::Arr => f.is_array(),
            T::Obj => f.is_object(),
            T::DateTime => f
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        };
        assert!(ok, "{what}: field `{k}` should be {t:?}, is {f}");
    }
}

/// Checks a record and that every property value is a string or `null` (SPEC 2026-09: a map of
/// nullable strings; docs/hubspot.md K.12).
pub(crate) fn check_record(v: &Value, schema: Schema, what: &str) {
    check(v, schema, what);
    for (k, val) in v["properties"].as_object().expect("properties") {
        assert!(
            val.is_string() || val.is_null(),
            "{what}: property {k} should be a string or null, is {val}"
        );
    }
}

/// Checks a batch answer, its records, and on a 207 each `StandardError`.
pub(crate) fn check_batch(v: &Value, record: Schema, what: &str) {
    check(v, BATCH_RESPONSE, what);
    for r in v["results"].as_array().expect("results") {
        check_record(r, record, what);
    }
    if let Some(errs) = v.get("errors") {
        assert_eq!(
            v["numErrors"].as_u64(),
            Some(errs.as_array().expect("errors").len() as u64),
            "{what}: numErrors"
        );
        for e in errs.as_array().expect("errors") {
            check(e, STANDARD_ERROR, what);
        }
    }
}

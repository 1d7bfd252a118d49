//! Error bodies: the standard `Error` of every API, the `StandardError` rows of a 207
//! multi-status answer, and their `ErrorDetail` (docs/hubspot.md H; SPEC `Error`, `StandardError`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Context map of an error: names to lists of values (`{"ids": ["123"]}`).
pub type ErrorContext = BTreeMap<String, Vec<String>>;

/// The top-level error body of a failed call (SPEC `Error`: `category`, `correlationId`,
/// `message` required). Real bodies also carry `status: "error"` and sometimes `requestId`
/// (docs/hubspot.md H), which the spec does not list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ErrorBody {
    /// `"error"` on real bodies; absent in the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Human-readable message.
    pub message: String,
    /// UUID of the request, for HubSpot support.
    pub correlation_id: String,
    /// e.g. `VALIDATION_ERROR`, `OBJECT_NOT_FOUND`, `INVALID_AUTHENTICATION`.
    pub category: String,
    /// Finer category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<String>,
    /// Extra data, e.g. `{"ids": [...]}` or `{"missingScopes": [...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ErrorContext>,
    /// Links to documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<BTreeMap<String, String>>,
    /// Per-field details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorDetail>>,
    /// Seen on some real bodies (docs/hubspot.md H).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One detail of an error (SPEC `ErrorDetail`: only `message` required).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ErrorDetail {
    /// What was wrong.
    pub message: String,
    /// Machine code, e.g. `INVALID_INTEGER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Which input field, e.g. `email`.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub in_: Option<String>,
    /// Finer category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<String>,
    /// Extra data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ErrorContext>,
}

/// One failed row of a 207 multi-status batch answer (SPEC `StandardError`).
///
/// The spec marks `status`, `category`, `message`, `context`, `errors` and `links` required,
/// but HubSpot's own documented 207 example omits `errors` and `links` (docs/hubspot.md E.3), so
/// those two default to empty when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StandardError {
    /// `"error"`.
    pub status: String,
    /// e.g. `OBJECT_NOT_FOUND`, `VALIDATION_ERROR`.
    pub category: String,
    /// Human-readable; property validation puts a JSON array inside (docs/hubspot.md E.3).
    pub message: String,
    /// e.g. `{"ids": ["1"]}` or `{"objectWriteTraceId": ["t1"]}`: how to match the row.
    pub context: ErrorContext,
    /// Per-field details.
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
    /// Links to documentation.
    #[serde(default)]
    pub links: BTreeMap<String, String>,
    /// Optional id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An object in this schema (unlike `Error.subCategory`, a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<serde_json::Value>,
}

/// One entry of the JSON array HubSpot embeds in a property-validation `message`:
/// `Property values were not valid: [{...}]` (docs/hubspot.md E.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PropertyValidationResult {
    /// Always `false` in an error.
    pub is_valid: bool,
    /// e.g. `Property "missing" does not exist`.
    pub message: String,
    /// e.g. `PROPERTY_DOESNT_EXIST`, `INVALID_INTEGER`, `READ_ONLY_VALUE`.
    pub error: String,
    /// The property name.
    pub name: String,
    /// Localized message.
    pub localized_error_message: String,
    /// The account.
    pub portal_id: u64,
}

/// Prefix of a property-validation message (docs/hubspot.md E.3).
pub const PROPERTY_VALIDATION_PREFIX: &str = "Property values were not valid: ";

/// Parses the property validation results out of such a message, if it is one.
pub fn parse_property_validation(message: &str) -> Option<Vec<PropertyValidationResult>> {
    let json = message.strip_prefix(PROPERTY_VALIDATION_PREFIX)?;
    serde_json::from_str(json).ok()
}

//! Webhook bodies as HubSpot POSTs them: a JSON array of events for app subscriptions
//! (docs/hubspot.md A.1, A.2), and the headers of both signature schemes (docs/hubspot.md B).
//!
//! There is no spec schema for delivered events, and HubSpot adds fields over time
//! (`sourceId`, `changeFlag`, `objectTypeId`), so unknown keys are accepted: the set is open.

use serde::{Deserialize, Serialize};

/// v1/v2 signature header (lowercase hex SHA-256).
pub const HEADER_SIGNATURE: &str = "X-HubSpot-Signature";
/// `v1` or `v2`.
pub const HEADER_SIGNATURE_VERSION: &str = "X-HubSpot-Signature-Version";
/// v3 signature header (base64 HMAC-SHA256).
pub const HEADER_SIGNATURE_V3: &str = "X-HubSpot-Signature-v3";
/// Epoch milliseconds, part of the v3 signed string.
pub const HEADER_REQUEST_TIMESTAMP: &str = "X-HubSpot-Request-Timestamp";

/// One event of an app-webhook batch. Which optional fields are present depends on the
/// subscription type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// ID of the triggering event; **not guaranteed unique** (docs/hubspot.md A.5).
    pub event_id: u64,
    /// The subscription that fired.
    pub subscription_id: u64,
    /// The account.
    pub portal_id: u64,
    /// The app.
    pub app_id: u64,
    /// Epoch milliseconds.
    pub occurred_at: i64,
    /// e.g. `contact.propertyChange`. The docs' table calls the key `eventType`; real
    /// payloads use `subscriptionType` (docs/hubspot.md A.2): both parse.
    #[serde(alias = "eventType")]
    pub subscription_type: String,
    /// 0 on the first attempt.
    pub attempt_number: u32,
    /// The record (absent on association events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<u64>,
    /// Property-change events only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_name: Option<String>,
    /// Property-change events only: the new value, as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_value: Option<String>,
    /// e.g. `CRM_UI`, `IMPORT`, `INTEGRATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_source: Option<String>,
    /// e.g. `userId:76023669` (undocumented, present in real payloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// `NEW`, `CREATED`, `DELETED`, ... (undocumented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_flag: Option<String>,
    /// Merge events: the winner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_object_id: Option<u64>,
    /// Merge events: records merged into the winner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_object_ids: Option<Vec<u64>>,
    /// Merge events: the record the merge created (may differ from the primary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_object_id: Option<u64>,
    /// Merge events: properties moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_properties_moved: Option<u64>,
    /// Association events, e.g. `CONTACT_TO_COMPANY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub association_type: Option<String>,
    /// Association events: one end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_object_id: Option<u64>,
    /// Association events: the other end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_object_id: Option<u64>,
    /// Association events: `true` = removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub association_removed: Option<bool>,
    /// Association events: primary association.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_primary_association: Option<bool>,
    /// Generic (`object.*`) subscriptions, e.g. `0-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type_id: Option<String>,
}

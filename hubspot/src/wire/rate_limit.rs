//! The 429 body and the rate-limit headers (docs/hubspot.md G).

use serde::{Deserialize, Serialize};

/// `X-HubSpot-RateLimit-Daily`: requests allowed per day (private apps only).
pub const HEADER_DAILY: &str = "X-HubSpot-RateLimit-Daily";
/// `X-HubSpot-RateLimit-Daily-Remaining`.
pub const HEADER_DAILY_REMAINING: &str = "X-HubSpot-RateLimit-Daily-Remaining";
/// `X-HubSpot-RateLimit-Interval-Milliseconds` (e.g. `10000`).
pub const HEADER_INTERVAL_MS: &str = "X-HubSpot-RateLimit-Interval-Milliseconds";
/// `X-HubSpot-RateLimit-Max`: requests allowed per interval.
pub const HEADER_MAX: &str = "X-HubSpot-RateLimit-Max";
/// `X-HubSpot-RateLimit-Remaining`: requests left in the rolling interval.
pub const HEADER_REMAINING: &str = "X-HubSpot-RateLimit-Remaining";
/// Deprecated but still sent: `X-HubSpot-RateLimit-Secondly`.
pub const HEADER_SECONDLY: &str = "X-HubSpot-RateLimit-Secondly";
/// Deprecated but still sent: `X-HubSpot-RateLimit-Secondly-Remaining`.
pub const HEADER_SECONDLY_REMAINING: &str = "X-HubSpot-RateLimit-Secondly-Remaining";

/// `policyName` of the 10-second rolling limit.
pub const POLICY_TEN_SECONDLY_ROLLING: &str = "TEN_SECONDLY_ROLLING";
/// `policyName` of the daily limit.
pub const POLICY_DAILY: &str = "DAILY";

/// The body of a 429 (docs/hubspot.md G, official example). All fields are present there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimitError {
    /// `"error"`.
    pub status: String,
    /// e.g. `You have reached your daily limit.`
    pub message: String,
    /// `"RATE_LIMIT"`.
    pub error_type: String,
    /// HubSpot's standard `category` (the SPEC `Error` requires one; older 429s omit it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Request UUID.
    pub correlation_id: String,
    /// Which limit: `TEN_SECONDLY_ROLLING`, `DAILY`, or another HubSpot policy name.
    pub policy_name: String,
    /// Request id.
    pub request_id: String,
}

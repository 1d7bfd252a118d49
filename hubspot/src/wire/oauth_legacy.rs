//! The legacy (v1) token-info bodies. Ember's client no longer calls those endpoints (it
//! introspects, docs/hubspot.md D.3); the simulator still serves them, as HubSpot does until
//! the v1 sunset, and counts the calls (docs/hubspot.md D.7).

use serde::{Deserialize, Serialize};

use super::oauth::SignedAccessToken;

/// The v1 access-token info answer (SPEC `AccessTokenInfoResponse`, docs/hubspot.md D.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessTokenInfo {
    /// The token asked about.
    pub token: String,
    /// Remaining lifetime in seconds.
    pub expires_in: i64,
    /// The account.
    pub hub_id: u64,
    /// The app.
    pub app_id: u64,
    /// The installing user.
    pub user_id: u64,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `"access"` in the documented example.
    pub token_type: String,
    /// The user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The account's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_domain: Option<String>,
    /// Whether the app is privately distributed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_private_distribution: Option<bool>,
    /// HubSpot's internal token description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_access_token: Option<SignedAccessToken>,
}

/// The v1 refresh-token info answer (SPEC `RefreshTokenInfoResponse`, docs/hubspot.md D.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenInfo {
    /// The token asked about.
    pub token: String,
    /// The app's client id.
    pub client_id: String,
    /// The account.
    pub hub_id: u64,
    /// The installing user.
    pub user_id: u64,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `"refresh"` ([UNVERIFIED] value, docs/hubspot.md D.7).
    pub token_type: String,
    /// The user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The account's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_domain: Option<String>,
}

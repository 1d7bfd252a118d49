//! OAuth 2026-03 bodies (docs/hubspot.md D): the token endpoint's form and answers, the
//! introspect and revoke forms, introspection answers, and the token endpoint's errors.

use serde::{Deserialize, Serialize};

/// `grant_type=authorization_code`.
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// `grant_type=refresh_token`.
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
/// Access tokens live 30 minutes (docs/hubspot.md D.2).
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 1800;

/// The form body of the token endpoint (docs/hubspot.md D.2). Every field is optional in the
/// schema; which ones matter depends on `grant_type`. Nothing goes in the query string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// The app's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The app's client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The authorization code (code grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Must equal the authorize request's (code grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// The refresh token (refresh grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// PKCE verifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
    /// Requested scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A signed JWT in place of the client secret (not used by Ember).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_assertion: Option<String>,
    /// The assertion's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_assertion_type: Option<String>,
}

/// The form body of introspect and revoke (docs/hubspot.md D.3, D.4): the app's credentials
/// and the token, all in the body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenForm {
    /// The app's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The app's client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The token asked about or revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<String>,
}

/// `token_type_hint` and `token_use` of an access token.
pub const TOKEN_USE_ACCESS: &str = "access_token";
/// `token_type_hint` and `token_use` of a refresh token.
pub const TOKEN_USE_REFRESH: &str = "refresh_token";

/// The `active` flag every introspection answer carries. Alone, `{"active": false}` (RFC 7662),
/// it is the answer for a token that is unknown, expired or revoked; the spec lists no such
/// body (docs/hubspot.md K.14).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenActivity {
    /// Always `false`.
    pub active: bool,
}

/// Introspection of an active access token (SPEC `PublicAccessTokenInfoResponse`,
/// docs/hubspot.md D.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessTokenIntrospection {
    /// `true`.
    pub active: bool,
    /// The token asked about.
    pub token: String,
    /// `"access_token"`.
    pub token_use: String,
    /// `"bearer"`.
    pub token_type: String,
    /// The app's client id.
    pub client_id: String,
    /// The app.
    pub app_id: u64,
    /// The account.
    pub hub_id: u64,
    /// The installing user.
    pub user_id: u64,
    /// Remaining lifetime in seconds.
    pub expires_in: i64,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Whether the app is privately distributed.
    pub is_private_distribution: bool,
    /// HubSpot's internal token description.
    pub signed_access_token: SignedAccessToken,
    /// The user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The account's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_domain: Option<String>,
}

/// Introspection of an active refresh token (SPEC `PublicRefreshTokenInfoResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenIntrospection {
    /// `true`.
    pub active: bool,
    /// The token asked about.
    pub token: String,
    /// `"refresh_token"`.
    pub token_use: String,
    /// The value is not documented; the simulator says `"refresh"` (docs/hubspot.md K.14).
    pub token_type: String,
    /// The app's client id.
    pub client_id: String,
    /// The app.
    pub app_id: u64,
    /// The account.
    pub hub_id: u64,
    /// The installing user.
    pub user_id: u64,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The account's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_domain: Option<String>,
}

/// A successful token answer (SPEC `AccessTokenResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessTokenResponse {
    /// The bearer token (up to 512 characters, docs/hubspot.md D.2).
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
    /// Lifetime in seconds (1800).
    pub expires_in: i64,
    /// `"bearer"`.
    pub token_type: String,
    /// Always `"access_token"` (SPEC enum).
    pub token_use: String,
    /// The account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_id: Option<u64>,
    /// The installing user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u64>,
    /// Granted scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// OpenID token, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// HubSpot's internal description of an access token (SPEC `SignedAccessToken`). The spec
/// marks every field required; the 2024 docs example lacks the five newest, so those are
/// optional here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignedAccessToken {
    /// Expiry, epoch ms.
    pub expires_at: i64,
    /// Encoded scopes.
    pub scopes: String,
    /// The account.
    pub hub_id: u64,
    /// The user.
    pub user_id: u64,
    /// The app.
    pub app_id: u64,
    /// Signature.
    pub signature: String,
    /// Encoded scope groups.
    pub scope_to_scope_group_pks: String,
    /// Signature.
    pub new_signature: String,
    /// e.g. `na1`.
    pub hublet: String,
    /// Trial scopes.
    pub trial_scopes: String,
    /// Trial scope groups.
    pub trial_scope_to_scope_group_pks: String,
    /// Whether the token is user-level.
    pub is_user_level: bool,
    /// Newer field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_install_id: Option<String>,
    /// Newer field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Newer field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installing_user_id: Option<u64>,
    /// Newer field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_private_distribution: Option<bool>,
    /// Newer field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_service_account: Option<bool>,
}

/// A token-endpoint error (HTTP 400): RFC 6749 fields plus HubSpot's own `status`/`message`,
/// and the standard error's `category` and `correlationId` (docs/hubspot.md D.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthError {
    /// RFC 6749 code, e.g. `invalid_grant`, `invalid_client`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 6749 description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// HubSpot's code, e.g. `BAD_REFRESH_TOKEN`, `BAD_AUTH_CODE`.
    pub status: String,
    /// HubSpot's message.
    pub message: String,
    /// The standard error's category (required by the 2026-03 spec; absent on v1 bodies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The standard error's correlation id (absent on some v1 bodies).
    #[serde(
        default,
        rename = "correlationId",
        skip_serializing_if = "Option::is_none"
    )]
    pub correlation_id: Option<String>,
    /// Seen on some bodies.
    #[serde(default, rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

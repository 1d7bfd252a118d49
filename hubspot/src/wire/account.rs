//! Account details: `GET /account-info/2026-09/details` (SPEC `PortalInformationResponse`).

use serde::{Deserialize, Serialize};

/// The account's type, time zone and currencies. The daily rate limit resets at midnight in
/// this time zone (docs/hubspot.md G). The spec's own example adds `createdAt` and `portalName`,
/// which the schema does not list, so both are accepted as optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PortalInformation {
    /// The account id.
    pub portal_id: u64,
    /// `APP_DEVELOPER`, `DEVELOPER_TEST`, `SANDBOX` or `STANDARD`.
    pub account_type: String,
    /// IANA-like zone name, e.g. `US/Eastern`.
    pub time_zone: String,
    /// Company currency, e.g. `USD`.
    pub company_currency: String,
    /// Other currencies.
    pub additional_currencies: Vec<String>,
    /// e.g. `na1`, `eu1`.
    pub data_hosting_location: String,
    /// e.g. `app.hubspot.com`.
    pub ui_domain: String,
    /// e.g. `-04:00`.
    pub utc_offset: String,
    /// Offset in milliseconds.
    pub utc_offset_milliseconds: i64,
    /// In the spec example, not the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// In the spec example, not the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_name: Option<String>,
}

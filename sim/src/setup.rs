//! The simulator's setup and observation types: faults, subscriptions, workflow settings,
//! portal specs, delivery attempts. Plain data, shared by `state`, `control`, `webhooks` and
//! `generator`, so those modules need not import each other for them.

use serde::{Deserialize, Serialize};

use crate::config::AppType;

/// A HubSpot portal (account) id.
pub type PortalId = u64;

/// Injected faults, for every portal or for one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Faults {
    /// Share of admitted HubSpot calls answered with `error_status` (0.0–1.0).
    pub error_rate: f64,
    /// The next N calls get `error_status`.
    pub error_next: u32,
    /// Status of injected errors (default 502 when 0).
    pub error_status: u16,
    /// Injected errors are HTML pages from HubSpot's edge instead of JSON error bodies.
    pub error_html: bool,
    /// Added latency on every call, milliseconds (real time).
    pub latency_ms: u64,
    /// The next N calls get a 429 `TEN_SECONDLY_ROLLING` without consuming capacity.
    pub burst_429: u32,
    /// The next N calls have their connection reset instead of an answer.
    pub reset_next: u32,
    /// Share of calls whose connection is reset.
    pub reset_rate: f64,
    /// Share of successful webhook batches delivered a second time.
    pub duplicate_rate: f64,
    /// The next N successful webhook batches are delivered a second time.
    pub duplicate_next: u32,
    /// Batches leave newest first, with their events reversed.
    pub out_of_order: bool,
}

/// A portal admin's write-validation rule: HubSpot refuses an API write that breaks it with
/// `VALIDATION_ERROR` and the rule's message (docs/hubspot.md P3). On a batch write only the
/// offending row fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValidationRule {
    /// The property the rule checks.
    pub property_name: String,
    /// What a written value must satisfy.
    pub check: RuleCheck,
    /// The rule's text, as the admin wrote it; HubSpot's error message carries it.
    pub message: String,
}

/// What a [`ValidationRule`] demands of a written value (a cleared value, `""`, always passes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleCheck {
    /// A number within `[min, max]` (either bound may be absent).
    NumberRange {
        /// Lowest allowed value.
        #[serde(default)]
        min: Option<f64>,
        /// Highest allowed value.
        #[serde(default)]
        max: Option<f64>,
    },
    /// At most `max` characters.
    MaxLength {
        /// Longest allowed value, in characters.
        max: usize,
    },
    /// One of the listed values.
    OneOf {
        /// The allowed values.
        values: Vec<String>,
    },
}

/// A webhook subscription of the app (docs/hubspot.md A.3, A.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// `subscriptionId` in events.
    pub id: u64,
    /// e.g. `contact.propertyChange`.
    pub event_type: String,
    /// For `propertyChange`: the one property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_name: Option<String>,
    /// Paused subscriptions send nothing.
    pub active: bool,
}

/// Properties the default subscriptions watch: the fit and engagement inputs of scoring,
/// never the score properties Ember writes (so no feedback loop).
pub const DEFAULT_WATCHED_PROPERTIES: &[&str] = &[
    "email",
    "jobtitle",
    "company",
    "industry",
    "numemployees",
    "annualrevenue",
    "country",
    "lifecyclestage",
    "hs_analytics_num_page_views",
    "ember_last_page_view",
    "hs_email_last_open_date",
    "hs_email_last_click_date",
    "recent_conversion_event_name",
    "recent_conversion_date",
    "ember_last_webinar",
    "hs_email_optout",
];

/// The app's subscriptions at start: every contact event type, and one `propertyChange` per
/// watched property, all active.
pub(crate) fn default_subscriptions() -> Vec<Subscription> {
    let kinds = [
        "contact.creation",
        "contact.deletion",
        "contact.merge",
        "contact.restore",
        "contact.associationChange",
        "contact.privacyDeletion",
    ];
    let mut out: Vec<Subscription> = kinds
        .iter()
        .map(|k| Subscription {
            id: 0,
            event_type: (*k).into(),
            property_name: None,
            active: true,
        })
        .collect();
    out.extend(DEFAULT_WATCHED_PROPERTIES.iter().map(|p| Subscription {
        id: 0,
        event_type: "contact.propertyChange".into(),
        property_name: Some((*p).into()),
        active: true,
    }));
    for (i, s) in out.iter_mut().enumerate() {
        s.id = 3_923_600 + i as u64;
    }
    out
}

/// A portal's workflow with a "Send a webhook" action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowConfig {
    /// Where the action POSTs.
    pub target_url: String,
    /// "Include request signature in header": v2 with the app's client secret.
    #[serde(default = "yes")]
    pub sign: bool,
    /// Also send v3 headers (unverified for workflows, docs/hubspot.md B): off by default.
    #[serde(default)]
    pub include_v3: bool,
}

fn yes() -> bool {
    true
}

/// Which sender made a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// App webhook subscription batch.
    App,
    /// Workflow "Send a webhook".
    Workflow,
}

/// One delivery attempt, as the simulator made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    /// App or workflow.
    pub kind: DeliveryKind,
    /// The portal.
    pub portal: PortalId,
    /// The batch (app) or job (workflow); the same across retries.
    pub batch_id: u64,
    /// 0 on the first attempt (the events' `attemptNumber`).
    pub attempt: u32,
    /// Events in the batch (app only).
    pub event_ids: Vec<u64>,
    /// Target.
    pub url: String,
    /// Status received, if any.
    pub status: Option<u16>,
    /// `timeout`, `connect` or another transport failure.
    pub error: Option<String>,
    /// Real milliseconds the attempt took.
    pub latency_ms: u64,
    /// Simulator time the attempt finished.
    pub at_ms: i64,
    /// The exact body sent.
    pub body: String,
    /// `X-HubSpot-Signature` (v1).
    pub signature_v1: Option<String>,
    /// `X-HubSpot-Signature` (v2).
    pub signature_v2: Option<String>,
    /// `X-HubSpot-Signature-v3`.
    pub signature_v3: Option<String>,
    /// `X-HubSpot-Request-Timestamp`.
    pub request_timestamp: Option<String>,
    /// When the retry is due (simulator ms), if one was scheduled.
    pub next_attempt_ms: Option<i64>,
    /// The sender gave up (retries exhausted, or a non-retryable answer).
    pub gave_up: bool,
    /// A duplicate delivery injected by a fault.
    pub duplicate: bool,
}

/// What a new portal looks like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PortalSpec {
    /// Public (OAuth) or private app with a tier.
    pub app_type: AppType,
    /// Generated contacts.
    pub contacts: usize,
    /// A fixed id (else one from the seed).
    pub id: Option<PortalId>,
    /// A zone from the simulator's list (else one from the seed).
    pub time_zone: Option<String>,
    /// A daily limit for the public app too (HubSpot: none).
    pub public_daily_limit: Option<u64>,
}

impl Default for PortalSpec {
    fn default() -> Self {
        Self {
            app_type: AppType::Public,
            contacts: 0,
            id: None,
            time_zone: None,
            public_daily_limit: None,
        }
    }
}

/// A portal as the control API reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalInfo {
    /// The account id.
    pub id: PortalId,
    /// How it is authorized.
    pub app_type: AppType,
    /// The static token of a private app.
    pub private_token: Option<String>,
    /// Whether the public app is installed.
    pub installed: bool,
    /// Time zone name.
    pub time_zone: String,
    /// Offset from UTC, ms.
    pub utc_offset_ms: i64,
    /// Live contacts.
    pub contacts: usize,
}

/// Tokens of an installation made by the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallTokens {
    /// The portal.
    pub portal: PortalId,
    /// Bearer token, 1800 s.
    pub access_token: String,
    /// Refresh token.
    pub refresh_token: String,
}

/// A contact as the control API reports it: every property value, unfiltered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactView {
    /// Record id.
    pub id: u64,
    /// All values.
    pub properties: std::collections::BTreeMap<String, String>,
    /// Archived.
    pub archived: bool,
}

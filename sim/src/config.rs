//! What a simulator instance is: its app (the one Ember registers with HubSpot), its seed,
//! its clock, and the timeouts of its webhook senders.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::webhooks::WebhookShape;

/// How a portal's calls are authorized, which decides its rate limits (docs/hubspot.md G).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppType {
    /// The public (OAuth) app: 110 calls per 10 s per installing account, no daily headers.
    Public,
    /// A private app with a static token: `burst` per 10 s and `daily` per day.
    Private {
        /// Calls per rolling 10 s (100, 150 or 190 in HubSpot's tiers).
        burst: u32,
        /// Calls per day, reset at midnight in the portal's time zone.
        daily: u64,
    },
}

impl AppType {
    /// Free/Starter private app: 100 per 10 s, 250,000 per day.
    pub const PRIVATE_STARTER: AppType = AppType::Private {
        burst: 100,
        daily: 250_000,
    };
    /// Pre-2024 Professional/Enterprise private app: 150 per 10 s, 500,000 per day.
    pub const PRIVATE_LEGACY_PRO: AppType = AppType::Private {
        burst: 150,
        daily: 500_000,
    };
    /// Professional private app: 190 per 10 s, 625,000 per day (the usage page's figure;
    /// the changelog says 650,000, docs/hubspot.md G).
    pub const PRIVATE_PROFESSIONAL: AppType = AppType::Private {
        burst: 190,
        daily: 625_000,
    };

    /// A private app of one of HubSpot's burst tiers (100, 150, 190; anything else is taken
    /// as given, with the Professional daily limit).
    pub fn private_tier(burst: u32) -> AppType {
        match burst {
            100 => Self::PRIVATE_STARTER,
            150 => Self::PRIVATE_LEGACY_PRO,
            _ => AppType::Private {
                burst,
                daily: 625_000,
            },
        }
    }

    /// Calls allowed per rolling 10 s.
    pub fn burst(&self) -> u32 {
        match self {
            AppType::Public => PUBLIC_APP_BURST,
            AppType::Private { burst, .. } => *burst,
        }
    }
}

/// Public apps: 110 per 10 s per installing account (docs/hubspot.md G).
pub const PUBLIC_APP_BURST: u32 = 110;
/// The rolling window of the burst limit.
pub const BURST_WINDOW_MS: i64 = 10_000;
/// Search: 5 requests per second per account (docs/hubspot.md E.5).
pub const SEARCH_PER_SECOND: usize = 5;

/// The public app Ember registers: OAuth credentials, scopes, webhook target.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The app id (`appId` in webhooks and token info).
    pub app_id: u64,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret; also the webhook signing key (docs/hubspot.md B).
    pub client_secret: String,
    /// Allowed redirect URIs (exact match).
    pub redirect_uris: Vec<String>,
    /// Scopes the authorize URL must include.
    pub required_scopes: Vec<String>,
    /// The app's single webhook target URL (docs/hubspot.md A.1); `None` = no delivery.
    pub webhook_target_url: Option<String>,
    /// In-flight webhook requests per installing account (HubSpot default 10).
    pub max_concurrent_requests: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            app_id: 1_160_452,
            client_id: "5f0c7c4e-2b1d-4a5e-9f59-6c1c8e0d1a01".into(),
            client_secret: "c0ffee00-5eed-4bad-a55e-0123456789ab".into(),
            redirect_uris: vec!["http://localhost:8080/oauth/callback".into()],
            required_scopes: vec!["oauth".into(), "crm.objects.contacts.read".into()],
            webhook_target_url: None,
            max_concurrent_requests: 10,
        }
    }
}

/// Everything a simulator instance needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// Seed of every generated thing.
    pub seed: u64,
    /// Portals to generate at start (public app, not installed).
    pub portals: usize,
    /// Contacts per generated portal.
    pub contacts_per_portal: usize,
    /// The app.
    pub app: AppConfig,
    /// Clock start, epoch ms (`None` = the real time now).
    pub start_ms: Option<i64>,
    /// Clock speed (1.0 = real time).
    pub clock_speed: f64,
    /// App-webhook response timeout (HubSpot: 5 s, docs/hubspot.md A.5), in real time.
    pub webhook_timeout: Duration,
    /// Workflow-webhook connect timeout (3 s, docs/hubspot.md C), real time.
    pub workflow_connect_timeout: Duration,
    /// Workflow-webhook response timeout (30 s, docs/hubspot.md C), real time.
    pub workflow_timeout: Duration,
    /// How often the delivery loop looks for due batches, real time.
    pub delivery_tick: Duration,
    /// Whether the app's own CRM writes produce webhook events to it (HubSpot: yes).
    pub echo_app_writes: bool,
    /// The shape of app webhook events: legacy `contact.*`, generic `object.*`, or both.
    pub webhook_shape: WebhookShape,
    /// Most call records kept (oldest dropped first).
    pub call_log_capacity: usize,
    /// Actix worker threads (default: 2).
    pub workers: usize,
    /// Sim time before search sees a write (HubSpot indexes with a short lag, docs/hubspot.md
    /// E.5). Tests that search right after writing set it to zero.
    pub search_index_delay: Duration,
    /// Batch answers list rows in a shuffled order, as HubSpot's are not in input order
    /// (docs/hubspot.md E.3); off keeps input order, for debugging.
    pub shuffle_batch_answers: bool,
    /// Refuse HubSpot's legacy paths (`/oauth/v1`, `/crm/v3`, ...) with 404, as HubSpot refuses
    /// a project app (docs/hubspot.md P2); they are counted either way.
    pub refuse_legacy_paths: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            port: 0,
            seed: 42,
            portals: 0,
            contacts_per_portal: 0,
            app: AppConfig::default(),
            start_ms: None,
            clock_speed: 1.0,
            webhook_timeout: Duration::from_secs(5),
            workflow_connect_timeout: Duration::from_secs(3),
            workflow_timeout: Duration::from_secs(30),
            delivery_tick: Duration::from_millis(10),
            echo_app_writes: true,
            webhook_shape: WebhookShape::Legacy,
            call_log_capacity: 500_000,
            workers: 2,
            search_index_delay: Duration::from_secs(3),
            shuffle_batch_answers: true,
            refuse_legacy_paths: false,
        }
    }
}

//! Shared state handed to handlers, in small named types.

use ember_core::normalize::AppBodyLimits;
use ember_core::queue::CoalescingPublisher;
use ember_core::signature::Verifier;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::portal_cache::PortalCache;

/// Everything the webhook intake needs.
pub struct Intake {
    pub verifier: Verifier,
    pub publisher: CoalescingPublisher,
    pub pool: PgPool,
    pub portals: PortalCache,
    /// The public base URL HubSpot calls (no trailing slash); signatures cover it.
    pub public_base_url: String,
    pub limits: AppBodyLimits,
    pub body_limit_bytes: usize,
    pub queue_unknown_portals: bool,
    pub retry_after_secs: u64,
}

/// The Prometheus handle that renders `/metrics`.
pub struct Metrics(pub PrometheusHandle);

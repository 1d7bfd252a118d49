//! Shared state handed to handlers, in small named types.

use std::sync::Arc;

use ember_core::limiter::Limiter;
use ember_core::limiter::failures::FailureLimiter;
use ember_core::normalize::AppBodyLimits;
use ember_core::queue::{CoalescingPublisher, Topology};
use ember_core::signature::Verifier;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::portal_cache::PortalCache;
use crate::rejections::RecentRejections;
use crate::secret_cache::SecretCache;

/// Everything the webhook intake needs.
pub struct Intake {
    pub verifier: Verifier,
    pub publisher: CoalescingPublisher,
    pub pool: PgPool,
    pub portals: PortalCache,
    /// The portals' webhook secret hashes; the admin route's rotations update it.
    pub secrets: SecretCache,
    /// Failed secret attempts per portal and source, shared through Redis.
    pub failures: FailureLimiter,
    /// The public base URL HubSpot calls (no trailing slash); signatures cover it.
    pub public_base_url: String,
    pub limits: AppBodyLimits,
    pub body_limit_bytes: usize,
    pub queue_unknown_portals: bool,
    pub retry_after_secs: u64,
    /// How long a failed real request keeps `/readyz` unready.
    pub readiness_window: std::time::Duration,
    /// Rejections that name a portal, for the console (shared with [`Operations`]).
    pub rejections: Arc<RecentRejections>,
}

/// What the admin API's operations endpoints read besides Postgres: the limiter's shared state
/// (calls today, daily pauses), the dead-letter queue, and the intake's recent rejections.
pub struct Operations {
    /// Read only ([`Limiter::status`]): the api makes no HubSpot calls on a portal's budget.
    pub limiter: Arc<Limiter>,
    pub amqp_url: String,
    pub topology: Topology,
    pub rejections: Arc<RecentRejections>,
}

/// The Prometheus handle that renders `/metrics`.
pub struct Metrics(pub PrometheusHandle);

//! Shared state handed to handlers, in small named types.

use std::sync::Arc;

use actix_web::web;
use ember_core::limiter::Limiter;
use ember_core::limiter::failures::FailureLimiter;
use ember_core::normalize::AppBodyLimits;
use ember_core::queue::{CoalescingPublisher, Topology};
use ember_core::signature::Verifier;
use ember_core::tenancy::{TokenCipher, TokenManager};
use ember_hubspot::HubSpot;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::portal_cache::PortalCache;
use crate::rejections::RecentRejections;
use crate::secret_cache::SecretCache;
use crate::session::Signer;

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

/// What the install flow, the admin API and the console share (people, portals, tokens,
/// sessions).
pub struct Tenancy {
    pub pool: PgPool,
    pub hubspot: HubSpot,
    pub tokens: Arc<TokenManager>,
    pub cipher: Arc<TokenCipher>,
    pub signer: Signer,
    /// `public_base_url` + `oauth.redirect_path`.
    pub redirect_uri: String,
    pub public_base_url: String,
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
}

impl Tenancy {
    /// The install flow's state, or `None` (with a warning) when `EMBER_ENCRYPTION_KEY` is not
    /// set: then the install flow and admin API are not served, and tokens are never stored in
    /// the clear.
    pub fn from_settings(
        settings: &ember_core::config::Settings,
        pool: PgPool,
        limiter: Arc<Limiter>,
    ) -> anyhow::Result<Option<web::Data<Self>>> {
        if settings.encryption_key.is_none() {
            tracing::warn!(
                "EMBER_ENCRYPTION_KEY is not set: the OAuth install flow and the admin API are disabled."
            );
            return Ok(None);
        }
        let secret = settings.require_client_secret()?;
        // Provisioning at install and private-app account checks spend the portal's API budget
        // like the workers' calls, so they take permits from the same Redis limiter. Token
        // exchange and refresh are OAuth calls, outside that budget (the token manager's client).
        let ungated = ember_core::tenancy::hubspot_client(settings)?;
        let hubspot = ember_core::tenancy::gated(&ungated, limiter);
        let tokens = Arc::new(ember_core::tenancy::token_manager(
            settings,
            pool.clone(),
            ungated,
        )?);
        let o = &settings.oauth;
        Ok(Some(web::Data::new(Self {
            pool,
            cipher: tokens.cipher().clone(),
            tokens,
            hubspot,
            signer: Signer::new(
                secret,
                o.state_lifetime_secs,
                o.session_lifetime_secs,
                o.secure_cookies,
            )?,
            redirect_uri: settings.oauth_redirect_uri(),
            public_base_url: settings.public_base_url.clone(),
            scopes: o.scopes.clone(),
            optional_scopes: o.optional_scopes.clone(),
        })))
    }
}

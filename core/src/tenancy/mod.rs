//! Tenancy: how a portal becomes a tenant and stays one.
//!
//! - [`crypto`]: AES-256-GCM sealing of tokens at rest, with key ids for rotation.
//! - [`tokens`]: [`TokenManager::access_token`], the one way every caller gets a portal's
//!   token: refreshed 5 minutes before expiry, once across all processes (row lock), a 401
//!   forces one refresh and one retry, `invalid_grant` marks the portal `needs_reauth`.
//! - [`install`]: completing an OAuth install (portal, person, agency, tokens, score
//!   properties, default model), registering private-app portals, uninstalling and purging.

pub mod crypto;
pub mod install;
pub mod tokens;

pub use crypto::{CryptoError, TokenCipher};
pub use tokens::{TokenError, TokenManager};

use std::sync::Arc;
use std::time::Duration;

use ember_hubspot::{HubSpot, HubSpotConfig};

use crate::config::Settings;
use crate::limiter::{Limiter, LimiterGate};

/// The HubSpot client the settings describe (base URLs, client id and secret).
pub fn hubspot_client(settings: &Settings) -> anyhow::Result<HubSpot> {
    let parse = |name: &str, value: &str| {
        url::Url::parse(value).map_err(|e| anyhow::anyhow!("{name} is not a URL ({e}): {value:?}"))
    };
    Ok(HubSpot::new(HubSpotConfig {
        api_base_url: parse("hubspot.api_base_url", &settings.hubspot.api_base_url)?,
        auth_base_url: parse("hubspot.auth_base_url", &settings.hubspot.auth_base_url)?,
        client_id: settings.hubspot.client_id.clone(),
        client_secret: settings.hubspot.client_secret.clone(),
        timeout: Duration::from_secs(30),
    })?)
}

/// `client` for calls on a portal's API budget: every call takes a permit from `limiter`
/// (through [`LimiterGate`]) and reports HubSpot's answer back to it.
pub fn gated(client: &HubSpot, limiter: Arc<Limiter>) -> HubSpot {
    client.with_gate(Arc::new(LimiterGate::public_default(limiter)))
}

/// A token manager from settings: Postgres pool, HubSpot client, cipher from
/// `EMBER_ENCRYPTION_KEY` (required), refresh margin from `oauth.refresh_margin_secs`.
pub fn token_manager(
    settings: &Settings,
    pool: sqlx::PgPool,
    hubspot: HubSpot,
) -> anyhow::Result<TokenManager> {
    let cipher = Arc::new(TokenCipher::from_settings(settings)?);
    Ok(TokenManager::new(
        pool,
        hubspot,
        cipher,
        settings.oauth.refresh_margin(),
    ))
}

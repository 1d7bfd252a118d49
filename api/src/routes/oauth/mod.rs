//! The OAuth install flow (FACTS.md D): `GET /oauth/install` sends the person to HubSpot with a
//! signed, cookie-bound, single-use `state`; `GET /oauth/callback` checks it, exchanges the code,
//! reads the token info, installs the portal (tokens sealed, properties provisioned, default
//! model), starts a console session and redirects to the portal's page. Every failure shows a
//! small page that says what happened, and logs why.

mod callback;
mod install;
mod page;

use std::sync::Arc;

use actix_web::web;
use ember_core::limiter::Limiter;
use ember_core::tenancy::{TokenCipher, TokenManager};
use ember_hubspot::HubSpot;
use sqlx::PgPool;

use crate::session::Signer;

/// What the install flow and the admin API share.
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

/// Registers `/oauth/install`, `/oauth/login`, the callback (at `redirect_path`) and
/// `/oauth/logout`.
pub fn configure(cfg: &mut web::ServiceConfig, redirect_path: &str) {
    cfg.route("/oauth/install", web::get().to(install::install))
        .route("/oauth/login", web::get().to(install::install))
        .route("/oauth/logout", web::post().to(install::logout))
        .route(redirect_path, web::get().to(callback::callback));
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

/// Registers the install flow and the admin API with their state, when configured.
pub fn register(
    cfg: &mut web::ServiceConfig,
    tenancy: &Option<web::Data<Tenancy>>,
    redirect_path: &str,
) {
    if let Some(t) = tenancy {
        cfg.app_data(t.clone());
        configure(cfg, redirect_path);
        crate::routes::admin::configure(cfg);
    }
}

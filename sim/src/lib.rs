//! hubspot-sim: a faithful HubSpot stand-in for Ember's tests, local development and demo.
//!
//! It serves HubSpot's own paths (OAuth 2026-03, CRM contacts, properties, account info, app
//! uninstall), on the date-versioned paths and the legacy ones (counted, and refused when
//! asked), with HubSpot's shapes, status codes, rate limits and quirks, sends webhooks as
//! HubSpot does (signed, batched, retried), and exposes a control API under `/_sim/` to set it
//! up, inject faults and observe every call. See `README.md` for what is faithful and what is
//! approximated.
//!
//! In-process: `SimServer::start(SimConfig) -> SimHandle`; as a binary: `ember sim`.

mod calllog;
mod clock;
mod config;
mod control;
mod generator;
mod hubspot;
mod in_flight;
mod ratelimit;
mod rng;
mod server;
mod setup;
mod state;
mod webhooks;

use std::time::Duration;

use anyhow::Context;

pub use calllog::CallRecord;
pub use clock::SimClock;
pub use config::{
    AppConfig, AppType, BURST_WINDOW_MS, PUBLIC_APP_BURST, SEARCH_PER_SECOND, SimConfig,
};
pub use control::{Control, RulesRefused};
pub use generator::{TrafficOptions, TrafficSummary};
pub use server::{CONTROL_PREFIX, SimHandle, SimServer};
pub use setup::{
    ContactView, DEFAULT_WATCHED_PROPERTIES, DeliveryAttempt, DeliveryKind, Faults, InstallTokens,
    PortalInfo, PortalSpec, RuleCheck, Subscription, ValidationRule, WorkflowConfig,
};
pub use state::PortalId;
pub use webhooks::{WebhookShape, signature};

/// Retry delays of app webhooks (simulator seconds, before jitter).
pub const APP_WEBHOOK_RETRY_DELAYS_S: [i64; 10] = webhooks::APP_RETRY_DELAYS_S;

/// `ember sim`: run the simulator for a person.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8090, env = "EMBER_SIM_PORT")]
    pub port: u16,
    /// Seed of the generated portals, contacts and traffic.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Portals to generate (public app, not yet installed).
    #[arg(long, default_value_t = 2)]
    pub portals: usize,
    /// Contacts per generated portal.
    #[arg(long, default_value_t = 200)]
    pub contacts_per_portal: usize,
    /// The app's webhook target URL (Ember's `/webhooks/hubspot`).
    #[arg(long)]
    pub webhook_target: Option<String>,
    /// Allowed OAuth redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// The app's OAuth client id.
    #[arg(long, env = "EMBER_SIM_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The app's OAuth client secret (also the webhook signing key).
    #[arg(long, env = "EMBER_SIM_CLIENT_SECRET")]
    pub client_secret: Option<String>,
    /// Clock speed (1 = real time).
    #[arg(long, default_value_t = 1.0)]
    pub clock_speed: f64,
    /// Server worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Sim-time milliseconds before search sees a write (default: `SimConfig`'s, 3 s).
    #[arg(long)]
    pub search_index_delay_ms: Option<u64>,
    /// Answer batch rows in input order instead of shuffled (for debugging a client).
    #[arg(long)]
    pub keep_batch_order: bool,
    /// Shape of the app's webhook events: legacy `contact.*`, generic `object.*`, or both.
    #[arg(long, value_enum, default_value_t = WebhookShape::Legacy)]
    pub webhook_shape: WebhookShape,
    /// Answer HubSpot's legacy paths (`/oauth/v1`, `/crm/v3`, ...) with 404, as HubSpot does
    /// for a project app; they are counted either way (`GET /_sim/legacy`).
    #[arg(long)]
    pub refuse_legacy_paths: bool,
}

impl SimArgs {
    /// The configuration these arguments describe.
    pub fn to_config(&self) -> SimConfig {
        let defaults = SimConfig::default();
        let mut app = AppConfig::default();
        if !self.redirect_uris.is_empty() {
            app.redirect_uris = self.redirect_uris.clone();
        }
        if let Some(id) = &self.client_id {
            app.client_id = id.clone();
        }
        if let Some(s) = &self.client_secret {
            app.client_secret = s.clone();
        }
        app.webhook_target_url = self.webhook_target.clone();
        SimConfig {
            port: self.port,
            seed: self.seed,
            portals: self.portals,
            contacts_per_portal: self.contacts_per_portal,
            app,
            clock_speed: self.clock_speed,
            workers: self.workers,
            search_index_delay: self
                .search_index_delay_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.search_index_delay),
            shuffle_batch_answers: !self.keep_batch_order,
            webhook_shape: self.webhook_shape,
            refuse_legacy_paths: self.refuse_legacy_paths,
            ..defaults
        }
    }
}

/// Serves until Ctrl-C.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let handle = SimServer::start(args.to_config())
        .await
        .context("Failed to start the HubSpot simulator.")?;
    let app = handle.app();
    let portals: Vec<String> = handle
        .control()
        .portals()
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    tracing::info!(
        base_url = %handle.base_url(),
        app_id = app.app_id,
        client_id = %app.client_id,
        portals = %portals.join(","),
        "HubSpot simulator listening; control API under /_sim/."
    );
    println!(
        "HubSpot simulator on {} (control API: {}/_sim/app, /_sim/portals)",
        handle.base_url(),
        handle.base_url()
    );
    println!(
        "app id {}, client id {}, portals {}",
        app.app_id,
        app.client_id,
        portals.join(", ")
    );
    tokio::signal::ctrl_c()
        .await
        .context("Failed to wait for Ctrl-C.")?;
    tracing::info!("HubSpot simulator stopping.");
    tokio::time::timeout(Duration::from_secs(10), handle.shutdown())
        .await
        .ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::SimArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn legacy_paths_are_served_unless_the_flag_says_refuse() {
        let default = Cli::parse_from(["ember-sim"]).sim.to_config();
        assert!(!default.refuse_legacy_paths);
        let refusing = Cli::parse_from(["ember-sim", "--refuse-legacy-paths"])
            .sim
            .to_config();
        assert!(refusing.refuse_legacy_paths);
    }
}

//! [`HubSpotCrm`]: the production [`Crm`], over the HubSpot client (built
//! `.with_gate(LimiterGate)`, so every call takes a permit) and the [`TokenManager`] (refreshed
//! once across processes; a 401 forces one refresh and one retry).
//!
//! A portal without a usable token keeps its rows: every token failure becomes an error the
//! write-back treats as "retry later" (never a 400, never a dead letter). A portal awaiting
//! re-authorization (`TokenError::pauses_writes`) waits [`PAUSED_RETRY`] between attempts.

use std::sync::Arc;
use std::time::Duration;

use ember_core::domain::PortalId;
use ember_core::limiter::LimiterGate;
use ember_core::tenancy::install::{CONTACTS, score_group, score_properties};
use ember_core::tenancy::{TokenError, TokenManager};
use ember_hubspot::crm::{BatchUpdate, UpdateRow};
use ember_hubspot::{GateError, HubSpot};

use super::Crm;

/// How long a portal awaiting re-authorization (or uninstalled) waits before its rows are tried
/// again.
pub const PAUSED_RETRY: Duration = Duration::from_secs(300);

/// [`Crm`] over the gated HubSpot client and the token manager.
pub struct HubSpotCrm {
    client: HubSpot,
    tokens: Arc<TokenManager>,
}

impl HubSpotCrm {
    /// `client` must be built `.with_gate(gate)` with the write-back's [`super::LimiterGate`].
    pub fn new(client: HubSpot, tokens: Arc<TokenManager>) -> Self {
        Self { client, tokens }
    }

    /// The client the settings describe, gated by the shared Redis limiter (the gate is returned
    /// too, for the caller's own permits and status), with the token manager. Token refreshes
    /// use the ungated client: the OAuth endpoint is not the portal's API budget.
    pub fn from_settings(
        settings: &ember_core::config::Settings,
        pool: sqlx::PgPool,
    ) -> anyhow::Result<(Arc<Self>, Arc<LimiterGate>)> {
        let limiter = Arc::new(ember_core::limiter::Limiter::from_settings(settings)?);
        let gate = Arc::new(LimiterGate::public_default(limiter));
        let client = ember_core::tenancy::hubspot_client(settings)?;
        let tokens = Arc::new(ember_core::tenancy::token_manager(
            settings,
            pool,
            client.clone(),
        )?);
        let crm = Arc::new(Self::new(client.with_gate(gate.clone()), tokens));
        Ok((crm, gate))
    }

    /// The gated client.
    pub fn client(&self) -> &HubSpot {
        &self.client
    }

    /// The token manager.
    pub fn tokens(&self) -> &Arc<TokenManager> {
        &self.tokens
    }
}

/// A token failure as a HubSpot error the write-back retries later, keeping the rows.
pub fn token_failure(e: TokenError) -> ember_hubspot::Error {
    if e.pauses_writes() {
        tracing::debug!(error = %e, "Writes paused until the portal is re-authorized.");
        return ember_hubspot::Error::Gate(GateError::new(
            format!("writes paused: {e}"),
            Some(PAUSED_RETRY),
        ));
    }
    match e {
        TokenError::HubSpot { source, .. } => source,
        e @ (TokenError::NotInstalled(_) | TokenError::Uninstalled(_)) => {
            ember_hubspot::Error::Gate(GateError::new(format!("no token: {e}"), Some(PAUSED_RETRY)))
        }
        e => ember_hubspot::Error::Gate(GateError::new(format!("no token: {e}"), None)),
    }
}

impl Crm for HubSpotCrm {
    async fn batch_update(
        &self,
        portal: PortalId,
        rows: Vec<UpdateRow>,
    ) -> Result<BatchUpdate, ember_hubspot::Error> {
        let rows = &rows;
        self.tokens
            .with_token(portal, |token| async move {
                self.client
                    .batch_update_contacts(portal.get(), &token, rows)
                    .await
                    .map(|r| r.value)
            })
            .await
            .map_err(token_failure)
    }

    async fn resolve(
        &self,
        portal: PortalId,
        id: &str,
    ) -> Result<Option<String>, ember_hubspot::Error> {
        self.tokens
            .with_token(portal, |token| async move {
                self.client
                    .get_contact(portal.get(), &token, id, &[])
                    .await
                    .map(|r| r.value.map(|c| c.id))
            })
            .await
            .map_err(token_failure)
    }

    async fn provision(&self, portal: PortalId) -> Result<(), ember_hubspot::Error> {
        let group = score_group();
        let properties = score_properties();
        let (group, properties) = (&group, &properties);
        let report = self
            .tokens
            .with_token(portal, |token| async move {
                self.client
                    .ensure_properties(portal.get(), &token, CONTACTS, group, properties)
                    .await
            })
            .await
            .map_err(token_failure)?;
        if !report.conflicts.is_empty() {
            tracing::warn!(portal_id = portal.get(), conflicts = ?report.conflicts,
                "Score properties exist in HubSpot with another type.");
        }
        Ok(())
    }
}

//! [`TokenManager::access_token`]: the one way every caller gets a portal's HubSpot token.
//!
//! Single flight, decided: a **Postgres row lock** on the portal's `portal_tokens` row.
//! A caller that finds less than the refresh margin (5 min) left takes, in this process, the
//! portal's async mutex (so one connection, not fifty, waits on Postgres), then opens a
//! transaction and `SELECT ... FOR UPDATE`s the row. Under the lock it looks again: if another
//! process refreshed meanwhile, the fresh token is returned; otherwise it refreshes with HubSpot
//! while holding the lock, stores the result and commits. Every other process blocks on the row
//! until then and sees the new token. Holding a row lock across one HTTP call is bounded by the
//! client timeout, and it is the only thing waiting on that row. An advisory lock would work as
//! well; the row lock needs no key scheme and dies with the transaction.
//!
//! Outcomes of a refresh: transient failures (network, 429, 5xx) are retried with backoff; an
//! `invalid_grant` (refresh token revoked or app uninstalled, docs/hubspot.md A.6, D.6) marks the
//! portal `needs_reauth` and deletes its dead tokens, so no further writes happen for it
//! (events are still scored; the write-back cannot get a token); other refusals are returned.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use ember_hubspot::HubSpot;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use super::crypto::{CryptoError, Purpose, TokenCipher};
use crate::domain::PortalId;
use crate::store::portals::{self, PortalStatus};
use crate::store::tokens::{self as store, SealedTokens, TokenKind};

/// Why no token could be given.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No such portal, or it has no tokens.
    #[error("portal {0} is not installed")]
    NotInstalled(PortalId),
    /// The portal uninstalled Ember.
    #[error("portal {0} has uninstalled Ember")]
    Uninstalled(PortalId),
    /// HubSpot rejected the refresh token: a person must install again.
    #[error("portal {0} must be re-authorized: HubSpot rejected its refresh token")]
    NeedsReauth(PortalId),
    /// HubSpot failed (after retries, when transient).
    #[error("HubSpot call failed for portal {portal}")]
    HubSpot {
        portal: PortalId,
        #[source]
        source: ember_hubspot::Error,
    },
    /// A stored token did not decrypt.
    #[error("the stored tokens of portal {portal} cannot be opened")]
    Crypto {
        portal: PortalId,
        #[source]
        source: CryptoError,
    },
    /// Postgres failed.
    #[error("database error while reading the tokens of portal {portal}")]
    Database {
        portal: PortalId,
        #[source]
        source: sqlx::Error,
    },
}

impl TokenError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            TokenError::HubSpot { source, .. } => source.is_transient(),
            TokenError::Database { .. } => true,
            _ => false,
        }
    }

    /// The portal awaits re-authorization: keep its pending writes (do not fail them) until a
    /// person installs again; its events are still scored.
    pub fn pauses_writes(&self) -> bool {
        matches!(self, TokenError::NeedsReauth(_))
    }

    /// The HubSpot error, if that is what failed.
    pub fn hubspot(&self) -> Option<&ember_hubspot::Error> {
        match self {
            TokenError::HubSpot { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How transient refresh failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// First delay; doubled each time (or HubSpot's Retry-After when longer).
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_millis(250),
        }
    }
}

/// Hands out access tokens, refreshing them once across all processes.
pub struct TokenManager {
    pool: PgPool,
    hubspot: HubSpot,
    cipher: Arc<TokenCipher>,
    margin: Duration,
    retry: RetryPolicy,
    flights: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("margin", &self.margin)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Counts refresh outcomes (bounded label).
fn count_refresh(outcome: &'static str) {
    metrics::counter!("ember_token_refreshes_total", "outcome" => outcome).increment(1);
}

impl TokenManager {
    /// `margin`: refresh when less than this is left (settings: `oauth.refresh_margin_secs`).
    pub fn new(pool: PgPool, hubspot: HubSpot, cipher: Arc<TokenCipher>, margin: Duration) -> Self {
        Self {
            pool,
            hubspot,
            cipher,
            margin,
            retry: RetryPolicy::default(),
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The HubSpot client this manager refreshes with.
    pub fn hubspot(&self) -> &HubSpot {
        &self.hubspot
    }

    /// The cipher.
    pub fn cipher(&self) -> &Arc<TokenCipher> {
        &self.cipher
    }

    /// A valid access token for the portal: refreshed first when less than the margin is left.
    pub async fn access_token(&self, portal: PortalId) -> Result<SecretString, TokenError> {
        let db = |source| TokenError::Database { portal, source };
        self.check_status(portal).await?;
        let row = store::get(&self.pool, portal)
            .await
            .map_err(db)?
            .ok_or(TokenError::NotInstalled(portal))?;
        if !self.needs_refresh(&row) {
            return self.open(portal, Purpose::AccessToken, &row.access_token);
        }
        self.refresh_single_flight(portal, None).await
    }

    /// After HubSpot answered 401 to `rejected`: refresh once (unless another caller already
    /// replaced that token) and return the new token.
    pub async fn force_refresh(
        &self,
        portal: PortalId,
        rejected: &SecretString,
    ) -> Result<SecretString, TokenError> {
        self.refresh_single_flight(portal, Some(rejected)).await
    }

    /// Runs `call` with the portal's token; on a 401, forces one refresh and retries once.
    pub async fn with_token<T, F, Fut>(
        &self,
        portal: PortalId,
        mut call: F,
    ) -> Result<T, TokenError>
    where
        F: FnMut(SecretString) -> Fut,
        Fut: Future<Output = Result<T, ember_hubspot::Error>>,
    {
        let token = self.access_token(portal).await?;
        match call(token.clone()).await {
            Err(e) if e.is_unauthorized() => {
                tracing::info!(
                    portal_id = portal.get(),
                    "HubSpot rejected the access token; refreshing once."
                );
                let fresh = self.force_refresh(portal, &token).await?;
                call(fresh)
                    .await
                    .map_err(|source| TokenError::HubSpot { portal, source })
            }
            other => other.map_err(|source| TokenError::HubSpot { portal, source }),
        }
    }

    async fn check_status(&self, portal: PortalId) -> Result<(), TokenError> {
        match portals::status(&self.pool, portal)
            .await
            .map_err(|source| TokenError::Database { portal, source })?
        {
            None => Err(TokenError::NotInstalled(portal)),
            Some(PortalStatus::Uninstalled) => Err(TokenError::Uninstalled(portal)),
            Some(PortalStatus::NeedsReauth) => Err(TokenError::NeedsReauth(portal)),
            Some(PortalStatus::Active) => Ok(()),
        }
    }

    fn needs_refresh(&self, row: &SealedTokens) -> bool {
        match (row.kind, row.expires_at) {
            (TokenKind::Private, _) => false,
            (TokenKind::Oauth, None) => true,
            (TokenKind::Oauth, Some(at)) => {
                let margin =
                    chrono::Duration::from_std(self.margin).unwrap_or(chrono::Duration::minutes(5));
                at - Utc::now() <= margin
            }
        }
    }

    fn open(
        &self,
        portal: PortalId,
        purpose: Purpose,
        sealed: &[u8],
    ) -> Result<SecretString, TokenError> {
        self.cipher
            .open(portal, purpose, sealed)
            .map_err(|source| TokenError::Crypto { portal, source })
    }

    fn flight(&self, portal: PortalId) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self
            .flights
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        flights.entry(portal.get()).or_default().clone()
    }

    async fn refresh_single_flight(
        &self,
        portal: PortalId,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, TokenError> {
        let flight = self.flight(portal);
        let _in_process = flight.lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.refresh_locked(portal, rejected).await {
                Err(TokenError::HubSpot { source, .. })
                    if source.is_transient() && attempt < self.retry.attempts =>
                {
                    let backoff = self.retry.base_delay * 2u32.saturating_pow(attempt - 1);
                    let delay = source
                        .retry_after()
                        .map_or(backoff, |after| after.max(backoff));
                    tracing::warn!(portal_id = portal.get(), attempt, error = %source, delay_ms = delay.as_millis() as u64,
                        "Token refresh failed; retrying.");
                    count_refresh("retried");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// One refresh attempt under the row lock.
    async fn refresh_locked(
        &self,
        portal: PortalId,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, TokenError> {
        let db = |source| TokenError::Database { portal, source };
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row = store::lock(&mut tx, portal).await.map_err(db)?;
        // Look again under the lock: the status may have changed while we waited.
        let status = crate::store::portals::status(&mut *tx, portal)
            .await
            .map_err(db)?;
        match status {
            Some(PortalStatus::Active) => {}
            Some(PortalStatus::NeedsReauth) => return Err(TokenError::NeedsReauth(portal)),
            Some(PortalStatus::Uninstalled) => return Err(TokenError::Uninstalled(portal)),
            None => return Err(TokenError::NotInstalled(portal)),
        }
        let row = row.ok_or(TokenError::NotInstalled(portal))?;
        let current = self.open(portal, Purpose::AccessToken, &row.access_token)?;
        let stale = match rejected {
            // Another caller already replaced the rejected token: use the new one.
            Some(rejected) => {
                row.kind == TokenKind::Oauth && current.expose_secret() == rejected.expose_secret()
            }
            None => self.needs_refresh(&row),
        };
        if !stale {
            tx.commit().await.map_err(db)?;
            return Ok(current);
        }
        let Some(sealed_refresh) = row.refresh_token.as_deref() else {
            return Err(TokenError::NotInstalled(portal));
        };
        let refresh_token = self.open(portal, Purpose::RefreshToken, sealed_refresh)?;
        match self.hubspot.refresh(&refresh_token).await {
            Ok(set) => {
                let refresh = set.refresh_token.as_ref().unwrap_or(&refresh_token);
                let seal = |purpose, t: &SecretString| {
                    self.cipher
                        .seal(portal, purpose, t.expose_secret())
                        .map_err(|source| TokenError::Crypto { portal, source })
                };
                let access = seal(Purpose::AccessToken, &set.access_token)?;
                let refresh = seal(Purpose::RefreshToken, refresh)?;
                let expires_at = Utc::now()
                    + chrono::Duration::from_std(set.expires_in)
                        .unwrap_or(chrono::Duration::minutes(30));
                store::refreshed(
                    &mut tx,
                    portal,
                    &access,
                    &refresh,
                    expires_at,
                    &self.cipher.key_id(),
                )
                .await
                .map_err(db)?;
                tx.commit().await.map_err(db)?;
                count_refresh("refreshed");
                tracing::info!(portal_id = portal.get(), "Access token refreshed.");
                Ok(set.access_token)
            }
            Err(source) if source.is_invalid_grant() => {
                portals::set_status(
                    &mut tx,
                    portal,
                    PortalStatus::NeedsReauth,
                    "HubSpot rejected the refresh token (invalid_grant)",
                )
                .await
                .map_err(db)?;
                store::delete(&mut tx, portal).await.map_err(db)?;
                tx.commit().await.map_err(db)?;
                count_refresh("invalid_grant");
                metrics::counter!("ember_portal_status_changes_total", "status" => "needs_reauth")
                    .increment(1);
                tracing::warn!(
                    portal_id = portal.get(),
                    category = source.category().unwrap_or(""),
                    "HubSpot rejected the refresh token; the portal needs re-authorization and its write-backs pause."
                );
                Err(TokenError::NeedsReauth(portal))
            }
            Err(source) => {
                drop(tx);
                count_refresh(if source.is_transient() {
                    "transient"
                } else {
                    "failed"
                });
                Err(TokenError::HubSpot { portal, source })
            }
        }
    }
}

/// After a key rotation (`EMBER_ENCRYPTION_KEY` = new key, `EMBER_PREVIOUS_ENCRYPTION_KEYS` =
/// old ones): the portals whose tokens an older key sealed. Re-seal each with [`reseal`]; then
/// the old keys can be dropped.
pub async fn stale_portals(
    pool: &PgPool,
    cipher: &TokenCipher,
) -> Result<Vec<PortalId>, sqlx::Error> {
    store::sealed_with_other_keys(pool, &cipher.key_id()).await
}

/// Re-seals one portal's tokens with the current key, under its row lock. `false` if there was
/// nothing to do.
pub async fn reseal(
    pool: &PgPool,
    cipher: &TokenCipher,
    portal: PortalId,
) -> Result<bool, TokenError> {
    let db = |source| TokenError::Database { portal, source };
    let crypto = |source| TokenError::Crypto { portal, source };
    let current = cipher.key_id();
    let mut tx = pool.begin().await.map_err(db)?;
    let Some(row) = store::lock(&mut tx, portal).await.map_err(db)? else {
        return Ok(false);
    };
    if row.key_id == current {
        return Ok(false);
    }
    let access = cipher
        .open(portal, Purpose::AccessToken, &row.access_token)
        .map_err(crypto)?;
    let access = cipher
        .seal(portal, Purpose::AccessToken, access.expose_secret())
        .map_err(crypto)?;
    let refresh = match row.refresh_token.as_deref() {
        Some(sealed) => {
            let token = cipher
                .open(portal, Purpose::RefreshToken, sealed)
                .map_err(crypto)?;
            Some(
                cipher
                    .seal(portal, Purpose::RefreshToken, token.expose_secret())
                    .map_err(crypto)?,
            )
        }
        None => None,
    };
    store::resealed(&mut tx, portal, &access, refresh.as_deref(), &current)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(true)
}

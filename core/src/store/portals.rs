//! Portals (tenants): which HubSpot accounts have installed Ember, and in what state.

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;

use crate::domain::PortalId;

/// A portal's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum PortalStatus {
    /// Installed, tokens valid.
    Active,
    /// The refresh token was rejected: events are still scored, write-backs pause.
    NeedsReauth,
    /// Uninstalled: events are dropped.
    Uninstalled,
}

/// Whether events for this portal should be accepted: it is installed (active or awaiting
/// re-authorization, whose events are still scored).
pub async fn accepts_events(pool: &PgPool, portal: PortalId) -> Result<bool, sqlx::Error> {
    let status: Option<PortalStatus> = sqlx::query_scalar("SELECT status FROM portals WHERE portal_id = $1")
        .bind(portal.get())
        .fetch_optional(pool)
        .await?;
    Ok(matches!(status, Some(PortalStatus::Active | PortalStatus::NeedsReauth)))
}

/// Registers a portal as active (idempotent), for installs and tests.
pub async fn upsert_active(pool: &PgPool, portal: PortalId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO portals (portal_id, status) VALUES ($1, 'active') \
         ON CONFLICT (portal_id) DO UPDATE SET status = 'active', updated_at = now()",
    )
    .bind(portal.get())
    .execute(pool)
    .await?;
    Ok(())
}

/// Sets (or replaces) the portal's workflow webhook secret; only its SHA-256 is stored.
pub async fn set_webhook_secret(pool: &PgPool, portal: PortalId, secret: &str) -> Result<(), sqlx::Error> {
    let digest = Sha256::digest(secret.as_bytes()).to_vec();
    sqlx::query("UPDATE portals SET webhook_secret_sha256 = $2, updated_at = now() WHERE portal_id = $1")
        .bind(portal.get())
        .bind(digest)
        .execute(pool)
        .await?;
    Ok(())
}

/// Whether `given` is the portal's workflow webhook secret (constant-time comparison of hashes).
pub async fn webhook_secret_matches(pool: &PgPool, portal: PortalId, given: &str) -> Result<bool, sqlx::Error> {
    let stored: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT webhook_secret_sha256 FROM portals WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_optional(pool)
            .await?;
    let Some(Some(stored)) = stored else {
        return Ok(false);
    };
    let given = Sha256::digest(given.as_bytes());
    Ok(stored.ct_eq(given.as_slice()).into())
}

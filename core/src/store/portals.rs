//! Portals (tenants): which HubSpot accounts have installed Ember, and in what state.

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;

use crate::domain::PortalId;

/// A portal's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, utoipa::ToSchema)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[schema(rename_all = "snake_case")]
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
    let status: Option<PortalStatus> =
        sqlx::query_scalar("SELECT status FROM portals WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_optional(pool)
            .await?;
    Ok(matches!(
        status,
        Some(PortalStatus::Active | PortalStatus::NeedsReauth)
    ))
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
/// Returns whether the portal exists.
pub async fn set_webhook_secret(
    pool: &PgPool,
    portal: PortalId,
    secret: &str,
) -> Result<bool, sqlx::Error> {
    let digest = WebhookSecretHash::of(secret).0.to_vec();
    let done = sqlx::query(
        "UPDATE portals SET webhook_secret_sha256 = $2, updated_at = now() WHERE portal_id = $1",
    )
    .bind(portal.get())
    .bind(digest)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Replaces the portal's webhook secret with a new random one ([`WebhookSecret::generate`]) and
/// returns it: the only time it exists outside HubSpot. `None`: no such portal.
pub async fn rotate_webhook_secret(
    pool: &PgPool,
    portal: PortalId,
) -> Result<Option<WebhookSecret>, sqlx::Error> {
    let secret = WebhookSecret::generate();
    let exists = set_webhook_secret(pool, portal, secret.expose()).await?;
    Ok(exists.then_some(secret))
}

/// The SHA-256 of the portal's workflow webhook secret; `None` when it has none or the portal
/// does not exist (both mean: no secret authenticates).
pub async fn webhook_secret_hash(
    pool: &PgPool,
    portal: PortalId,
) -> Result<Option<WebhookSecretHash>, sqlx::Error> {
    let stored: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT webhook_secret_sha256 FROM portals WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_optional(pool)
            .await?;
    Ok(stored
        .flatten()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .map(WebhookSecretHash))
}

/// The stored SHA-256 of a portal's webhook secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WebhookSecretHash([u8; 32]);

impl WebhookSecretHash {
    /// The hash of `secret`, as it is stored.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `given` is the secret (constant-time comparison of hashes).
    pub fn matches(&self, given: &str) -> bool {
        let given = Sha256::digest(given.as_bytes());
        self.0.ct_eq(given.as_slice()).into()
    }
}

impl std::fmt::Debug for WebhookSecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecretHash(..)")
    }
}

/// A newly generated workflow webhook secret, shown once to the person who made it. Its `Debug`
/// never prints it.
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Prefix of generated secrets, so that secret scanners and people recognize one.
    pub const PREFIX: &str = "ewhs_";

    /// 32 random bytes from the operating system's generator, base64url without padding (safe in
    /// a query string, where the workflow's "API key" option may put it).
    pub fn generate() -> Self {
        use base64::Engine as _;
        let bytes: [u8; 32] = rand::random();
        Self(format!(
            "{}{}",
            Self::PREFIX,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// The secret itself, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// How a portal is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize, utoipa::ToSchema)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// The public app (OAuth).
    Public,
    /// A private app's static token.
    Private,
    /// A Service Key: a static token that replaces private apps on the 2026 platform and
    /// receives no webhooks (docs/tenancy.md "Service Keys").
    ServiceKey,
}

/// How every active portal is authorized (`app_kind`, `private_tier`), for the limiter's
/// per-portal limits. A CHECK constraint keeps `app_kind` to the three kinds, so the typed
/// decode cannot meet a fourth.
pub async fn active_app_kinds(
    pool: &PgPool,
) -> Result<Vec<(PortalId, AppKind, Option<i32>)>, sqlx::Error> {
    let rows: Vec<(i64, AppKind, Option<i32>)> = sqlx::query_as(
        "SELECT portal_id, app_kind, private_tier FROM portals WHERE status = 'active'",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(p, kind, tier)| Some((PortalId::new(p).ok()?, kind, tier)))
        .collect())
}

/// How many portals have each status (statuses without portals are absent).
pub async fn count_by_status(pool: &PgPool) -> Result<Vec<(PortalStatus, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT status, count(*) FROM portals GROUP BY status")
        .fetch_all(pool)
        .await
}

/// What a portal is, as the admin API and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct PortalSummary {
    pub portal_id: i64,
    pub status: PortalStatus,
    pub agency_id: Option<i64>,
    pub app_kind: AppKind,
    pub private_tier: Option<i32>,
    pub hub_domain: Option<String>,
    pub status_reason: Option<String>,
    pub status_changed_at: chrono::DateTime<chrono::Utc>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl serde::Serialize for PortalStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            PortalStatus::Active => "active",
            PortalStatus::NeedsReauth => "needs_reauth",
            PortalStatus::Uninstalled => "uninstalled",
        })
    }
}

const SUMMARY: &str = "portal_id, status, agency_id, app_kind, private_tier, hub_domain, status_reason, \
                       status_changed_at, created_at";

/// Creates or re-activates a portal with its tenancy. An existing owner agency is kept unless
/// the portal has none.
pub async fn register(
    conn: &mut sqlx::PgConnection,
    portal: PortalId,
    agency: Option<i64>,
    kind: AppKind,
    private_tier: Option<i32>,
    hub_domain: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO portals (portal_id, status, agency_id, app_kind, private_tier, hub_domain) \
         VALUES ($1, 'active', $2, $3, $4, $5) \
         ON CONFLICT (portal_id) DO UPDATE SET status = 'active', status_reason = NULL, \
           status_changed_at = CASE WHEN portals.status = 'active' THEN portals.status_changed_at ELSE now() END, \
           agency_id = COALESCE(portals.agency_id, EXCLUDED.agency_id), app_kind = EXCLUDED.app_kind, \
           private_tier = EXCLUDED.private_tier, hub_domain = COALESCE(EXCLUDED.hub_domain, portals.hub_domain), \
           updated_at = now()",
    )
    .bind(portal.get())
    .bind(agency)
    .bind(kind)
    .bind(private_tier)
    .bind(hub_domain)
    .execute(conn)
    .await?;
    Ok(())
}

/// The portal's status, if it exists.
pub async fn status<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    portal: PortalId,
) -> Result<Option<PortalStatus>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM portals WHERE portal_id = $1")
        .bind(portal.get())
        .fetch_optional(executor)
        .await
}

/// Locks the portal's row and returns its agency: `None` when the portal does not exist,
/// `Some(None)` when it belongs to no agency yet.
pub async fn lock_agency(
    tx: &mut sqlx::PgConnection,
    portal: PortalId,
) -> Result<Option<Option<i64>>, sqlx::Error> {
    sqlx::query_scalar("SELECT agency_id FROM portals WHERE portal_id = $1 FOR UPDATE")
        .bind(portal.get())
        .fetch_optional(tx)
        .await
}

/// Moves the portal to `status` with a reason; returns whether it changed.
pub async fn set_status(
    conn: &mut sqlx::PgConnection,
    portal: PortalId,
    status: PortalStatus,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE portals SET status = $2, status_reason = $3, status_changed_at = now(), updated_at = now() \
         WHERE portal_id = $1 AND status <> $2",
    )
    .bind(portal.get())
    .bind(status)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// One portal, unscoped (CLI and internal use).
pub async fn summary(
    pool: &PgPool,
    portal: PortalId,
) -> Result<Option<PortalSummary>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY} FROM portals WHERE portal_id = $1"
    )))
    .bind(portal.get())
    .fetch_optional(pool)
    .await
}

/// Every portal (CLI).
pub async fn list_all(pool: &PgPool) -> Result<Vec<PortalSummary>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY} FROM portals ORDER BY portal_id"
    )))
    .fetch_all(pool)
    .await
}

/// The portals of one agency.
pub async fn list_for_agency(
    pool: &PgPool,
    agency: i64,
) -> Result<Vec<PortalSummary>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY} FROM portals WHERE agency_id = $1 ORDER BY portal_id"
    )))
    .bind(agency)
    .fetch_all(pool)
    .await
}

/// One portal if it belongs to `agency` (scoped lookup: anything else is `None`).
pub async fn get_for_agency(
    pool: &PgPool,
    portal: PortalId,
    agency: i64,
) -> Result<Option<PortalSummary>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SUMMARY} FROM portals WHERE portal_id = $1 AND agency_id = $2"
    )))
    .bind(portal.get())
    .bind(agency)
    .fetch_optional(pool)
    .await
}

/// Deletes every row of the portal in every table that has a `portal_id` column, then the
/// portal itself, in one transaction. Tables are found in the catalog so that tables added
/// later are purged too. Returns the rows deleted per table.
pub async fn purge(pool: &PgPool, portal: PortalId) -> Result<Vec<(String, u64)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.table_name::text FROM information_schema.columns c \
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND c.column_name = 'portal_id' AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> 'portals' ORDER BY 1",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut deleted = Vec::new();
    // Foreign keys between these tables may need one order: a table whose delete is refused
    // (savepoint rolled back) is tried again after the others.
    let mut pending = tables;
    for _pass in 0..4 {
        let mut refused = Vec::new();
        for table in pending {
            let quoted = table.replace('"', "\"\"");
            let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
            let result = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM \"{quoted}\" WHERE portal_id = $1"
            )))
            .bind(portal.get())
            .execute(&mut *savepoint)
            .await;
            match result {
                Ok(done) => {
                    savepoint.commit().await?;
                    deleted.push((table, done.rows_affected()));
                }
                Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                    savepoint.rollback().await?;
                    refused.push(table);
                }
                Err(e) => return Err(e),
            }
        }
        pending = refused;
        if pending.is_empty() {
            break;
        }
    }
    let done = sqlx::query("DELETE FROM portals WHERE portal_id = $1")
        .bind(portal.get())
        .execute(&mut *tx)
        .await?;
    deleted.push(("portals".into(), done.rows_affected()));
    tx.commit().await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_random_and_url_safe_and_their_hash_matches() {
        let a = WebhookSecret::generate();
        let b = WebhookSecret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(WebhookSecret::PREFIX));
        // 32 bytes in base64url: 43 characters.
        assert_eq!(a.expose().len(), WebhookSecret::PREFIX.len() + 43);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(format!("{a:?}"), "WebhookSecret(..)");
        let hash = WebhookSecretHash::of(a.expose());
        assert!(hash.matches(a.expose()));
        assert!(!hash.matches(b.expose()));
    }
}

//! `portal_tokens`: a portal's sealed (encrypted) HubSpot tokens. Sealing and refreshing live in
//! [`crate::tenancy`]; this module only moves rows. Every function takes the portal first.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::PortalId;

/// How a portal's calls are authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum TokenKind {
    /// The public app: access token + refresh token, refreshed before expiry.
    Oauth,
    /// A static token, never refreshed: a private app's or a Service Key (the portals table's
    /// `app_kind` says which; the stored value `private` predates Service Keys).
    Private,
}

/// A stored row (values still sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedTokens {
    pub kind: TokenKind,
    pub access_token: Vec<u8>,
    pub refresh_token: Option<Vec<u8>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    pub hub_user_id: Option<i64>,
    pub key_id: String,
    pub refresh_count: i64,
}

const COLUMNS: &str =
    "kind, access_token, refresh_token, expires_at, scopes, hub_user_id, key_id, refresh_count";

/// The portal's tokens, if stored.
pub async fn get(pool: &PgPool, portal: PortalId) -> Result<Option<SealedTokens>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM portal_tokens WHERE portal_id = $1"
    )))
    .bind(portal.get())
    .fetch_optional(pool)
    .await
}

/// The portal's tokens, locking the row until the transaction ends (single-flight refresh).
pub async fn lock(
    conn: &mut PgConnection,
    portal: PortalId,
) -> Result<Option<SealedTokens>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM portal_tokens WHERE portal_id = $1 FOR UPDATE"
    )))
    .bind(portal.get())
    .fetch_optional(conn)
    .await
}

/// Stores (or replaces) the portal's tokens.
pub async fn put(
    conn: &mut PgConnection,
    portal: PortalId,
    t: &SealedTokens,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO portal_tokens (portal_id, kind, access_token, refresh_token, expires_at, scopes, hub_user_id, key_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (portal_id) DO UPDATE SET kind = EXCLUDED.kind, access_token = EXCLUDED.access_token, \
         refresh_token = EXCLUDED.refresh_token, expires_at = EXCLUDED.expires_at, scopes = EXCLUDED.scopes, \
         hub_user_id = EXCLUDED.hub_user_id, key_id = EXCLUDED.key_id, refreshed_at = now()",
    )
    .bind(portal.get())
    .bind(t.kind)
    .bind(&t.access_token)
    .bind(&t.refresh_token)
    .bind(t.expires_at)
    .bind(&t.scopes)
    .bind(t.hub_user_id)
    .bind(&t.key_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a refresh: new access token (and refresh token), expiry, and one more refresh.
pub async fn refreshed(
    conn: &mut PgConnection,
    portal: PortalId,
    access_token: &[u8],
    refresh_token: &[u8],
    expires_at: DateTime<Utc>,
    key_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE portal_tokens SET access_token = $2, refresh_token = $3, expires_at = $4, key_id = $5, \
         refreshed_at = now(), refresh_count = refresh_count + 1 WHERE portal_id = $1",
    )
    .bind(portal.get())
    .bind(access_token)
    .bind(refresh_token)
    .bind(expires_at)
    .bind(key_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes the portal's tokens.
pub async fn delete(conn: &mut PgConnection, portal: PortalId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM portal_tokens WHERE portal_id = $1")
        .bind(portal.get())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Portals whose tokens were sealed with a key other than `current` (to re-seal after rotation).
pub async fn sealed_with_other_keys(
    pool: &PgPool,
    current: &str,
) -> Result<Vec<PortalId>, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT portal_id FROM portal_tokens WHERE key_id <> $1 ORDER BY portal_id",
    )
    .bind(current)
    .fetch_all(pool)
    .await?;
    Ok(ids
        .into_iter()
        .filter_map(|id| PortalId::new(id).ok())
        .collect())
}

/// Replaces the sealed values after a key rotation (same tokens, new key).
pub async fn resealed(
    conn: &mut PgConnection,
    portal: PortalId,
    access_token: &[u8],
    refresh_token: Option<&[u8]>,
    key_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE portal_tokens SET access_token = $2, refresh_token = $3, key_id = $4 WHERE portal_id = $1")
        .bind(portal.get())
        .bind(access_token)
        .bind(refresh_token)
        .bind(key_id)
        .execute(conn)
        .await?;
    Ok(())
}

//! Write-back dead letters (`writeback_dead_letters`): values HubSpot refused for a reason
//! retrying cannot fix, which the worker moved out of the outbox (worker/src/writeback). Here:
//! reading them per portal, and replaying one (back into `score_outbox`) once the cause is fixed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;

use crate::domain::PortalId;

/// Prefix of a write-back dead letter's id in the admin API (event dead letters have their own).
pub const ID_PREFIX: &str = "writeback-";

/// One refused write.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WritebackDeadLetter {
    pub id: i64,
    pub contact_id: i64,
    /// The contact's `score_version` of these values.
    pub version: i64,
    pub properties: Json<BTreeMap<String, String>>,
    /// HubSpot's error category (`VALIDATION_ERROR`...).
    pub category: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl WritebackDeadLetter {
    /// Its id in the admin API.
    pub fn public_id(&self) -> String {
        format!("{ID_PREFIX}{}", self.id)
    }
}

/// The portal's newest `limit` dead letters, newest first.
pub async fn list(
    pool: &PgPool,
    portal: PortalId,
    limit: i64,
) -> Result<Vec<WritebackDeadLetter>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, contact_id, version, properties, category, reason, created_at \
         FROM writeback_dead_letters WHERE portal_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(portal.get())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// What replaying a write-back dead letter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Replayed {
    /// Its values are back in the outbox and will be written.
    Requeued,
    /// The contact has newer values than these (or no longer has a live score): writing these
    /// would overwrite a newer score, so only the dead letter was removed.
    Superseded,
}

/// Replays one dead letter of `portal`: removes it and puts its values back in the outbox, in
/// one transaction. `None` if the portal has no such dead letter.
///
/// Values are requeued only while they are still the contact's current score (its
/// `score_version` equals theirs and it is active); the outbox upsert also never replaces a
/// newer pending row, so a concurrent rescore always wins.
pub async fn replay(
    pool: &PgPool,
    portal: PortalId,
    id: i64,
) -> Result<Option<Replayed>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let letter: Option<(i64, i64, serde_json::Value)> = sqlx::query_as(
        "DELETE FROM writeback_dead_letters WHERE portal_id = $1 AND id = $2 \
         RETURNING contact_id, version, properties",
    )
    .bind(portal.get())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((contact, version, properties)) = letter else {
        return Ok(None);
    };
    let current: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE portal_id = $1 AND contact_id = $2 \
                        AND status = 'active' AND score_version = $3)",
    )
    .bind(portal.get())
    .bind(contact)
    .bind(version)
    .fetch_one(&mut *tx)
    .await?;
    let outcome = if current {
        sqlx::query(
            "INSERT INTO score_outbox (portal_id, contact_id, properties, version) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (portal_id, contact_id) DO UPDATE SET properties = EXCLUDED.properties, \
                 version = EXCLUDED.version, updated_at = now() \
             WHERE score_outbox.version < EXCLUDED.version",
        )
        .bind(portal.get())
        .bind(contact)
        .bind(properties)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        Replayed::Requeued
    } else {
        Replayed::Superseded
    };
    tx.commit().await?;
    Ok(Some(outcome))
}

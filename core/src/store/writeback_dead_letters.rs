//! Write-back dead letters (`writeback_dead_letters`): values HubSpot refused (or the worker
//! could not place) for a reason retrying cannot fix, moved out of the outbox by the write-back
//! (worker/src/writeback). Here: recording one, reading them per portal, and replaying one
//! (back into `score_outbox`, through [`super::outbox`]) once the cause is fixed.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::outbox::{self, OutboxRow, Values};
use crate::domain::{ObjectId, PortalId};

/// Prefix of a write-back dead letter's id in the admin API (event dead letters have their own).
pub const ID_PREFIX: &str = "writeback-";

/// Category of a dead letter the worker records itself: HubSpot resolved a merged contact to a
/// survivor id that is not a contact id, so there is no record to write the score to.
pub const INVALID_SURVIVOR: &str = "EMBER_INVALID_SURVIVOR_ID";

/// One refused write: the one type over `writeback_dead_letters`, for the admin API, the
/// console and tests.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WritebackDeadLetter {
    pub id: i64,
    pub contact_id: i64,
    /// The contact's `score_version` of these values.
    pub version: i64,
    pub properties: Json<Values>,
    /// HubSpot's error category (`VALIDATION_ERROR`...), or Ember's own when the worker
    /// refused the row itself (see [`INVALID_SURVIVOR`]).
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

/// Moves a pending write that cannot succeed to the dead letters, with its reason: inserts the
/// letter and removes the outbox row at that version (a newer score stays queued), in the
/// caller's transaction.
pub async fn record(
    conn: &mut PgConnection,
    portal: PortalId,
    row: &OutboxRow,
    category: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO writeback_dead_letters (portal_id, contact_id, version, properties, category, reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(portal.get())
    .bind(row.contact_id.get())
    .bind(row.version)
    .bind(Json(&row.properties))
    .bind(category)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    outbox::delete_sent(conn, portal, &[(row.contact_id, row.version)]).await
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
    let letter: Option<(i64, i64, Json<Values>)> = sqlx::query_as(
        "DELETE FROM writeback_dead_letters WHERE portal_id = $1 AND id = $2 \
         RETURNING contact_id, version, properties",
    )
    .bind(portal.get())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((contact, version, Json(properties))) = letter else {
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
    let outcome = match ObjectId::new(contact) {
        Ok(contact_id) if current => {
            let row = OutboxRow {
                contact_id,
                properties,
                version,
            };
            outbox::upsert(&mut tx, portal, &[row]).await?;
            Replayed::Requeued
        }
        _ => Replayed::Superseded,
    };
    tx.commit().await?;
    Ok(Some(outcome))
}

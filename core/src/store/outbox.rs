//! The score outbox: HubSpot property values waiting to be written, one row per contact.
//!
//! The worker upserts a row whenever the values it would write change, in the transaction that
//! computed them; newer values replace older ones, and `version` (the contact's `score_version`)
//! only grows, so an older score can never overwrite a newer one. The write-back component
//! drains the table: it sends a row, then deletes it only if its version is still the one sent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use crate::domain::{ObjectId, PortalId};

/// One pending write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub contact_id: ObjectId,
    pub properties: BTreeMap<String, String>,
    pub version: i64,
}

/// Upserts rows in one statement; a row with a lower version than the stored one is ignored.
pub async fn upsert(
    conn: &mut PgConnection,
    portal: PortalId,
    rows: &[OutboxRow],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.contact_id.get()).collect();
    let props: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(&r.properties))
        .collect::<Result<_, _>>()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
    sqlx::query(
        "INSERT INTO score_outbox (portal_id, contact_id, properties, version) \
         SELECT $1, * FROM unnest($2::bigint[], $3::jsonb[], $4::bigint[]) \
         ON CONFLICT (portal_id, contact_id) DO UPDATE SET properties = EXCLUDED.properties, \
             version = EXCLUDED.version, updated_at = now() \
         WHERE score_outbox.version < EXCLUDED.version",
    )
    .bind(portal.get())
    .bind(&ids)
    .bind(&props)
    .bind(&versions)
    .execute(conn)
    .await?;
    Ok(())
}

/// Drops pending writes of these contacts (deleted, merged away or erased).
pub async fn delete(
    conn: &mut PgConnection,
    portal: PortalId,
    ids: &[ObjectId],
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = ids.iter().map(|i| i.get()).collect();
    sqlx::query("DELETE FROM score_outbox WHERE portal_id = $1 AND contact_id = ANY($2)")
        .bind(portal.get())
        .bind(&ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// A contact's pending write, if any.
pub async fn get(
    pool: &PgPool,
    portal: PortalId,
    contact: ObjectId,
) -> Result<Option<(OutboxRow, DateTime<Utc>)>, sqlx::Error> {
    type Row = (Json<BTreeMap<String, String>>, i64, DateTime<Utc>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT properties, version, updated_at FROM score_outbox WHERE portal_id = $1 AND contact_id = $2",
    )
    .bind(portal.get())
    .bind(contact.get())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(Json(properties), version, at)| {
        (
            OutboxRow {
                contact_id: contact,
                properties,
                version,
            },
            at,
        )
    }))
}

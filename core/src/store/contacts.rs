//! Contacts: property snapshot, engagement ledger and last score, one row per (portal, contact).
//!
//! Concurrency: every writer of a contact first takes `pg_advisory_xact_lock(lock_key(portal,
//! contact))` for each contact it touches, all in one statement, in ascending key order. That
//! serializes concurrent events for one contact (also for contacts that have no row yet, which a
//! `SELECT … FOR UPDATE` could not lock), and the single global order means two messages that
//! share several contacts cannot deadlock. The lock is released by commit or rollback; nothing
//! holds it across a network call to HubSpot.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};

use crate::domain::{EventKey, ObjectId, PortalId};

/// Whether a contact is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactStatus {
    /// Scored, swept for decay, written back.
    Active,
    /// Deleted in HubSpot: data kept, score retired until a restore.
    Deleted,
}

impl ContactStatus {
    fn as_str(self) -> &'static str {
        match self {
            ContactStatus::Active => "active",
            ContactStatus::Deleted => "deleted",
        }
    }

    fn parse(s: &str) -> Result<Self, sqlx::Error> {
        match s {
            "active" => Ok(ContactStatus::Active),
            "deleted" => Ok(ContactStatus::Deleted),
            other => Err(sqlx::Error::Decode(
                format!("unknown contact status {other:?}").into(),
            )),
        }
    }
}

/// One property of the snapshot: its value and when it was set (epoch ms of the event's
/// occurredAt, or of the fetch that read it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyValue {
    pub v: String,
    pub t: i64,
}

/// A contact's snapshot as stored: property name → value and time.
pub type StoredProperties = BTreeMap<String, PropertyValue>;

/// A contact's row.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRecord {
    pub contact_id: ObjectId,
    pub status: ContactStatus,
    pub status_at: Option<DateTime<Utc>>,
    pub properties: StoredProperties,
    /// (engagement rule id, occurred_at epoch ms), sorted.
    pub ledger: Vec<(String, i64)>,
    pub score_values: Option<BTreeMap<String, String>>,
    pub score_total: Option<i32>,
    pub score_version: i64,
    pub model_version: Option<i32>,
    pub scored_at: Option<DateTime<Utc>>,
    pub next_change_at: Option<DateTime<Utc>>,
}

impl ContactRecord {
    /// A contact Ember has not seen before.
    pub fn new(contact_id: ObjectId) -> Self {
        Self {
            contact_id,
            status: ContactStatus::Active,
            status_at: None,
            properties: BTreeMap::new(),
            ledger: Vec::new(),
            score_values: None,
            score_total: None,
            score_version: 0,
            model_version: None,
            scored_at: None,
            next_change_at: None,
        }
    }
}

/// What [`load`] found for one requested id.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: ObjectId,
    /// The row, if the contact has one.
    pub record: Option<ContactRecord>,
    /// The id this one was merged into, if it is an alias.
    pub alias_of: Option<ObjectId>,
    /// Whether the contact was privacy-deleted (an erasure marker exists).
    pub erased: bool,
}

/// The advisory-lock key of a contact: a 64-bit mix of portal and contact id. A collision only
/// makes two contacts share a lock.
pub fn lock_key(portal: PortalId, contact: ObjectId) -> i64 {
    let mut x = (portal.get() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (contact.get() as u64);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) as i64
}

/// Takes the transaction-scoped locks of these contacts, in ascending key order, in one
/// statement. Callers that need more locks later in the same transaction may deadlock with
/// another one; Postgres detects that (40P01) and the caller retries.
pub async fn lock(
    conn: &mut PgConnection,
    portal: PortalId,
    contacts: &[ObjectId],
) -> Result<(), sqlx::Error> {
    let keys: Vec<(PortalId, ObjectId)> = contacts.iter().map(|c| (portal, *c)).collect();
    lock_many(conn, &keys).await
}

/// Like [`lock`] for contacts of several portals (the decay sweep).
pub async fn lock_many(
    conn: &mut PgConnection,
    contacts: &[(PortalId, ObjectId)],
) -> Result<(), sqlx::Error> {
    let mut keys: Vec<i64> = contacts.iter().map(|(p, c)| lock_key(*p, *c)).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k")
        .bind(&keys)
        .execute(conn)
        .await?;
    Ok(())
}

/// Loads the rows of these contacts, with their alias (if merged away) and erasure marker.
/// `erasure_keys[i]` is the marker of `ids[i]` ([`crate::store::dedupe::erasure_key`]).
pub async fn load(
    conn: &mut PgConnection,
    portal: PortalId,
    ids: &[ObjectId],
    erasure_keys: &[EventKey],
) -> Result<Vec<Loaded>, sqlx::Error> {
    let id_list: Vec<i64> = ids.iter().map(|i| i.get()).collect();
    let keys: Vec<&[u8]> = erasure_keys
        .iter()
        .map(|k| k.as_bytes().as_slice())
        .collect();
    let rows = sqlx::query(
        "SELECT r.id, a.current_id, \
                EXISTS (SELECT 1 FROM processed_events p WHERE p.portal_id = $1 AND p.event_key = r.ekey) AS erased, \
                c.contact_id, c.status, c.status_at, c.properties, c.ledger, c.score_values, c.score_total, \
                c.score_version, c.model_version, c.scored_at, c.next_change_at \
         FROM unnest($2::bigint[], $3::bytea[]) AS r(id, ekey) \
         LEFT JOIN contacts c ON c.portal_id = $1 AND c.contact_id = r.id \
         LEFT JOIN contact_aliases a ON a.portal_id = $1 AND a.old_id = r.id",
    )
    .bind(portal.get())
    .bind(&id_list)
    .bind(&keys)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let id = object_id(row.try_get("id")?)?;
            let alias_of = row
                .try_get::<Option<i64>, _>("current_id")?
                .map(object_id)
                .transpose()?;
            let erased: bool = row.try_get("erased")?;
            let record = match row.try_get::<Option<i64>, _>("contact_id")? {
                None => None,
                Some(_) => Some(record_from(&row, id)?),
            };
            Ok(Loaded {
                id,
                record,
                alias_of,
                erased,
            })
        })
        .collect()
}

fn object_id(v: i64) -> Result<ObjectId, sqlx::Error> {
    ObjectId::new(v).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn record_from(row: &sqlx::postgres::PgRow, id: ObjectId) -> Result<ContactRecord, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let Json(properties): Json<StoredProperties> = row.try_get("properties")?;
    let Json(ledger): Json<Vec<(String, i64)>> = row.try_get("ledger")?;
    let score_values: Option<Json<BTreeMap<String, String>>> = row.try_get("score_values")?;
    Ok(ContactRecord {
        contact_id: id,
        status: ContactStatus::parse(&status)?,
        status_at: row.try_get("status_at")?,
        properties,
        ledger,
        score_values: score_values.map(|Json(v)| v),
        score_total: row.try_get("score_total")?,
        score_version: row.try_get("score_version")?,
        model_version: row.try_get("model_version")?,
        scored_at: row.try_get("scored_at")?,
        next_change_at: row.try_get("next_change_at")?,
    })
}

/// Inserts or replaces these rows, all in one statement.
pub async fn save(
    conn: &mut PgConnection,
    portal: PortalId,
    records: &[ContactRecord],
) -> Result<(), sqlx::Error> {
    if records.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(records.len());
    let mut statuses = Vec::with_capacity(records.len());
    let mut status_at = Vec::with_capacity(records.len());
    let mut properties = Vec::with_capacity(records.len());
    let mut ledgers = Vec::with_capacity(records.len());
    let mut values = Vec::with_capacity(records.len());
    let mut totals = Vec::with_capacity(records.len());
    let mut versions = Vec::with_capacity(records.len());
    let mut models = Vec::with_capacity(records.len());
    let mut scored_at = Vec::with_capacity(records.len());
    let mut next = Vec::with_capacity(records.len());
    for r in records {
        ids.push(r.contact_id.get());
        statuses.push(r.status.as_str());
        status_at.push(r.status_at);
        properties.push(serde_json::to_value(&r.properties).map_err(encode)?);
        ledgers.push(serde_json::to_value(&r.ledger).map_err(encode)?);
        values.push(
            r.score_values
                .as_ref()
                .map(serde_json::to_value)
                .transpose()
                .map_err(encode)?,
        );
        totals.push(r.score_total);
        versions.push(r.score_version);
        models.push(r.model_version);
        scored_at.push(r.scored_at);
        next.push(r.next_change_at);
    }
    sqlx::query(
        "INSERT INTO contacts (portal_id, contact_id, status, status_at, properties, ledger, score_values, \
                               score_total, score_version, model_version, scored_at, next_change_at) \
         SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::timestamptz[], $5::jsonb[], $6::jsonb[], \
                                  $7::jsonb[], $8::int[], $9::bigint[], $10::int[], $11::timestamptz[], \
                                  $12::timestamptz[]) \
         ON CONFLICT (portal_id, contact_id) DO UPDATE SET \
             status = EXCLUDED.status, status_at = EXCLUDED.status_at, properties = EXCLUDED.properties, \
             ledger = EXCLUDED.ledger, score_values = EXCLUDED.score_values, score_total = EXCLUDED.score_total, \
             score_version = EXCLUDED.score_version, model_version = EXCLUDED.model_version, \
             scored_at = EXCLUDED.scored_at, next_change_at = EXCLUDED.next_change_at, updated_at = now()",
    )
    .bind(portal.get())
    .bind(&ids)
    .bind(&statuses)
    .bind(&status_at)
    .bind(&properties)
    .bind(&ledgers)
    .bind(&values)
    .bind(&totals)
    .bind(&versions)
    .bind(&models)
    .bind(&scored_at)
    .bind(&next)
    .execute(conn)
    .await?;
    Ok(())
}

fn encode(e: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Encode(Box::new(e))
}

/// Deletes these contacts' rows (merged away or erased).
pub async fn delete(
    conn: &mut PgConnection,
    portal: PortalId,
    ids: &[ObjectId],
) -> Result<(), sqlx::Error> {
    const DELETE: &str = "DELETE FROM contacts WHERE portal_id = $1 AND contact_id = ANY($2)";
    super::delete_contacts_rows(conn, DELETE, portal, ids).await
}

/// Contacts whose `next_change_at` is due, earliest first, across portals (the decay sweep;
/// served by the partial index on `next_change_at`).
pub async fn due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(PortalId, ObjectId)>, sqlx::Error> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT portal_id, contact_id FROM contacts \
         WHERE next_change_at IS NOT NULL AND next_change_at <= $1 ORDER BY next_change_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(p, c)| {
            Ok((
                PortalId::new(p).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                object_id(c)?,
            ))
        })
        .collect()
}

/// Up to `limit` contact ids of a portal after `after`, in id order (model rescoring).
pub async fn ids_after(
    pool: &PgPool,
    portal: PortalId,
    after: i64,
    limit: i64,
) -> Result<Vec<ObjectId>, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT contact_id FROM contacts WHERE portal_id = $1 AND contact_id > $2 ORDER BY contact_id LIMIT $3",
    )
    .bind(portal.get())
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    ids.into_iter().map(object_id).collect()
}

/// How many contacts a portal has.
pub async fn count(pool: &PgPool, portal: PortalId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM contacts WHERE portal_id = $1")
        .bind(portal.get())
        .fetch_one(pool)
        .await
}

/// One contact's row, outside any transaction (tests, admin views).
pub async fn get(
    pool: &PgPool,
    portal: PortalId,
    contact: ObjectId,
) -> Result<Option<ContactRecord>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let key = super::dedupe::erasure_key(portal, contact);
    let mut loaded = load(&mut conn, portal, &[contact], &[key]).await?;
    Ok(loaded.pop().and_then(|l| l.record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_differ_by_portal_and_contact() {
        let p = PortalId::new(7).unwrap();
        let a = lock_key(p, ObjectId::new(1).unwrap());
        assert_ne!(a, lock_key(p, ObjectId::new(2).unwrap()));
        assert_ne!(
            a,
            lock_key(PortalId::new(8).unwrap(), ObjectId::new(1).unwrap())
        );
        assert_eq!(a, lock_key(p, ObjectId::new(1).unwrap()));
    }
}

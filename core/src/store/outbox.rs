//! The score outbox (`score_outbox`): HubSpot property values waiting to be written, one row
//! per contact; and what HubSpot last acknowledged per contact (`writeback_written`, migration
//! `migrations/20261128003001_writeback.sql`). This module is the only owner of both tables.
//!
//! The worker upserts a row whenever the values it would write change, in the transaction that
//! computed them; newer values replace older ones, and `version` (the contact's `score_version`)
//! only grows, so an older score can never overwrite a newer one. The write-back
//! (worker/src/writeback) drains the table: it claims rows ([`claim`]), sends them, then
//! [`settle`]s them, deleting a row only if its version is still the one sent.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use crate::domain::{ObjectId, PortalId};

/// HubSpot property values by property name: `""` clears a value.
pub type Values = BTreeMap<String, String>;

/// One pending write: what the worker upserts, and what the write-back claims and sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub contact_id: ObjectId,
    pub properties: Values,
    /// The contact's `score_version` of these values: only grows.
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
    const DELETE: &str = "DELETE FROM score_outbox WHERE portal_id = $1 AND contact_id = ANY($2)";
    super::delete_contacts_rows(conn, DELETE, portal, ids).await
}

/// A contact's pending write, if any.
pub async fn get(
    pool: &PgPool,
    portal: PortalId,
    contact: ObjectId,
) -> Result<Option<(OutboxRow, DateTime<Utc>)>, sqlx::Error> {
    type Row = (Json<Values>, i64, DateTime<Utc>);
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

/// Portals with pending writes. A loose index scan (one index probe per portal), so that the
/// write-back's frequent poll stays cheap however many rows one portal has pending.
pub async fn pending_portals(pool: &PgPool) -> Result<Vec<PortalId>, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "WITH RECURSIVE p AS ( \
                 (SELECT portal_id FROM score_outbox ORDER BY portal_id LIMIT 1) \
                 UNION ALL \
                 SELECT (SELECT o.portal_id FROM score_outbox o WHERE o.portal_id > p.portal_id \
                         ORDER BY o.portal_id LIMIT 1) \
                 FROM p WHERE p.portal_id IS NOT NULL) \
             SELECT portal_id FROM p WHERE portal_id IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    Ok(ids
        .into_iter()
        .filter_map(|i| PortalId::new(i).ok())
        .collect())
}

/// Whether outbox row `o` is ready to send: no context request is waiting for its contact
/// (the context fetcher keeps its requests until the values it fetched are stored), or the row
/// has waited `$3` milliseconds (the write-back's `context_wait`) for it. A score computed
/// without the fit properties is about to change, and sending it would cost a second write.
const READY: &str = "(o.updated_at <= now() - make_interval(secs => $3::bigint / 1000.0) \
     OR NOT EXISTS (SELECT 1 FROM context_requests c \
                    WHERE c.portal_id = o.portal_id AND c.contact_id = o.contact_id))";

/// `context_wait` as the milliseconds [`READY`] takes.
fn wait_ms(context_wait: Duration) -> i64 {
    i64::try_from(context_wait.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the oldest `updated_at` of the rows `o`, by the database's clock.
const AGE_MS: &str = "(EXTRACT(EPOCH FROM now() - min(o.updated_at)) * 1000)::bigint";
/// Milliseconds since the newest of the selected rows was written.
const NEWEST_AGE_MS: &str = "(EXTRACT(EPOCH FROM now() - max(o.updated_at)) * 1000)::bigint";

/// A portal's rows ready to send: how many (up to the limit asked) and how long the oldest of
/// them has been pending (since its values were last computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub rows: i64,
    pub oldest_age: Duration,
    /// Since the newest of them was written: how long the portal's scores have been quiet.
    pub newest_age: Duration,
}

/// Counts the portal's ready rows, up to `limit`, and the age of the oldest (by the database's
/// clock, which stamped the rows). Rows other processes hold count too: they are being sent.
pub async fn ready(
    pool: &PgPool,
    portal: PortalId,
    limit: i64,
    context_wait: Duration,
) -> Result<Ready, sqlx::Error> {
    let (rows, age_ms, newest_ms): (i64, Option<i64>, Option<i64>) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), {AGE_MS}, {NEWEST_AGE_MS} \
         FROM (SELECT o.updated_at FROM score_outbox o WHERE o.portal_id = $1 AND {READY} \
               ORDER BY o.updated_at LIMIT $2) o"
        )))
        .bind(portal.get())
        .bind(limit)
        .bind(wait_ms(context_wait))
        .fetch_one(pool)
        .await?;
    Ok(Ready {
        rows,
        oldest_age: Duration::from_millis(age_ms.unwrap_or(0).max(0) as u64),
        newest_age: Duration::from_millis(newest_ms.unwrap_or(0).max(0) as u64),
    })
}

/// Rows claimed for one batch, and how long the oldest and the newest of them have been pending.
#[derive(Debug, Default)]
pub struct Claimed {
    pub rows: Vec<OutboxRow>,
    pub oldest_age: Duration,
    pub newest_age: Duration,
}

/// Locks up to `limit` of the portal's oldest ready rows (see [`ready`]) that no other process
/// holds (`FOR UPDATE SKIP LOCKED`): until the transaction ends, nobody else sends these
/// contacts and no newer value can replace them, so a newer write can never be overtaken by an
/// older one in flight.
pub async fn claim(
    conn: &mut PgConnection,
    portal: PortalId,
    limit: i64,
    context_wait: Duration,
) -> Result<Claimed, sqlx::Error> {
    let rows: Vec<(i64, Json<Values>, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT o.contact_id, o.properties, o.version, \
                (EXTRACT(EPOCH FROM now() - o.updated_at) * 1000)::bigint FROM score_outbox o \
         WHERE o.portal_id = $1 AND {READY} \
         ORDER BY o.updated_at, o.contact_id LIMIT $2 FOR UPDATE OF o SKIP LOCKED"
    )))
    .bind(portal.get())
    .bind(limit)
    .bind(wait_ms(context_wait))
    .fetch_all(conn)
    .await?;
    let oldest_ms = rows.iter().map(|r| r.3).max().unwrap_or(0).max(0);
    let newest_ms = rows.iter().map(|r| r.3).min().unwrap_or(0).max(0);
    Ok(Claimed {
        rows: rows
            .into_iter()
            .filter_map(|(c, Json(properties), version, _)| {
                Some(OutboxRow {
                    contact_id: ObjectId::new(c).ok()?,
                    properties,
                    version,
                })
            })
            .collect(),
        oldest_age: Duration::from_millis(oldest_ms as u64),
        newest_age: Duration::from_millis(newest_ms as u64),
    })
}

/// Values HubSpot acknowledged last for these contacts (`writeback_written`).
pub async fn written(
    conn: &mut PgConnection,
    portal: PortalId,
    ids: &[ObjectId],
) -> Result<HashMap<ObjectId, Values>, sqlx::Error> {
    let ids: Vec<i64> = ids.iter().map(|i| i.get()).collect();
    let rows: Vec<(i64, Json<Values>)> = sqlx::query_as(
        "SELECT contact_id, properties FROM writeback_written WHERE portal_id = $1 AND contact_id = ANY($2)",
    )
    .bind(portal.get())
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(c, Json(v))| Some((ObjectId::new(c).ok()?, v)))
        .collect())
}

/// Deletes these rows, each only at the version given: a newer score written meanwhile stays
/// queued.
pub async fn delete_sent(
    conn: &mut PgConnection,
    portal: PortalId,
    sent: &[(ObjectId, i64)],
) -> Result<(), sqlx::Error> {
    if sent.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = sent.iter().map(|s| s.0.get()).collect();
    let versions: Vec<i64> = sent.iter().map(|s| s.1).collect();
    sqlx::query(
        "DELETE FROM score_outbox o USING unnest($2::bigint[], $3::bigint[]) AS s(contact_id, version) \
         WHERE o.portal_id = $1 AND o.contact_id = s.contact_id AND o.version = s.version",
    )
    .bind(portal.get())
    .bind(&ids)
    .bind(&versions)
    .execute(conn)
    .await?;
    Ok(())
}

/// Settles a batch: removes written (`done`: contact, version sent, values HubSpot now holds)
/// and retired (contact, version) rows, only at the version that was sent, and records what
/// HubSpot now holds (a retired contact's record is forgotten).
pub async fn settle(
    conn: &mut PgConnection,
    portal: PortalId,
    done: &[(ObjectId, i64, Values)],
    retired: &[(ObjectId, i64)],
) -> Result<(), sqlx::Error> {
    let sent: Vec<(ObjectId, i64)> = done
        .iter()
        .map(|d| (d.0, d.1))
        .chain(retired.iter().copied())
        .collect();
    delete_sent(&mut *conn, portal, &sent).await?;
    if !done.is_empty() {
        let ids: Vec<i64> = done.iter().map(|d| d.0.get()).collect();
        let versions: Vec<i64> = done.iter().map(|d| d.1).collect();
        let values: Vec<serde_json::Value> = done
            .iter()
            .map(|d| serde_json::to_value(&d.2))
            .collect::<Result<_, _>>()
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO writeback_written (portal_id, contact_id, properties, version) \
             SELECT $1, * FROM unnest($2::bigint[], $3::jsonb[], $4::bigint[]) \
             ON CONFLICT (portal_id, contact_id) DO UPDATE SET \
                 properties = writeback_written.properties || EXCLUDED.properties, \
                 version = EXCLUDED.version, written_at = now()",
        )
        .bind(portal.get())
        .bind(&ids)
        .bind(&values)
        .bind(&versions)
        .execute(&mut *conn)
        .await?;
    }
    if !retired.is_empty() {
        let ids: Vec<i64> = retired.iter().map(|r| r.0.get()).collect();
        sqlx::query("DELETE FROM writeback_written WHERE portal_id = $1 AND contact_id = ANY($2)")
            .bind(portal.get())
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Whether Ember has a score of its own for `contact` (pending, written, or computed): then a
/// merged-away contact's older score must not overwrite it. Reads `contacts` too (never
/// writes it).
pub async fn has_own_score(
    conn: &mut PgConnection,
    portal: PortalId,
    contact: ObjectId,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM score_outbox WHERE portal_id = $1 AND contact_id = $2) \
             OR EXISTS (SELECT 1 FROM writeback_written WHERE portal_id = $1 AND contact_id = $2) \
             OR EXISTS (SELECT 1 FROM contacts WHERE portal_id = $1 AND contact_id = $2 AND score_version > 0)",
    )
    .bind(portal.get())
    .bind(contact.get())
    .fetch_one(conn)
    .await
}

//! Dedupe keys of processed events, unique per portal.
//!
//! [`claim`] inserts a message's keys in one statement and returns the ones that were new: a key
//! that is already there (or being inserted by a concurrent transaction, which Postgres makes us
//! wait for) means "already done". The keys commit with the events' effects, so a crash before
//! the commit leaves no trace and the redelivery processes the event.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::domain::{EventKey, ObjectId, PortalId};

/// Inserts the keys (sorted, so concurrent claims lock them in the same order) and returns those
/// that were not there before.
pub async fn claim(
    conn: &mut PgConnection,
    portal: PortalId,
    keys: &[EventKey],
) -> Result<HashSet<EventKey>, sqlx::Error> {
    let mut sorted: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes().as_slice()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let inserted: Vec<Vec<u8>> = sqlx::query_scalar(
        "INSERT INTO processed_events (portal_id, event_key) \
         SELECT $1, k FROM unnest($2::bytea[]) AS k \
         ON CONFLICT (portal_id, event_key) DO NOTHING RETURNING event_key",
    )
    .bind(portal.get())
    .bind(&sorted)
    .fetch_all(conn)
    .await?;
    Ok(inserted
        .into_iter()
        .filter_map(|k| <[u8; 32]>::try_from(k).ok().map(EventKey::from_bytes))
        .collect())
}

/// Whether a key is recorded (tests and diagnostics).
pub async fn exists(pool: &PgPool, portal: PortalId, key: &EventKey) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM processed_events WHERE portal_id = $1 AND event_key = $2)",
    )
    .bind(portal.get())
    .bind(key.as_bytes().as_slice())
    .fetch_one(pool)
    .await
}

/// The erasure marker of a privacy-deleted contact: a hash in its own domain, so the table keeps
/// no contact id, yet a late event for the contact can be recognised and dropped.
pub fn erasure_key(portal: PortalId, contact: ObjectId) -> EventKey {
    let mut h = Sha256::new();
    h.update(b"ember.erased.v1");
    h.update(portal.get().to_be_bytes());
    h.update(contact.get().to_be_bytes());
    EventKey::from_bytes(h.finalize().into())
}

/// Records erasure markers for these contacts.
pub async fn mark_erased(
    conn: &mut PgConnection,
    portal: PortalId,
    contacts: &[ObjectId],
) -> Result<(), sqlx::Error> {
    let keys: Vec<EventKey> = contacts.iter().map(|c| erasure_key(portal, *c)).collect();
    claim(conn, portal, &keys).await.map(|_| ())
}

/// Deletes at most `batch` keys recorded before `older_than`; returns how many went. Call it
/// repeatedly until it returns less than `batch`: small batches keep locks and WAL bursts short.
/// (Maintenance across portals: the only query here not scoped to one portal.)
pub async fn purge(
    pool: &PgPool,
    older_than: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM processed_events WHERE ctid = ANY (ARRAY( \
             SELECT ctid FROM processed_events WHERE processed_at < $1 LIMIT $2))",
    )
    .bind(older_than)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasure_keys_are_per_portal_and_contact() {
        let p = PortalId::new(1).unwrap();
        let q = PortalId::new(2).unwrap();
        let c = ObjectId::new(5).unwrap();
        assert_eq!(erasure_key(p, c), erasure_key(p, c));
        assert_ne!(erasure_key(p, c), erasure_key(q, c));
        assert_ne!(erasure_key(p, c), erasure_key(p, ObjectId::new(6).unwrap()));
    }
}

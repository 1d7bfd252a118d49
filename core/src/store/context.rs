//! Context requests: contacts whose snapshot lacks properties the portal's model reads.
//!
//! The worker records them (one row per contact, whatever the number of events) in the
//! transaction that noticed; the context fetcher claims a portal's oldest requests, reads them
//! from HubSpot in batches of up to 100 through the account's limiter, and applies the values in
//! a new transaction (never holding one across the HubSpot call).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::domain::{ObjectId, PortalId};

/// Records requests (idempotent: a contact already waiting keeps its place).
pub async fn request(
    conn: &mut PgConnection,
    portal: PortalId,
    ids: &[ObjectId],
) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut ids: Vec<i64> = ids.iter().map(|i| i.get()).collect();
    ids.sort_unstable();
    ids.dedup();
    let done = sqlx::query(
        "INSERT INTO context_requests (portal_id, contact_id) SELECT $1, c FROM unnest($2::bigint[]) AS c \
         ON CONFLICT (portal_id, contact_id) DO NOTHING",
    )
    .bind(portal.get())
    .bind(&ids)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Cancels requests of these contacts (merged away, erased).
pub async fn cancel(
    conn: &mut PgConnection,
    portal: PortalId,
    ids: &[ObjectId],
) -> Result<(), sqlx::Error> {
    const DELETE: &str =
        "DELETE FROM context_requests WHERE portal_id = $1 AND contact_id = ANY($2)";
    super::delete_contacts_rows(conn, DELETE, portal, ids).await
}

/// Leases up to `limit` of a portal's oldest requests to one fetcher for `lease`: they stay in
/// the table (so that nothing is lost if the fetcher dies before storing what it fetched, and
/// the write-back still sees the contacts as waiting for context) but other fetchers skip them
/// until the lease ends. Returns the ids and the lease's stamp for [`complete`].
pub async fn lease(
    conn: &mut PgConnection,
    portal: PortalId,
    limit: i64,
    lease: std::time::Duration,
) -> Result<(Vec<ObjectId>, Option<DateTime<Utc>>), sqlx::Error> {
    let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE context_requests SET requested_at = now() + make_interval(secs => $3::bigint / 1000.0) \
         WHERE portal_id = $1 AND contact_id IN ( \
             SELECT contact_id FROM context_requests WHERE portal_id = $1 AND requested_at <= now() \
             ORDER BY requested_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING contact_id, requested_at",
    )
    .bind(portal.get())
    .bind(limit)
    .bind(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
    .fetch_all(conn)
    .await?;
    let stamp = rows.first().map(|(_, at)| *at);
    Ok((
        rows.into_iter()
            .filter_map(|(c, _)| ObjectId::new(c).ok())
            .collect(),
        stamp,
    ))
}

/// Removes leased requests once their values are stored; a request another fetcher leased
/// again meanwhile (a new stamp) stays for it.
pub async fn complete(
    conn: &mut PgConnection,
    portal: PortalId,
    ids: &[ObjectId],
    stamp: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let ids: Vec<i64> = ids.iter().map(|i| i.get()).collect();
    sqlx::query(
        "DELETE FROM context_requests WHERE portal_id = $1 AND contact_id = ANY($2) AND requested_at = $3",
    )
    .bind(portal.get())
    .bind(&ids)
    .bind(stamp)
    .execute(conn)
    .await?;
    Ok(())
}

/// Portals with waiting requests, and how many each has.
pub async fn pending(pool: &PgPool) -> Result<Vec<(PortalId, i64)>, sqlx::Error> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT portal_id, count(*) FROM context_requests GROUP BY portal_id ORDER BY portal_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(p, n)| Some((PortalId::new(p).ok()?, n)))
        .collect())
}

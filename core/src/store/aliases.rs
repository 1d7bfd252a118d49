//! Contact aliases: ids a merge retired, and the record they resolve to now.
//!
//! A merge of A and B into C records A→C and B→C and repoints every alias that pointed to A or B,
//! so the table stays flat and one lookup ([`super::contacts::load`] joins it) gives the current
//! id. HubSpot keeps old ids resolving to the merged record; so does Ember.

use sqlx::PgConnection;

use crate::domain::{ObjectId, PortalId};

/// Records that `sources` now resolve to `survivor` (also repointing older aliases of them).
pub async fn merge(
    conn: &mut PgConnection,
    portal: PortalId,
    sources: &[ObjectId],
    survivor: ObjectId,
) -> Result<(), sqlx::Error> {
    let sources: Vec<i64> = sources
        .iter()
        .map(|s| s.get())
        .filter(|s| *s != survivor.get())
        .collect();
    if sources.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE contact_aliases SET current_id = $3, merged_at = now() \
         WHERE portal_id = $1 AND current_id = ANY($2)",
    )
    .bind(portal.get())
    .bind(&sources)
    .bind(survivor.get())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO contact_aliases (portal_id, old_id, current_id) SELECT $1, s, $3 FROM unnest($2::bigint[]) AS s \
         ON CONFLICT (portal_id, old_id) DO UPDATE SET current_id = EXCLUDED.current_id, merged_at = now()",
    )
    .bind(portal.get())
    .bind(&sources)
    .bind(survivor.get())
    .execute(&mut *conn)
    .await?;
    // The survivor itself is current again, should it have been an alias.
    sqlx::query("DELETE FROM contact_aliases WHERE portal_id = $1 AND old_id = $2")
        .bind(portal.get())
        .bind(survivor.get())
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes every alias from or to this contact and returns the old ids that resolved to it
/// (privacy deletion: they are erased too).
pub async fn erase(
    conn: &mut PgConnection,
    portal: PortalId,
    contact: ObjectId,
) -> Result<Vec<ObjectId>, sqlx::Error> {
    let old: Vec<i64> = sqlx::query_scalar(
        "DELETE FROM contact_aliases WHERE portal_id = $1 AND (current_id = $2 OR old_id = $2) RETURNING old_id",
    )
    .bind(portal.get())
    .bind(contact.get())
    .fetch_all(conn)
    .await?;
    Ok(old
        .into_iter()
        .filter(|o| *o != contact.get())
        .filter_map(|o| ObjectId::new(o).ok())
        .collect())
}

/// The id a contact id resolves to now (itself unless it was merged away).
pub async fn resolve(
    conn: &mut PgConnection,
    portal: PortalId,
    id: ObjectId,
) -> Result<ObjectId, sqlx::Error> {
    let current: Option<i64> = sqlx::query_scalar(
        "SELECT current_id FROM contact_aliases WHERE portal_id = $1 AND old_id = $2",
    )
    .bind(portal.get())
    .bind(id.get())
    .fetch_optional(conn)
    .await?;
    Ok(current.and_then(|c| ObjectId::new(c).ok()).unwrap_or(id))
}

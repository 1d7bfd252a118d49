//! Postgres advisory locks: one process at a time does work that every worker could start.

use sqlx::PgConnection;

/// Takes the transaction-scoped advisory lock `key` if no other session holds it; it is released
/// when the transaction ends. Returns whether this transaction holds it.
pub async fn try_xact_lock(tx: &mut PgConnection, key: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(key)
        .fetch_one(tx)
        .await
}

//! Console sessions (`sessions`) and used OAuth states (`oauth_states_used`).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Starts a session for a person; returns its id.
pub async fn create(
    pool: &PgPool,
    person: i64,
    expires_at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO sessions (session_id, person_id, expires_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(person)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok(id)
}

/// The person of a live session.
pub async fn person(pool: &PgPool, session: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT person_id FROM sessions WHERE session_id = $1 AND expires_at > now()",
    )
    .bind(session)
    .fetch_optional(pool)
    .await
}

/// Ends a session.
pub async fn delete(pool: &PgPool, session: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE session_id = $1")
        .bind(session)
        .execute(pool)
        .await?;
    Ok(())
}

/// Marks an OAuth state as used. `false` if it was used before (a replay).
pub async fn consume_state(
    pool: &PgPool,
    state: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO oauth_states_used (state_id, expires_at) VALUES ($1, $2) ON CONFLICT (state_id) DO NOTHING",
    )
    .bind(state)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes expired sessions and used states.
pub async fn purge_expired(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let a = sqlx::query("DELETE FROM sessions WHERE expires_at < now()")
        .execute(pool)
        .await?
        .rows_affected();
    let b = sqlx::query("DELETE FROM oauth_states_used WHERE expires_at < now()")
        .execute(pool)
        .await?
        .rows_affected();
    Ok(a + b)
}

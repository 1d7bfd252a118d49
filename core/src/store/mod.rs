//! Postgres: the pool, migrations, and one module per table family. Every function that touches
//! tenant data takes the [`crate::domain::PortalId`] first.

pub mod agencies;
pub mod aliases;
pub mod console;
pub mod contacts;
pub mod context;
pub mod dedupe;
pub mod health;
pub mod invites;
pub mod models;
pub mod outbox;
pub mod portals;
pub mod sessions;
pub mod tokens;
pub mod writeback_dead_letters;

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseSettings;

/// The migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

impl DatabaseSettings {
    pub fn connect_options(&self) -> Result<PgConnectOptions, sqlx::Error> {
        PgConnectOptions::from_str(&self.url)
    }

    /// A pool that connects lazily: a process can start (and report not-ready) before Postgres
    /// is up.
    pub fn lazy_pool(&self) -> Result<PgPool, sqlx::Error> {
        Ok(PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(self.acquire_timeout_secs))
            .connect_lazy_with(self.connect_options()?))
    }
}

/// One round trip to Postgres (`SELECT 1`): whether it answers, for startup checks.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

/// Takes the transaction-scoped advisory lock `key` if it is free (`pg_try_advisory_xact_lock`):
/// `false` means another transaction holds it. Released when the transaction ends.
pub async fn try_advisory_xact_lock(
    conn: &mut sqlx::PgConnection,
    key: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await
}

/// Creates the database named in the settings if it does not exist (for `ember migrate`).
pub async fn ensure_database(settings: &DatabaseSettings) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let options = settings.connect_options()?;
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let mut admin = sqlx::PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{quoted}\"")))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await
}

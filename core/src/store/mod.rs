//! Postgres: the pool, migrations, and one module per table family. Every function that touches
//! tenant data takes the [`crate::domain::PortalId`] first.

pub mod agencies;
pub mod aliases;
pub mod console;
pub mod contacts;
pub mod context;
pub mod dedupe;
pub mod demo;
pub mod health;
pub mod hubspot_app;
pub mod invites;
pub mod locks;
pub mod models;
pub mod outbox;
pub mod portals;
pub mod resyncs;
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

/// Runs `delete`, a statement of the calling table's module with the portal as `$1` and the
/// contact ids as `$2` (an array), for these contacts; nothing when there are none. Each table
/// keeps its own statement: this only saves the binding.
pub(crate) async fn delete_contacts_rows(
    conn: &mut sqlx::PgConnection,
    delete: &'static str,
    portal: crate::domain::PortalId,
    ids: &[crate::domain::ObjectId],
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = ids.iter().map(|i| i.get()).collect();
    sqlx::query(delete)
        .bind(portal.get())
        .bind(&ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Checks that Postgres answers a query (readiness, start-up checks).
pub async fn ping<'e, E: sqlx::PgExecutor<'e>>(executor: E) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(executor).await.map(|_| ())
}

/// Drops a database, ending the connections still open to it (the demo's throwaway database).
/// `admin` must be connected to another database.
pub async fn drop_database(admin: &mut sqlx::PgConnection, name: &str) -> Result<(), sqlx::Error> {
    let quoted = name.replace('"', "\"\"");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{quoted}\" WITH (FORCE)"
    )))
    .execute(admin)
    .await
    .map(|_| ())
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

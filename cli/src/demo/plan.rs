//! What one demo run uses: its database and broker/Redis prefix (fresh `ember_demo_*` names
//! unless given), the api's port, throwaway app credentials and token key, and the settings
//! the api and the workers get. Also creating the database and removing what the run made.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use ember_core::config::Settings;
use ember_core::queue::Topology;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Connection as _;

use super::DemoArgs;
use super::preflight::Service;

/// Inherited settings the demo replaces with its own: file variants of the secrets it
/// generates, and earlier token keys that cannot open its tokens anyway.
const REPLACED_ENV: &[&str] = &[
    "EMBER_HUBSPOT__CLIENT_SECRET_FILE",
    "EMBER_ENCRYPTION_KEY_FILE",
    "EMBER_PREVIOUS_ENCRYPTION_KEYS",
];

/// The run's names, credentials and settings.
pub struct Plan {
    config: Option<PathBuf>,
    /// The settings without the simulator's address (known once it listens).
    base_env: Vec<(String, String)>,
    pub database_url: String,
    pub database_name: String,
    /// The database was made for this run (dropped at exit unless `--keep`).
    owns_database: bool,
    pub prefix: String,
    /// The prefix was made for this run (its queues and keys removed unless `--keep`).
    owns_prefix: bool,
    pub amqp_url: String,
    pub redis_url: String,
    pub api_port: u16,
    pub client_id: String,
    pub client_secret: SecretString,
}

/// What the cleanup did, to print, and whether part of it failed.
pub struct Cleanup {
    pub lines: Vec<String>,
    pub error: Option<anyhow::Error>,
}

impl Plan {
    /// Names and secrets for this run, and its settings, validated (nothing is contacted yet).
    pub fn new(config: Option<&Path>, args: &DemoArgs) -> anyhow::Result<Self> {
        let inherited = Settings::load(config)?;
        let run_name = format!(
            "ember_demo_{}_{}",
            chrono::Utc::now().timestamp(),
            &uuid::Uuid::new_v4().simple().to_string()[..4]
        );
        let (database_url, owns_database) = match &args.database_url {
            Some(url) => (url.clone(), false),
            None => (with_database(&inherited.database.url, &run_name)?, true),
        };
        let database_name = url::Url::parse(&database_url)
            .ok()
            .map(|u| u.path().trim_start_matches('/').to_owned())
            .filter(|name| !name.is_empty())
            .context("--database-url must name a database, e.g. postgres://postgres@127.0.0.1:5432/ember_demo")?;
        let (prefix, owns_prefix) = match &args.amqp_prefix {
            Some(prefix) => (prefix.clone(), false),
            None => (run_name.clone(), true),
        };
        let amqp_url = args
            .amqp_url
            .clone()
            .unwrap_or_else(|| inherited.amqp.url.clone());
        let redis_url = args
            .redis_url
            .clone()
            .unwrap_or_else(|| inherited.redis.url.clone());
        let api_port = match args.port {
            0 => free_port()?,
            port => port,
        };
        // Throwaway credentials, as HubSpot formats them: the simulator's app gets the same.
        let client_id = uuid::Uuid::new_v4().to_string();
        let client_secret = SecretString::from(uuid::Uuid::new_v4().to_string());
        let key = SecretString::from(
            base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>()),
        );
        let public_base_url = format!("http://127.0.0.1:{api_port}");
        let overrides = [
            ("EMBER_DATABASE__URL", database_url.clone()),
            ("EMBER_AMQP__URL", amqp_url.clone()),
            ("EMBER_AMQP__PREFIX", prefix.clone()),
            ("EMBER_REDIS__URL", redis_url.clone()),
            ("EMBER_REDIS__PREFIX", prefix.clone()),
            ("EMBER_SERVER__HOST", "127.0.0.1".to_owned()),
            ("EMBER_SERVER__PORT", api_port.to_string()),
            ("EMBER_SERVER__WORKERS", "2".to_owned()),
            // The api's real URL: the simulator calls it and signs for it.
            ("EMBER_PUBLIC_BASE_URL", public_base_url),
            ("EMBER_HUBSPOT__CLIENT_ID", client_id.clone()),
            (
                "EMBER_HUBSPOT__CLIENT_SECRET",
                client_secret.expose_secret().to_owned(),
            ),
            (
                "EMBER_HUBSPOT__APP_ID",
                hubspot_sim::AppConfig::default().app_id.to_string(),
            ),
            ("EMBER_ENCRYPTION_KEY", key.expose_secret().to_owned()),
            // The console is served over plain http on loopback.
            ("EMBER_OAUTH__SECURE_COOKIES", "false".to_owned()),
            // Two workers share each portal's limits through Redis (and split them if it fails).
            ("EMBER_LIMITER__PROCESSES", "2".to_owned()),
        ];
        let base_env = std::env::vars()
            .filter(|(k, _)| !REPLACED_ENV.contains(&k.as_str()))
            .chain(overrides.map(|(k, v)| (k.to_owned(), v)))
            .collect();
        let plan = Self {
            config: config.map(Path::to_path_buf),
            base_env,
            database_url,
            database_name,
            owns_database,
            prefix,
            owns_prefix,
            amqp_url,
            redis_url,
            api_port,
            client_id,
            client_secret,
        };
        // Report bad settings now, before any service is contacted.
        plan.settings("http://127.0.0.1:1")?;
        Ok(plan)
    }

    /// The api's and the workers' settings, with the simulator at `sim_url` as HubSpot.
    pub fn settings(&self, sim_url: &str) -> anyhow::Result<Settings> {
        let env = self.base_env.iter().cloned().chain([
            ("EMBER_HUBSPOT__API_BASE_URL".to_owned(), sim_url.to_owned()),
            (
                "EMBER_HUBSPOT__AUTH_BASE_URL".to_owned(),
                sim_url.to_owned(),
            ),
        ]);
        Ok(Settings::load_from(self.config.as_deref(), env)?)
    }

    /// The api's own URL (also its public base URL).
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// The services to check before anything starts.
    pub fn services(&self) -> [Service; 3] {
        [
            Service::postgres(&self.database_url),
            Service::rabbitmq(&self.amqp_url),
            Service::redis(&self.redis_url),
        ]
    }

    /// Lines that say what this run uses and what it generated.
    pub fn describe(&self) -> String {
        let fate = |owned: bool| {
            if owned {
                "fresh, removed at exit"
            } else {
                "given, kept"
            }
        };
        format!(
            "Database {} ({}); queues and Redis keys under {} ({}). Generated a throwaway client \
             secret and token encryption key for this run (not shown).",
            self.database_name,
            fate(self.owns_database),
            self.prefix,
            fate(self.owns_prefix),
        )
    }

    /// Creates the database if needed and applies the migrations.
    pub async fn prepare_database(&self) -> anyhow::Result<()> {
        let settings = self.settings("http://127.0.0.1:1")?;
        ember_core::store::ensure_database(&settings.database)
            .await
            .with_context(|| format!("cannot create the database {}", self.database_name))?;
        let pool = settings.database.lazy_pool()?;
        let migrated = ember_core::store::MIGRATOR
            .run(&pool)
            .await
            .with_context(|| format!("migrations failed on {}", self.database_name));
        pool.close().await;
        migrated
    }

    /// Removes what this run created (unless `keep`): the database, the exchanges and queues
    /// under its prefix, and its Redis keys. Every step runs even when another failed.
    pub async fn cleanup(&self, keep: bool) -> Cleanup {
        let mut lines = Vec::new();
        let mut errors = Vec::new();
        if keep {
            lines.push(format!(
                "Kept (--keep): database {}, queues and Redis keys under {}.",
                self.database_name, self.prefix
            ));
            return Cleanup { lines, error: None };
        }
        if self.owns_database {
            match self.drop_database().await {
                Ok(()) => lines.push(format!("Dropped database {}.", self.database_name)),
                Err(e) => errors.push(e),
            }
        }
        if self.owns_prefix {
            let settings = self.settings("http://127.0.0.1:1");
            let deleted = match &settings {
                Ok(settings) => {
                    let topology = Topology::from_settings(&settings.amqp);
                    delete_broker_names(&self.amqp_url, &topology).await
                }
                Err(e) => Err(anyhow::anyhow!("{e:#}")),
            };
            match deleted {
                Ok(n) => lines.push(format!(
                    "Deleted the {n} queues and their exchanges under {}.",
                    self.prefix
                )),
                Err(e) => errors.push(e),
            }
            let deleted = match &settings {
                Ok(settings) => delete_redis_keys(settings).await,
                Err(e) => Err(anyhow::anyhow!("{e:#}")),
            };
            match deleted {
                Ok(n) => lines.push(format!("Deleted {n} Redis keys under {}:.", self.prefix)),
                Err(e) => errors.push(e),
            }
        }
        let error = match errors.len() {
            0 => None,
            _ => Some(anyhow::anyhow!(
                "cleanup incomplete: {}",
                errors
                    .iter()
                    .map(|e| format!("{e:#}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        };
        Cleanup { lines, error }
    }

    async fn drop_database(&self) -> anyhow::Result<()> {
        let settings = self.settings("http://127.0.0.1:1")?;
        let admin_options = settings.database.connect_options()?.database("postgres");
        let mut admin = sqlx::PgConnection::connect_with(&admin_options)
            .await
            .context("cannot reach PostgreSQL to drop the demo's database")?;
        // FORCE ends the connections the api and workers may still hold.
        ember_core::store::drop_database(&mut admin, &self.database_name)
            .await
            .with_context(|| format!("cannot drop the database {}", self.database_name))?;
        admin.close().await?;
        Ok(())
    }
}

/// `url` with its database replaced by `name` (user, host, port and options kept).
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut parsed =
        url::Url::parse(url).with_context(|| "database.url (EMBER_DATABASE__URL) is not a URL")?;
    parsed.set_path(&format!("/{name}"));
    Ok(parsed.to_string())
}

/// A loopback port that was free a moment ago: the api's URL must be known before it binds,
/// because the simulator's app (redirect URI, webhook target) is configured with it.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// Every queue Ember declares under a prefix.
pub fn queue_names(topology: &Topology) -> Vec<String> {
    let mut names = vec![topology.events_queue(), topology.dead_letter_queue()];
    names.extend(
        topology
            .retry_tiers()
            .iter()
            .map(|tier| topology.retry_queue(tier)),
    );
    names
}

/// Deletes the queues and exchanges of a prefix; returns how many queues existed.
async fn delete_broker_names(amqp_url: &str, topology: &Topology) -> anyhow::Result<usize> {
    let connection = Connection::connect(amqp_url, ConnectionProperties::default())
        .await
        .context("cannot reach RabbitMQ to delete the demo's queues")?;
    let mut deleted = 0;
    for queue in queue_names(topology) {
        // A missing queue closes the channel (NOT_FOUND): one channel per deletion.
        let channel = connection.create_channel().await?;
        if channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .is_ok()
        {
            deleted += 1;
            let _ = channel.close(200, "deleted".into()).await;
        }
    }
    for exchange in [
        topology.events_exchange(),
        topology.dead_letter_exchange(),
        topology.retry_exchange(),
    ] {
        let channel = connection.create_channel().await?;
        if channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .is_ok()
        {
            let _ = channel.close(200, "deleted".into()).await;
        }
    }
    let _ = connection.close(200, "demo cleanup".into()).await;
    Ok(deleted)
}

/// Deletes every Redis key under `<prefix>:` (the limiter's SCAN + DEL, so a shared Redis is
/// never blocked).
async fn delete_redis_keys(settings: &Settings) -> anyhow::Result<u64> {
    ember_core::limiter::Limiter::from_settings(settings)?
        .delete_all_keys()
        .await
        .context("cannot delete the demo's Redis keys")
}

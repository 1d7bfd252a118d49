//! Build, identify, run: the worker process.
//!
//! [`Worker::build`] checks that Postgres answers and declares the broker topology;
//! [`Worker::id`] is the consumer tag it shows the broker and the logs;
//! [`Worker::run_until_stopped`] runs the queue loop and the periodic jobs until SIGTERM or
//! Ctrl-C, then stops consuming, lets messages in flight finish within the grace period, and
//! closes its connections.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ember_core::config::Settings;
use ember_core::queue::{Topology, declare_topology};
use lapin::{Connection, ConnectionProperties};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::consumers::process::Processor;
use crate::decay;
use crate::model::ModelCache;
use crate::runner::{self, RunnerConfig};

/// How the worker runs (the `ember worker` flags).
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Unacknowledged messages held at once (default: `amqp.prefetch`).
    pub prefetch: Option<u16>,
    /// Attempts (first try included) before a transiently failing message is dead-lettered.
    pub max_attempts: u32,
    /// Deliveries without an outcome (crashes) before a message is dead-lettered.
    pub redelivery_limit: u32,
    /// Times one message's transaction runs again at once after a deadlock.
    pub tx_attempts: u32,
    /// How long a stopping worker waits for messages in flight.
    pub shutdown_grace: Duration,
    /// How long a portal's model is cached.
    pub model_cache_ttl: Duration,
    /// Run the decay sweep, model rescores and dedupe purge in this process.
    pub periodic_jobs: bool,
    pub sweep_interval: Duration,
    pub sweep_batch: i64,
    pub rescore_batch: i64,
    /// Dedupe keys are kept this long (at least 7 days).
    pub dedupe_retention: chrono::Duration,
    pub purge_interval: Duration,
    pub purge_batch: i64,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            prefetch: None,
            max_attempts: 8,
            redelivery_limit: 20,
            tx_attempts: 4,
            shutdown_grace: Duration::from_secs(20),
            model_cache_ttl: Duration::from_secs(5),
            periodic_jobs: true,
            sweep_interval: Duration::from_secs(5),
            sweep_batch: 500,
            rescore_batch: 500,
            dedupe_retention: chrono::Duration::days(8),
            purge_interval: Duration::from_secs(300),
            purge_batch: 5000,
        }
    }
}

/// The smallest dedupe retention accepted: longer than HubSpot's longest retry horizon (3 days
/// for workflow webhooks), with margin.
pub const MIN_DEDUPE_RETENTION_DAYS: i64 = 7;

/// A worker ready to run.
pub struct Worker {
    id: String,
    pool: PgPool,
    models: Arc<ModelCache>,
    runner: RunnerConfig,
    options: WorkerOptions,
}

impl Worker {
    /// Connects to Postgres and RabbitMQ, declares the topology, and prepares the consumer.
    pub async fn build(settings: &Settings, options: WorkerOptions) -> anyhow::Result<Self> {
        if options.dedupe_retention < chrono::Duration::days(MIN_DEDUPE_RETENTION_DAYS) {
            anyhow::bail!(
                "dedupe retention must be at least {MIN_DEDUPE_RETENTION_DAYS} days (HubSpot retries for up to 3)"
            );
        }
        if options.max_attempts == 0 {
            anyhow::bail!("max attempts must be at least 1");
        }
        let pool = settings
            .database
            .lazy_pool()
            .context("invalid database settings")?;
        sqlx::query("SELECT 1")
            .execute(&pool)
            .await
            .context("cannot reach PostgreSQL")?;
        let topology = Topology::new(&settings.amqp.prefix);
        let connection = Connection::connect(&settings.amqp.url, ConnectionProperties::default())
            .await
            .context("cannot reach RabbitMQ")?;
        let channel = connection.create_channel().await?;
        declare_topology(&channel, &topology)
            .await
            .context("cannot declare the queue topology")?;
        let _ = connection.close(200, "topology declared".into()).await;

        let id = format!(
            "ember-worker-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .get(..8)
                .unwrap_or("0")
        );
        let models = Arc::new(ModelCache::new(pool.clone(), options.model_cache_ttl)?);
        let runner = RunnerConfig {
            amqp_url: settings.amqp.url.clone(),
            topology,
            consumer_tag: id.clone(),
            prefetch: options.prefetch.unwrap_or(settings.amqp.prefetch).max(1),
            max_attempts: options.max_attempts,
            redelivery_limit: options.redelivery_limit,
            shutdown_grace: options.shutdown_grace,
        };
        Ok(Self {
            id,
            pool,
            models,
            runner,
            options,
        })
    }

    /// This worker's name (its consumer tag).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The database pool (tests read through it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs until `stop` completes, then shuts down gracefully.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (tx, rx) = watch::channel(false);
        let processor = Arc::new(Processor::new(
            self.pool.clone(),
            self.models.clone(),
            self.options.tx_attempts,
        ));
        tracing::info!(worker = %self.id, "worker starting");
        let mut jobs = Vec::new();
        if self.options.periodic_jobs {
            let o = &self.options;
            jobs.push(tokio::spawn(decay::run_sweeper(
                self.pool.clone(),
                self.models.clone(),
                o.sweep_interval,
                o.sweep_batch,
                rx.clone(),
            )));
            jobs.push(tokio::spawn(decay::run_rescorer(
                self.pool.clone(),
                self.id.clone(),
                o.sweep_interval,
                o.rescore_batch,
                rx.clone(),
            )));
            jobs.push(tokio::spawn(decay::run_purger(
                self.pool.clone(),
                o.dedupe_retention,
                o.purge_interval,
                o.purge_batch,
                rx.clone(),
            )));
        }
        let consumer = tokio::spawn(runner::run(self.runner.clone(), processor, rx));
        stop.await;
        tracing::info!(worker = %self.id, "stopping: no new messages, finishing those in flight");
        let _ = tx.send(true);
        let result = consumer.await.context("the consumer task failed")?;
        for job in jobs {
            let _ = job.await;
        }
        self.pool.close().await;
        tracing::info!(worker = %self.id, "worker stopped");
        result
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

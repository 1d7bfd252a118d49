//! Build, identify, run: the worker process.
//!
//! [`Worker::build`] checks that Postgres answers and declares the broker topology;
//! [`Worker::id`] is the consumer tag it shows the broker and the logs;
//! [`Worker::run_until_stopped`] runs the queue loop and the periodic jobs until SIGTERM or
//! Ctrl-C, then stops consuming, lets messages in flight finish within the grace period, and
//! closes its connections.
//!
//! Write-back: when [`WorkerOptions::writeback`] is on (the default) and the token encryption
//! key is set, `build` also prepares the Redis limiter, the [`LimiterGate`], the HubSpot client
//! gated by it, the token manager and the [`Writeback`] (on its own small Postgres pool, so that
//! rows held across HubSpot calls never starve message processing); `run_until` runs it beside
//! the consumers and stops it on the same signal. Without `EMBER_ENCRYPTION_KEY` the worker
//! still scores events (processing only) and logs a warning: scores wait in `score_outbox`
//! until a worker with the key runs. `--no-writeback` turns it off explicitly.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ember_core::config::{MIN_DEDUPE_RETENTION_DAYS, Settings, WorkerSettings};
use ember_core::queue::{Topology, declare_topology};
use lapin::{Connection, ConnectionProperties};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::consumers::process::Processor;
use crate::context::ContextFetcher;
use crate::decay;
use crate::metrics_endpoint;
use crate::model::ModelCache;
use crate::runner::{self, RunnerConfig};
use crate::writeback::hubspot_crm::HubSpotCrm;
use crate::writeback::{self, LimiterGate, Writeback, WritebackOptions};

/// How the worker runs: `[worker]` of the settings ([`WorkerOptions::from_settings`]), in the
/// types the worker uses. Tests and the demo start from the same values and change fields.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Unacknowledged messages held at once.
    pub prefetch: u16,
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
    /// Drain `score_outbox` into HubSpot in this process (needs `EMBER_ENCRYPTION_KEY`).
    pub writeback: bool,
    pub writeback_options: WritebackOptions,
    /// How often the portals' rate limits (app kind, private tier) are reloaded.
    pub limits_refresh: Duration,
    /// Fetch missing context (`context_requests`) from HubSpot in this process (needs
    /// `EMBER_ENCRYPTION_KEY`).
    pub context_fetch: bool,
    /// The context fetch's coalescing window: how often waiting requests are served.
    pub context_interval: Duration,
    /// Where to serve `/metrics` and `/healthz` (`None`: not served).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl WorkerOptions {
    /// The options `[worker]` describes (validated when the settings were loaded).
    pub fn from_settings(settings: &WorkerSettings) -> Self {
        Self {
            prefetch: settings.prefetch,
            max_attempts: settings.max_attempts,
            redelivery_limit: settings.redelivery_limit,
            tx_attempts: settings.tx_attempts,
            shutdown_grace: Duration::from_secs(settings.shutdown_grace_secs),
            model_cache_ttl: Duration::from_secs(settings.model_cache_secs),
            periodic_jobs: settings.periodic_jobs,
            sweep_interval: Duration::from_millis(settings.sweep_interval_ms),
            sweep_batch: settings.sweep_batch,
            rescore_batch: settings.rescore_batch,
            dedupe_retention: chrono::Duration::days(settings.dedupe_retention_days),
            purge_interval: Duration::from_secs(settings.purge_interval_secs),
            purge_batch: settings.purge_batch,
            writeback: settings.writeback,
            writeback_options: WritebackOptions::from_settings(settings),
            limits_refresh: Duration::from_secs(settings.limits_refresh_secs),
            context_fetch: settings.context_fetch,
            context_interval: Duration::from_millis(settings.context_interval_ms),
            metrics_addr: settings.metrics_addr(),
        }
    }
}

/// A worker ready to run.
pub struct Worker {
    id: String,
    pool: PgPool,
    models: Arc<ModelCache>,
    runner: RunnerConfig,
    options: WorkerOptions,
    writeback: Option<WritebackParts>,
}

/// The HubSpot side of this process: the gated client with its tokens, and the write-back.
struct WritebackParts {
    writeback: Arc<Writeback<HubSpotCrm>>,
    crm: Arc<HubSpotCrm>,
    gate: Arc<LimiterGate>,
    pool: PgPool,
}

/// Why the write-back is disabled when the token key is missing (logged at startup).
pub const NO_KEY_WARNING: &str = "Write-back and context fetch disabled: EMBER_ENCRYPTION_KEY (or EMBER_ENCRYPTION_KEY_FILE) is not set, so \
     portal tokens cannot be opened. Events are still scored; scores wait in score_outbox until a \
     worker with the key runs; missing context waits in context_requests.";

/// Prepares the write-back from the settings, or `None` (with a warning) without the token key.
async fn build_writeback(
    settings: &Settings,
    options: &WritebackOptions,
) -> anyhow::Result<Option<WritebackParts>> {
    if let Err(e) = settings.require_encryption_key() {
        tracing::warn!(reason = %e, "{NO_KEY_WARNING}");
        return Ok(None);
    }
    let mut db = settings.database.clone();
    db.max_connections = u32::try_from(options.concurrency)
        .unwrap_or(8)
        .saturating_add(2);
    let pool = db
        .lazy_pool()
        .context("invalid database settings (write-back pool)")?;
    let (crm, gate) = HubSpotCrm::from_settings(settings, pool.clone())?;
    let writeback =
        Arc::new(Writeback::new(pool.clone(), crm.clone(), gate.clone(), options.clone()).await?);
    Ok(Some(WritebackParts {
        writeback,
        crm,
        gate,
        pool,
    }))
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
        ember_core::store::ping(&pool)
            .await
            .context("cannot reach PostgreSQL")?;
        let topology = Topology::from_settings(&settings.amqp);
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
        // Installed before anything records, or early counts would go to the no-op recorder.
        ember_core::telemetry::metrics_handle();
        let models = Arc::new(ModelCache::new(pool.clone(), options.model_cache_ttl)?);
        let runner = RunnerConfig {
            amqp_url: settings.amqp.url.clone(),
            topology,
            consumer_tag: id.clone(),
            prefetch: options.prefetch.max(1),
            max_attempts: options.max_attempts,
            redelivery_limit: options.redelivery_limit,
            shutdown_grace: options.shutdown_grace,
        };
        let writeback = if options.writeback || options.context_fetch {
            build_writeback(
                settings,
                &WritebackOptions {
                    // Only a process that fetches context lets scores wait for it (a score
                    // without the fit properties would be written twice); without the fetch
                    // nothing would ever end the wait.
                    context_wait: if options.context_fetch {
                        options.writeback_options.context_wait
                    } else {
                        Duration::ZERO
                    },
                    ..options.writeback_options.clone()
                },
            )
            .await?
        } else {
            tracing::info!("Write-back and context fetch turned off for this worker.");
            None
        };
        Ok(Self {
            id,
            pool,
            models,
            runner,
            options,
            writeback,
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

    /// Whether this worker runs the write-back.
    pub fn writes_back(&self) -> bool {
        self.writeback.is_some() && self.options.writeback
    }

    /// Whether this worker fetches missing context from HubSpot.
    pub fn fetches_context(&self) -> bool {
        self.writeback.is_some() && self.options.context_fetch
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
        if let Some(addr) = self.options.metrics_addr {
            let (_, task) = metrics_endpoint::serve(
                addr,
                self.pool.clone(),
                self.options.limits_refresh.min(Duration::from_secs(15)),
                rx.clone(),
            )
            .await?;
            jobs.push(task);
        }
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
        if let Some(wb) = &self.writeback {
            if let Err(e) = writeback::limits::load(&wb.pool, &wb.gate).await {
                tracing::warn!(error = %e, "Could not load the portals' rate limits; using the public app's until the next reload.");
            }
            jobs.push(tokio::spawn(writeback::limits::run_refresher(
                wb.pool.clone(),
                wb.gate.clone(),
                self.options.limits_refresh,
                rx.clone(),
            )));
            if self.options.writeback {
                let mut stop_rx = rx.clone();
                jobs.push(tokio::spawn(wb.writeback.clone().run_until_stopped(
                    async move {
                        let _ = stop_rx.wait_for(|stop| *stop).await;
                    },
                )));
                tracing::info!(worker = %self.id, "write-back running");
            }
            if self.options.context_fetch {
                let fetcher = Arc::new(ContextFetcher::new(
                    wb.pool.clone(),
                    self.models.clone(),
                    processor.clone(),
                    wb.crm.clone(),
                ));
                jobs.push(tokio::spawn(
                    fetcher.run(self.options.context_interval, rx.clone()),
                ));
                tracing::info!(worker = %self.id, "context fetch running");
            }
        }
        let consumer = tokio::spawn(runner::run(self.runner.clone(), processor, rx));
        stop.await;
        tracing::info!(worker = %self.id, "stopping: no new messages, finishing those in flight");
        let _ = tx.send(true);
        let result = consumer.await.context("the consumer task failed")?;
        for job in jobs {
            let _ = job.await;
        }
        if let Some(wb) = &self.writeback {
            // HubSpot's last answers still correct the shared limiter before the process goes.
            wb.gate.settled().await;
        }
        self.pool.close().await;
        if let Some(wb) = &self.writeback {
            wb.pool.close().await;
        }
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

//! The `ember worker` and `ember dlq` subcommands (arguments and dispatch only).

use std::time::Duration;

use clap::{Args, Subcommand};
use ember_core::config::Settings;
use ember_core::queue::Topology;

use crate::dlq;
use crate::startup::{MIN_DEDUPE_RETENTION_DAYS, Worker, WorkerOptions};

/// `ember worker`: consume events, score, sweep decay.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Unacknowledged messages held (and processed concurrently) at once [default: amqp.prefetch].
    #[arg(long, env = "EMBER_WORKER__PREFETCH")]
    pub prefetch: Option<u16>,
    /// Attempts before a transiently failing message is dead-lettered (retries wait 1 s, 10 s,
    /// 1 min, then 10 min).
    #[arg(long, env = "EMBER_WORKER__MAX_ATTEMPTS", default_value_t = 8)]
    pub max_attempts: u32,
    /// Deliveries without an outcome (the worker died each time) before a message is dead-lettered.
    #[arg(long, env = "EMBER_WORKER__REDELIVERY_LIMIT", default_value_t = 20)]
    pub redelivery_limit: u32,
    /// Seconds a stopping worker waits for messages in flight.
    #[arg(long, env = "EMBER_WORKER__SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
    /// Milliseconds between decay sweeps.
    #[arg(long, env = "EMBER_WORKER__SWEEP_INTERVAL_MS", default_value_t = 5000)]
    pub sweep_interval_ms: u64,
    /// Days dedupe keys are kept (at least 7).
    #[arg(long, env = "EMBER_WORKER__DEDUPE_RETENTION_DAYS", default_value_t = 8)]
    pub dedupe_retention_days: i64,
    /// Seconds a portal's model is cached.
    #[arg(long, env = "EMBER_WORKER__MODEL_CACHE_SECS", default_value_t = 5)]
    pub model_cache_secs: u64,
    /// Only consume events: no decay sweep, model rescore or dedupe purge in this process.
    #[arg(long)]
    pub no_periodic_jobs: bool,
    /// Do not write scores back to HubSpot from this process (the write-back also stays off,
    /// with a warning, when EMBER_ENCRYPTION_KEY is not set).
    #[arg(long)]
    pub no_writeback: bool,
    /// Do not fetch missing context (`context_requests`) from HubSpot in this process.
    #[arg(long)]
    pub no_context_fetch: bool,
    /// Longest wait, in milliseconds since its oldest pending score, of a portal with less
    /// than a full batch (100 contacts) to write before it sends a partial batch: rows arriving
    /// meanwhile share the call.
    #[arg(
        long,
        env = "EMBER_WORKER__WRITEBACK_LINGER_MS",
        default_value_t = crate::writeback::WORKER_LINGER_MS
    )]
    pub writeback_linger_ms: u64,
    /// Within the linger, a partial batch goes as soon as no new score has arrived for this
    /// many milliseconds (0: wait out the linger).
    #[arg(long, env = "EMBER_WORKER__WRITEBACK_QUIET_MS", default_value_t = crate::writeback::WORKER_QUIET_MS)]
    pub writeback_quiet_ms: u64,
    /// Serve `/metrics` (Prometheus) and `/healthz` on this port of `--metrics-host`.
    #[arg(long, env = "EMBER_WORKER__METRICS_PORT")]
    pub metrics_port: Option<u16>,
    /// Address the metrics listener binds to.
    #[arg(long, env = "EMBER_WORKER__METRICS_HOST", default_value = "127.0.0.1")]
    pub metrics_host: std::net::IpAddr,
}

impl WorkerArgs {
    /// The options these flags describe.
    pub fn options(&self) -> WorkerOptions {
        WorkerOptions {
            prefetch: self.prefetch,
            max_attempts: self.max_attempts,
            redelivery_limit: self.redelivery_limit,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            sweep_interval: Duration::from_millis(self.sweep_interval_ms.max(10)),
            dedupe_retention: chrono::Duration::days(
                self.dedupe_retention_days.max(MIN_DEDUPE_RETENTION_DAYS),
            ),
            model_cache_ttl: Duration::from_secs(self.model_cache_secs),
            periodic_jobs: !self.no_periodic_jobs,
            writeback: !self.no_writeback,
            context_fetch: !self.no_context_fetch,
            writeback_options: crate::writeback::WritebackOptions {
                linger: Duration::from_millis(self.writeback_linger_ms),
                quiet: Duration::from_millis(self.writeback_quiet_ms),
                ..crate::writeback::WritebackOptions::default()
            },
            metrics_addr: self
                .metrics_port
                .map(|port| std::net::SocketAddr::new(self.metrics_host, port)),
            ..WorkerOptions::default()
        }
    }
}

/// Runs a worker until SIGTERM.
pub async fn run_worker(settings: &Settings, args: WorkerArgs) -> anyhow::Result<()> {
    if args.dedupe_retention_days < MIN_DEDUPE_RETENTION_DAYS {
        anyhow::bail!("--dedupe-retention-days must be at least {MIN_DEDUPE_RETENTION_DAYS}");
    }
    let worker = Worker::build(settings, args.options()).await?;
    worker.run_until_stopped().await
}

/// `ember dlq`: inspect and replay dead letters.
#[derive(Debug, Clone, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum DlqCommand {
    /// Show dead letters (they stay in the queue).
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters back to the events queue for another try.
    Replay {
        /// At most this many (default: all).
        #[arg(long)]
        limit: Option<usize>,
    },
}

/// Runs `ember dlq …`.
pub async fn run_dlq(settings: &Settings, args: DlqArgs) -> anyhow::Result<()> {
    let topology = Topology::from_settings(&settings.amqp);
    match args.command {
        DlqCommand::List { limit, json } => {
            let letters = dlq::list(&settings.amqp.url, &topology, limit).await?;
            if json {
                for l in &letters {
                    println!("{}", serde_json::to_string(l)?);
                }
            } else {
                println!(
                    "{} dead letter(s) in {}",
                    letters.len(),
                    topology.dead_letter_queue()
                );
                for (i, l) in letters.iter().enumerate() {
                    println!(
                        "#{i} portal={} request={} events={} attempts={} failed_at={} routing_key={}\n    error: {}",
                        l.portal_id.map_or("?".into(), |p| p.to_string()),
                        l.request_id.as_deref().unwrap_or("?"),
                        l.events.map_or("?".into(), |n| n.to_string()),
                        l.attempts.map_or("?".into(), |n| n.to_string()),
                        l.failed_at.as_deref().unwrap_or("?"),
                        l.routing_key,
                        l.error.as_deref().unwrap_or("(none recorded)"),
                    );
                }
            }
            Ok(())
        }
        DlqCommand::Replay { limit } => {
            let n = dlq::replay(&settings.amqp.url, &topology, limit).await?;
            println!(
                "replayed {n} dead letter(s) to {}",
                topology.events_exchange()
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::WorkerArgs;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        worker: WorkerArgs,
    }

    fn waits(args: &[&str]) -> (Duration, Duration) {
        let cli = Cli::try_parse_from(std::iter::once("worker").chain(args.iter().copied()))
            .expect("valid arguments");
        let o = cli.worker.options().writeback_options;
        (o.linger, o.quiet)
    }

    fn linger(args: &[&str]) -> Duration {
        waits(args).0
    }

    #[test]
    fn the_write_back_lingers_up_to_ten_seconds_or_a_quiet_second_unless_told_otherwise() {
        assert_eq!(
            waits(&[]),
            (Duration::from_secs(10), Duration::from_secs(1))
        );
        assert_eq!(
            waits(&["--writeback-quiet-ms", "0"]).1,
            Duration::ZERO,
            "the quiet period can be turned off"
        );
        assert_eq!(
            linger(&["--writeback-linger-ms", "250"]),
            Duration::from_millis(250)
        );
        assert_eq!(linger(&["--writeback-linger-ms", "0"]), Duration::ZERO);
        assert!(Cli::try_parse_from(["worker", "--writeback-linger-ms", "soon"]).is_err());
    }
}

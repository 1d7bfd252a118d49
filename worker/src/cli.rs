//! The `ember worker` and `ember dlq` subcommands (arguments and dispatch only).

use clap::{Args, Subcommand};
use ember_core::config::{Settings, WorkerSettings};
use ember_core::queue::Topology;

use crate::dlq;
use crate::startup::{Worker, WorkerOptions};

/// `ember worker`: consume events, score, sweep decay. Every flag overrides the `[worker]` key
/// of the same name; their defaults, and the keys without a flag, are in `config/default.toml`
/// (also as `EMBER_WORKER__<KEY>`).
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Unacknowledged messages held (and processed concurrently) at once [worker.prefetch].
    #[arg(long)]
    pub prefetch: Option<u16>,
    /// Attempts before a transiently failing message is dead-lettered; retries wait along
    /// amqp.retry_delays_ms [worker.max_attempts].
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Deliveries without an outcome (the worker died each time) before a message is
    /// dead-lettered [worker.redelivery_limit].
    #[arg(long)]
    pub redelivery_limit: Option<u32>,
    /// Seconds a stopping worker waits for messages in flight [worker.shutdown_grace_secs].
    #[arg(long)]
    pub shutdown_grace_secs: Option<u64>,
    /// Milliseconds between decay sweeps [worker.sweep_interval_ms].
    #[arg(long)]
    pub sweep_interval_ms: Option<u64>,
    /// Days dedupe keys are kept, at least 7 [worker.dedupe_retention_days].
    #[arg(long)]
    pub dedupe_retention_days: Option<i64>,
    /// Seconds a portal's model is cached [worker.model_cache_secs].
    #[arg(long)]
    pub model_cache_secs: Option<u64>,
    /// Only consume events: no decay sweep, model rescore or dedupe purge in this process
    /// [worker.periodic_jobs = false].
    #[arg(long)]
    pub no_periodic_jobs: bool,
    /// Do not write scores back to HubSpot from this process (the write-back also stays off,
    /// with a warning, when EMBER_ENCRYPTION_KEY is not set) [worker.writeback = false].
    #[arg(long)]
    pub no_writeback: bool,
    /// Do not fetch missing context (`context_requests`) from HubSpot in this process
    /// [worker.context_fetch = false].
    #[arg(long)]
    pub no_context_fetch: bool,
    /// Longest wait, in milliseconds since its oldest pending score, of a portal with less
    /// than a full batch (100 contacts) to write before it sends a partial batch: rows arriving
    /// meanwhile share the call [worker.writeback_linger_ms].
    #[arg(long)]
    pub writeback_linger_ms: Option<u64>,
    /// Within the linger, a partial batch goes as soon as no new score has arrived for this
    /// many milliseconds (0: wait out the linger) [worker.writeback_quiet_ms].
    #[arg(long)]
    pub writeback_quiet_ms: Option<u64>,
    /// Serve `/metrics` (Prometheus) and `/healthz` on this port of `--metrics-host`
    /// [worker.metrics_port; unset: not served].
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// Address the metrics listener binds to [worker.metrics_host].
    #[arg(long)]
    pub metrics_host: Option<String>,
}

impl WorkerArgs {
    /// `settings` with these flags applied over it.
    pub fn apply(&self, settings: &WorkerSettings) -> WorkerSettings {
        let mut s = settings.clone();
        fn set<T: Clone>(key: &mut T, flag: &Option<T>) {
            if let Some(value) = flag {
                *key = value.clone();
            }
        }
        set(&mut s.prefetch, &self.prefetch);
        set(&mut s.max_attempts, &self.max_attempts);
        set(&mut s.redelivery_limit, &self.redelivery_limit);
        set(&mut s.shutdown_grace_secs, &self.shutdown_grace_secs);
        set(&mut s.sweep_interval_ms, &self.sweep_interval_ms);
        set(&mut s.dedupe_retention_days, &self.dedupe_retention_days);
        set(&mut s.model_cache_secs, &self.model_cache_secs);
        set(&mut s.writeback_linger_ms, &self.writeback_linger_ms);
        set(&mut s.writeback_quiet_ms, &self.writeback_quiet_ms);
        set(&mut s.metrics_host, &self.metrics_host);
        if self.metrics_port.is_some() {
            s.metrics_port = self.metrics_port;
        }
        s.periodic_jobs &= !self.no_periodic_jobs;
        s.writeback &= !self.no_writeback;
        s.context_fetch &= !self.no_context_fetch;
        s
    }

    /// The options the settings and these flags describe, or every problem with them.
    pub fn options(&self, settings: &WorkerSettings) -> anyhow::Result<WorkerOptions> {
        let worker = self.apply(settings);
        let problems = worker.problems();
        if !problems.is_empty() {
            anyhow::bail!("invalid worker settings:\n  - {}", problems.join("\n  - "));
        }
        Ok(WorkerOptions::from_settings(&worker))
    }
}

/// Runs a worker until SIGTERM.
pub async fn run_worker(settings: &Settings, args: WorkerArgs) -> anyhow::Result<()> {
    let options = args.options(&settings.worker)?;
    let worker = Worker::build(settings, options).await?;
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
    use ember_core::config::Settings;

    use super::WorkerArgs;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        worker: WorkerArgs,
    }

    fn parse(args: &[&str]) -> Result<WorkerArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("worker").chain(args.iter().copied())).map(|c| c.worker)
    }

    fn defaults() -> Settings {
        Settings::load_from(None, Vec::<(String, String)>::new()).unwrap()
    }

    fn waits(args: &[&str]) -> (Duration, Duration) {
        let o = parse(args)
            .expect("valid arguments")
            .options(&defaults().worker)
            .unwrap()
            .writeback_options;
        (o.linger, o.quiet)
    }

    #[test]
    fn without_flags_the_worker_runs_on_the_settings_file_values() {
        assert_eq!(
            waits(&[]),
            (Duration::from_secs(10), Duration::from_secs(1)),
            "config/default.toml: writeback_linger_ms 10000, writeback_quiet_ms 1000"
        );
        let settings = Settings::load_from(
            None,
            [(
                "EMBER_WORKER__WRITEBACK_LINGER_MS".to_owned(),
                "700".to_owned(),
            )],
        )
        .unwrap();
        let o = parse(&[]).unwrap().options(&settings.worker).unwrap();
        assert_eq!(o.writeback_options.linger, Duration::from_millis(700));
        assert_eq!(o.max_attempts, 8);
        assert_eq!(o.prefetch, 32);
        assert!(o.periodic_jobs && o.writeback && o.context_fetch);
        assert_eq!(o.metrics_addr, None);
    }

    #[test]
    fn flags_override_the_settings() {
        assert_eq!(waits(&["--writeback-quiet-ms", "0"]).1, Duration::ZERO);
        assert_eq!(
            waits(&["--writeback-linger-ms", "250"]).0,
            Duration::from_millis(250)
        );
        let o = parse(&[
            "--max-attempts",
            "3",
            "--no-periodic-jobs",
            "--metrics-port",
            "9464",
            "--metrics-host",
            "0.0.0.0",
        ])
        .unwrap()
        .options(&defaults().worker)
        .unwrap();
        assert_eq!(o.max_attempts, 3);
        assert!(!o.periodic_jobs);
        assert_eq!(o.metrics_addr, Some("0.0.0.0:9464".parse().unwrap()));
    }

    #[test]
    fn bad_flags_are_refused_naming_the_flag() {
        assert!(parse(&["--writeback-linger-ms", "soon"]).is_err());
        let e = parse(&["--dedupe-retention-days", "2", "--max-attempts", "0"])
            .unwrap()
            .options(&defaults().worker)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--dedupe-retention-days"), "{e}");
        assert!(e.contains("at least 7, got 2"), "{e}");
        assert!(e.contains("--max-attempts"), "{e}");
        let e = parse(&["--metrics-host", "example.com"])
            .unwrap()
            .options(&defaults().worker)
            .unwrap_err()
            .to_string();
        assert!(e.contains("worker.metrics_host"), "{e}");
    }
}

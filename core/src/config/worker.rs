//! `[worker]`: how `ember worker` runs. `config/default.toml` holds every default; the flags of
//! `ember worker` override keys of the same name (`--max-attempts` sets `max_attempts`), after
//! the file and the `EMBER_WORKER__*` environment. The demo and the tests start from the same
//! values, so they run as a deployed worker does unless they say otherwise.

use std::net::IpAddr;

use serde::Deserialize;

/// The smallest dedupe retention accepted: longer than HubSpot's longest retry horizon (3 days
/// for workflow webhooks, docs/hubspot.md), with margin.
pub const MIN_DEDUPE_RETENTION_DAYS: i64 = 7;

/// HubSpot's largest `batch/update` (docs/hubspot.md).
pub const MAX_WRITEBACK_BATCH: usize = 100;

/// The keys `ember worker` also takes as a flag (`--` and the key with dashes).
pub const KEYS_WITH_FLAGS: &[&str] = &[
    "prefetch",
    "max_attempts",
    "redelivery_limit",
    "shutdown_grace_secs",
    "sweep_interval_ms",
    "dedupe_retention_days",
    "model_cache_secs",
    "writeback_linger_ms",
    "writeback_quiet_ms",
    "metrics_port",
    "metrics_host",
];

/// How an operator sets `worker.<key>`: its flag, if it has one, and its variable.
fn how_to_set(key: &str) -> String {
    let env = format!("EMBER_WORKER__{}", key.to_uppercase());
    if KEYS_WITH_FLAGS.contains(&key) {
        format!("--{} or {env}", key.replace('_', "-"))
    } else {
        env
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Unacknowledged messages held, and processed concurrently, at once.
    pub prefetch: u16,
    /// Attempts (the first included) before a transiently failing message is dead-lettered.
    pub max_attempts: u32,
    /// Deliveries without an outcome (crashes) before a message is dead-lettered.
    pub redelivery_limit: u32,
    /// Times one message's transaction runs again at once after a deadlock.
    pub tx_attempts: u32,
    pub shutdown_grace_secs: u64,
    pub model_cache_secs: u64,
    /// Decay sweep, model rescores and dedupe purge in this process.
    pub periodic_jobs: bool,
    pub sweep_interval_ms: u64,
    pub sweep_batch: i64,
    pub rescore_batch: i64,
    pub dedupe_retention_days: i64,
    pub purge_interval_secs: u64,
    pub purge_batch: i64,
    /// How often the portals' rate limits (app kind, private tier) are reloaded.
    pub limits_refresh_secs: u64,
    /// Fetch missing context (`context_requests`) from HubSpot in this process.
    pub context_fetch: bool,
    pub context_interval_ms: u64,
    /// Where `/metrics` and `/healthz` are served; no port, no listener.
    pub metrics_host: String,
    #[serde(default)]
    pub metrics_port: Option<u16>,
    /// Drain `score_outbox` into HubSpot in this process.
    pub writeback: bool,
    pub writeback_max_batch: usize,
    pub writeback_concurrency: usize,
    pub writeback_poll_ms: u64,
    pub writeback_backoff_base_ms: u64,
    pub writeback_backoff_cap_ms: u64,
    pub writeback_linger_ms: u64,
    pub writeback_quiet_ms: u64,
    pub writeback_context_wait_ms: u64,
}

impl WorkerSettings {
    /// Every problem with these values, each naming its key and how to set it. Run at load and
    /// again after `ember worker`'s flags are applied.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut at_least = |key: &str, value: i128, min: i128| {
            if value < min {
                problems.push(format!(
                    "worker.{key} ({how}) must be at least {min}, got {value}",
                    how = how_to_set(key)
                ));
            }
        };
        at_least("prefetch", self.prefetch.into(), 1);
        at_least("max_attempts", self.max_attempts.into(), 1);
        at_least("redelivery_limit", self.redelivery_limit.into(), 1);
        at_least("tx_attempts", self.tx_attempts.into(), 1);
        // Below 10 ms a sweep would spin on an idle database.
        at_least("sweep_interval_ms", self.sweep_interval_ms.into(), 10);
        at_least("sweep_batch", self.sweep_batch.into(), 1);
        at_least("rescore_batch", self.rescore_batch.into(), 1);
        at_least(
            "dedupe_retention_days",
            self.dedupe_retention_days.into(),
            MIN_DEDUPE_RETENTION_DAYS.into(),
        );
        at_least("purge_interval_secs", self.purge_interval_secs.into(), 1);
        at_least("purge_batch", self.purge_batch.into(), 1);
        at_least("limits_refresh_secs", self.limits_refresh_secs.into(), 1);
        at_least("context_interval_ms", self.context_interval_ms.into(), 10);
        at_least("writeback_max_batch", self.writeback_max_batch as i128, 1);
        at_least(
            "writeback_concurrency",
            self.writeback_concurrency as i128,
            1,
        );
        at_least("writeback_poll_ms", self.writeback_poll_ms.into(), 10);
        at_least(
            "writeback_backoff_base_ms",
            self.writeback_backoff_base_ms.into(),
            1,
        );
        if self.writeback_max_batch > MAX_WRITEBACK_BATCH {
            problems.push(format!(
                "worker.writeback_max_batch ({}) must be at most {MAX_WRITEBACK_BATCH}, HubSpot's \
                 largest batch, got {}",
                how_to_set("writeback_max_batch"),
                self.writeback_max_batch
            ));
        }
        if self.writeback_backoff_cap_ms < self.writeback_backoff_base_ms {
            problems.push(format!(
                "worker.writeback_backoff_cap_ms ({}) must not be below worker.writeback_backoff_base_ms ({})",
                self.writeback_backoff_cap_ms, self.writeback_backoff_base_ms
            ));
        }
        if self.metrics_host.parse::<IpAddr>().is_err() {
            problems.push(format!(
                "worker.metrics_host ({}) must be an IP address, got {:?}",
                how_to_set("metrics_host"),
                self.metrics_host
            ));
        }
        problems
    }

    /// The metrics listener's address, if a port is set.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        let host: IpAddr = self.metrics_host.parse().ok()?;
        self.metrics_port
            .map(|port| std::net::SocketAddr::new(host, port))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    fn load(env: &[(&str, &str)]) -> Result<Settings, crate::config::SettingsError> {
        Settings::load_from(
            None,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn the_defaults_are_the_documented_ones_and_valid() {
        let w = load(&[]).unwrap().worker;
        assert_eq!(w.prefetch, 32);
        assert_eq!(w.max_attempts, 8);
        assert_eq!(w.writeback_linger_ms, 10_000);
        assert_eq!(w.writeback_quiet_ms, 1_000);
        assert_eq!(w.metrics_port, None);
        assert!(w.problems().is_empty(), "{:?}", w.problems());
    }

    #[test]
    fn the_environment_overrides_worker_keys() {
        let w = load(&[
            ("EMBER_WORKER__WRITEBACK_LINGER_MS", "250"),
            ("EMBER_WORKER__METRICS_PORT", "9464"),
            ("EMBER_WORKER__PREFETCH", "4"),
        ])
        .unwrap()
        .worker;
        assert_eq!(w.writeback_linger_ms, 250);
        assert_eq!(w.prefetch, 4);
        assert_eq!(w.metrics_addr(), Some("127.0.0.1:9464".parse().unwrap()));
    }

    #[test]
    fn bad_values_are_refused_naming_key_flag_and_variable() {
        let e = load(&[
            ("EMBER_WORKER__MAX_ATTEMPTS", "0"),
            ("EMBER_WORKER__DEDUPE_RETENTION_DAYS", "3"),
            ("EMBER_WORKER__WRITEBACK_MAX_BATCH", "101"),
            ("EMBER_WORKER__METRICS_HOST", "localhost"),
        ])
        .unwrap_err()
        .to_string();
        for needle in [
            "worker.max_attempts (--max-attempts or EMBER_WORKER__MAX_ATTEMPTS) must be at least 1, got 0",
            "worker.dedupe_retention_days (--dedupe-retention-days or EMBER_WORKER__DEDUPE_RETENTION_DAYS) must be at least 7, got 3",
            "worker.writeback_max_batch (EMBER_WORKER__WRITEBACK_MAX_BATCH) must be at most 100",
            "worker.metrics_host (--metrics-host or EMBER_WORKER__METRICS_HOST) must be an IP address",
        ] {
            assert!(e.contains(needle), "{needle:?} missing from:\n{e}");
        }
    }

    #[test]
    fn an_unknown_worker_key_is_refused() {
        let e = load(&[("EMBER_WORKER__WRITEBACK_LINGER", "5")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("writeback_linger"), "{e}");
    }
}

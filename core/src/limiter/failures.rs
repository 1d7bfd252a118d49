//! Failed credential attempts of the workflow intake, counted per portal and per source address
//! across every api process, so that guessing a portal's webhook secret is bounded wherever the
//! guesses land (docs/intake.md, "Guessing a portal's secret").
//!
//! - **Counting**: every failed attempt increments two fixed-window counters in Redis (one for
//!   the portal, one for the source), in one script; the window starts at the first failure.
//! - **Blocking**: the attempt that takes a counter beyond its limit, and every attempt that
//!   process sees for that portal or source until the window ends, is refused before any check.
//!   The block is remembered in memory, so a flood of guesses costs neither a query nor a Redis
//!   call once a process has seen it. Another process learns of the block at its next failure
//!   there (which Redis counts too), so the guesses evaluated per window stay within the limit
//!   plus one per process.
//! - **Redis down**: counters fall back to this process alone, with its share of each limit
//!   (`limit / limiter.processes`), as the HubSpot limiter does; never unlimited.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_redis::redis;

use crate::config::WebhookSecretSettings;
use crate::domain::PortalId;

/// Increments both counters (KEYS[1] portal, KEYS[2] source), starting each one's window
/// (ARGV[1] ms) at its first failure; returns count and remaining ms of each.
const RECORD_LUA: &str = r"
local out = {}
for i = 1, 2 do
  local n = redis.call('INCR', KEYS[i])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
";

/// Most blocks and fallback counters kept in memory; beyond it they are dropped (a flood of
/// made-up portals or addresses must not grow memory forever).
const MAX_LOCAL_ENTRIES: usize = 100_000;

/// Where an attempt came from: the peer address, IPv6 cut to its /64 (one host usually holds a
/// whole /64, so counting single IPv6 addresses would count nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Source(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & (u128::MAX << 64);
                    Source(IpAddr::V6(bits.into()))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Portal(PortalId),
    Source(Source),
}

#[derive(Debug, Default)]
struct Local {
    blocked_until: HashMap<Subject, Instant>,
    /// Fallback counters while Redis is unreachable: count and window end.
    fallback: HashMap<Subject, (u32, Instant)>,
}

/// The failure counters. One per api process.
pub struct FailureLimiter {
    pool: deadpool_redis::Pool,
    prefix: String,
    window: Duration,
    per_portal: u32,
    per_source: u32,
    processes: u32,
    redis_timeout: Duration,
    local: Mutex<Local>,
}

impl std::fmt::Debug for FailureLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureLimiter")
            .field("prefix", &self.prefix)
            .field("window", &self.window)
            .field("per_portal", &self.per_portal)
            .field("per_source", &self.per_source)
            .finish()
    }
}

impl FailureLimiter {
    /// The limiter the settings describe: `[redis]`, `[intake.webhook_secret]`, and
    /// `limiter.processes` / `limiter.redis_timeout_ms` for the fallback and Redis' deadline.
    pub fn from_settings(settings: &crate::config::Settings) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let timeout = Some(settings.limiter.redis_timeout());
        let pool = deadpool_redis::Config::from_url(&settings.redis.url)
            .builder()
            .map_err(deadpool_redis::CreatePoolError::Config)
            .and_then(|b| {
                b.max_size(4)
                    .wait_timeout(timeout)
                    .create_timeout(timeout)
                    .recycle_timeout(timeout)
                    .runtime(deadpool_redis::Runtime::Tokio1)
                    .build()
                    .map_err(deadpool_redis::CreatePoolError::Build)
            })
            .context("invalid Redis settings for the webhook secret limiter")?;
        Ok(Self::with_pool(
            pool,
            &settings.redis.prefix,
            &settings.intake.webhook_secret,
            settings.limiter.processes,
            settings.limiter.redis_timeout(),
        ))
    }

    /// A limiter over an existing pool, keys under `<prefix>:authfail:`.
    pub fn with_pool(
        pool: deadpool_redis::Pool,
        prefix: &str,
        settings: &WebhookSecretSettings,
        processes: u32,
        redis_timeout: Duration,
    ) -> Self {
        Self {
            pool,
            prefix: format!("{prefix}:authfail"),
            window: settings.failure_window(),
            per_portal: settings.max_failures_per_portal,
            per_source: settings.max_failures_per_source,
            processes: processes.max(1),
            redis_timeout,
            local: Mutex::new(Local::default()),
        }
    }

    /// How long attempts for this portal or from this source are refused, if this process knows
    /// of a block. No I/O.
    pub fn blocked(&self, portal: PortalId, source: Source) -> Option<Duration> {
        let now = Instant::now();
        let mut local = self.lock();
        let mut longest = None;
        for subject in [Subject::Portal(portal), Subject::Source(source)] {
            match local.blocked_until.get(&subject) {
                Some(until) if *until > now => {
                    longest = longest.max(Some(*until - now));
                }
                Some(_) => {
                    local.blocked_until.remove(&subject);
                }
                None => {}
            }
        }
        longest
    }

    /// Counts one failed attempt. `Some(wait)`: a limit is now exceeded, and attempts for the
    /// portal (or from the source) are refused for `wait`.
    pub async fn record_failure(&self, portal: PortalId, source: Source) -> Option<Duration> {
        let counts = match self.record_in_redis(portal, source).await {
            Ok(counts) => counts,
            Err(e) => {
                tracing::warn!(error = %e, "Redis is unreachable; counting failed webhook secrets in this process only.");
                metrics::counter!("ember_intake_secret_failures_fallback_total").increment(1);
                self.record_locally(portal, source)
            }
        };
        let [(portal_count, portal_ttl), (source_count, source_ttl)] = counts;
        let mut blocks = Vec::new();
        // A limit of 0 turns that counter's block off (e.g. behind a proxy, where every
        // request has the proxy's address).
        if self.per_portal > 0 && portal_count > u64::from(self.per_portal) {
            blocks.push((Subject::Portal(portal), portal_ttl));
        }
        if self.per_source > 0 && source_count > u64::from(self.per_source) {
            blocks.push((Subject::Source(source), source_ttl));
        }
        let longest = blocks.iter().map(|(_, ttl)| *ttl).max()?;
        let now = Instant::now();
        let mut local = self.lock();
        if local.blocked_until.len() >= MAX_LOCAL_ENTRIES {
            local.blocked_until.clear();
        }
        for (subject, ttl) in blocks {
            local.blocked_until.insert(subject, now + ttl);
        }
        Some(longest)
    }

    async fn record_in_redis(
        &self,
        portal: PortalId,
        source: Source,
    ) -> Result<[(u64, Duration); 2], String> {
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RECORD_LUA)
            .arg(2)
            .arg(format!("{}:portal:{}", self.prefix, portal.get()))
            .arg(format!("{}:source:{source}", self.prefix))
            .arg(self.window.as_millis() as u64);
        let answer: (u64, i64, u64, i64) =
            tokio::time::timeout(self.redis_timeout, cmd.query_async(&mut conn))
                .await
                .map_err(|_| "Redis did not answer in time".to_string())?
                .map_err(|e| e.to_string())?;
        let ms = |ttl: i64| Duration::from_millis(ttl.max(1) as u64);
        Ok([(answer.0, ms(answer.1)), (answer.2, ms(answer.3))])
    }

    /// The fallback: this process's own windows. Counts are scaled by `limiter.processes`, so
    /// that comparing them with the whole limit gives this process its share of it.
    fn record_locally(&self, portal: PortalId, source: Source) -> [(u64, Duration); 2] {
        let now = Instant::now();
        let mut local = self.lock();
        if local.fallback.len() >= MAX_LOCAL_ENTRIES {
            local.fallback.clear();
        }
        let window = self.window;
        let processes = u64::from(self.processes);
        [Subject::Portal(portal), Subject::Source(source)].map(|subject| {
            let entry = local.fallback.entry(subject).or_insert((0, now + window));
            if entry.1 <= now {
                *entry = (0, now + window);
            }
            entry.0 += 1;
            (u64::from(entry.0) * processes, entry.1 - now)
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Local> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn ipv6_sources_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Source::of(a.into()), Source::of(b.into()));
        assert_ne!(Source::of(a.into()), Source::of(c.into()));
        assert_eq!(Source::of(a.into()).to_string(), "2001:db8:1:2::/64");
        let mapped = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped();
        assert_eq!(Source::of(mapped.into()).to_string(), "192.0.2.7");
    }

    fn unreachable_redis(per_portal: u32, per_source: u32, processes: u32) -> FailureLimiter {
        // Nothing listens on port 1: every call takes the fallback.
        let pool = deadpool_redis::Config::from_url("redis://127.0.0.1:1")
            .builder()
            .unwrap()
            .wait_timeout(Some(Duration::from_millis(50)))
            .create_timeout(Some(Duration::from_millis(50)))
            .runtime(deadpool_redis::Runtime::Tokio1)
            .build()
            .unwrap();
        let settings = WebhookSecretSettings {
            cache_secs: 10,
            failure_window_secs: 60,
            max_failures_per_portal: per_portal,
            max_failures_per_source: per_source,
        };
        FailureLimiter::with_pool(pool, "t", &settings, processes, Duration::from_millis(50))
    }

    #[tokio::test]
    async fn without_redis_each_process_blocks_at_its_share() {
        let limiter = unreachable_redis(4, 100, 2);
        let portal = PortalId::new(9).unwrap();
        let source = Source::of(Ipv4Addr::LOCALHOST.into());
        // Share: 4 / 2 processes = 2 failures, the third blocks.
        assert_eq!(limiter.record_failure(portal, source).await, None);
        assert_eq!(limiter.record_failure(portal, source).await, None);
        assert!(limiter.blocked(portal, source).is_none());
        let wait = limiter.record_failure(portal, source).await.unwrap();
        assert!(wait > Duration::from_secs(50), "{wait:?}");
        assert!(limiter.blocked(portal, source).is_some());
        let other = PortalId::new(10).unwrap();
        let elsewhere = Source::of(Ipv4Addr::new(192, 0, 2, 1).into());
        assert!(limiter.blocked(other, elsewhere).is_none());
    }

    #[tokio::test]
    async fn a_zero_limit_never_blocks() {
        let limiter = unreachable_redis(3, 0, 1);
        let source = Source::of(Ipv4Addr::LOCALHOST.into());
        for portal in 1..=20 {
            let portal = PortalId::new(portal).unwrap();
            assert_eq!(limiter.record_failure(portal, source).await, None);
        }
    }
}

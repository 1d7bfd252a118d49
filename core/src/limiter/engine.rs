//! The Redis-backed engine: [`Limiter`] grants permits (`acquire.lua`), feeds HubSpot's answers
//! back (`observe.lua`), reads an account's status and counts its answers, and switches to the
//! per-process fallback (`local.rs`) while Redis cannot be reached (the module doc of
//! [`crate::limiter`] describes the protocol).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use deadpool_redis::redis;

use super::limits::{AccountLimits, AppType, Observation};
use super::local;
use super::status::{AnswerCounts, LimitStatus};
use crate::config::LimiterSettings;
use crate::domain::PortalId;

const ACQUIRE_LUA: &str = include_str!("acquire.lua");
const OBSERVE_LUA: &str = include_str!("observe.lua");
/// How long limits learnt from headers are trusted without a fresh answer.
const OBSERVED_TTL_MS: u64 = 3_600_000;
/// Answer counts are kept two days: today's, and yesterday's until a late reader is done.
const ANSWERS_TTL_MS: u64 = 2 * 86_400_000;
/// After a Redis failure, the next attempt to use Redis waits this long.
const REDIS_RETRY: Duration = Duration::from_secs(1);

/// A granted permit: make exactly one HubSpot call with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    /// When it was granted, epoch ms on Redis' clock (the local clock in fallback mode).
    pub granted_at_ms: i64,
    /// Granted by the per-process fallback because Redis was unreachable.
    pub fallback: bool,
    /// How long the caller waited for it.
    pub waited: Duration,
}

/// Why no permit was granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The portal's daily budget is spent (or HubSpot said `DAILY`): nothing before `until`.
    #[error("portal {portal} has used its daily API budget; it resets at {until}")]
    DailyExhausted {
        portal: PortalId,
        until: DateTime<Utc>,
    },
    /// No permit within `limiter.max_wait_ms`; try again after `retry_after`.
    #[error("no permit for portal {portal} within {waited:?}; retry after {retry_after:?}")]
    Timeout {
        portal: PortalId,
        waited: Duration,
        retry_after: Duration,
    },
}

impl LimitError {
    /// When it makes sense to ask again.
    pub fn retry_after(&self) -> Duration {
        match self {
            LimitError::DailyExhausted { until, .. } => {
                (*until - Utc::now()).to_std().unwrap_or_default()
            }
            LimitError::Timeout { retry_after, .. } => *retry_after,
        }
    }
}

enum Try {
    Granted(i64),
    Wait { wait: Duration, daily: bool },
}

/// The limiter. Cheap to share (`Arc`); one per process.
pub struct Limiter {
    pool: deadpool_redis::Pool,
    prefix: String,
    settings: LimiterSettings,
    local: local::LocalWindows,
    in_fallback: AtomicBool,
    redis_down_since: Mutex<Option<Instant>>,
    seq: AtomicU64,
    id: String,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("prefix", &self.prefix)
            .field("settings", &self.settings)
            .finish()
    }
}

impl Limiter {
    /// A limiter over its own small Redis pool (`redis_url`), keys under `<prefix>:limiter:`.
    pub fn connect(
        redis_url: &str,
        prefix: &str,
        settings: LimiterSettings,
    ) -> Result<Self, deadpool_redis::CreatePoolError> {
        let timeout = Some(settings.redis_timeout());
        let pool = deadpool_redis::Config::from_url(redis_url)
            .builder()
            .map_err(deadpool_redis::CreatePoolError::Config)?
            .max_size(8)
            .wait_timeout(timeout)
            .create_timeout(timeout)
            .recycle_timeout(timeout)
            .runtime(deadpool_redis::Runtime::Tokio1)
            .build()
            .map_err(deadpool_redis::CreatePoolError::Build)?;
        Ok(Self::with_pool(pool, prefix, settings))
    }

    /// The limiter the settings describe (`[redis]` url and prefix, `[limiter]`).
    pub fn from_settings(settings: &crate::config::Settings) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        Self::connect(
            &settings.redis.url,
            &settings.redis.prefix,
            settings.limiter.clone(),
        )
        .context("invalid Redis settings for the limiter")
    }

    /// A limiter over an existing pool (give it timeouts: a hung Redis must fail fast).
    pub fn with_pool(pool: deadpool_redis::Pool, prefix: &str, settings: LimiterSettings) -> Self {
        Self {
            pool,
            prefix: format!("{prefix}:limiter"),
            settings,
            local: local::LocalWindows::default(),
            in_fallback: AtomicBool::new(false),
            redis_down_since: Mutex::new(None),
            seq: AtomicU64::new(0),
            id: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &LimiterSettings {
        &self.settings
    }

    /// Whether the last Redis operation failed and permits come from the per-process fallback.
    pub fn in_fallback(&self) -> bool {
        self.in_fallback.load(Ordering::Relaxed)
    }

    /// Waits (at most `limiter.max_wait_ms`) for a permit for one HubSpot call.
    pub async fn acquire(
        &self,
        portal: PortalId,
        limits: &AccountLimits,
    ) -> Result<Permit, LimitError> {
        let start = Instant::now();
        loop {
            let (outcome, fallback) = self.try_once(portal, limits).await;
            match outcome {
                Try::Granted(at) => {
                    let waited = start.elapsed();
                    let source = if fallback { "fallback" } else { "redis" };
                    metrics::counter!("ember_limiter_permits_total", "app" => limits.app.key_part(), "source" => source)
                        .increment(1);
                    metrics::histogram!("ember_limiter_wait_seconds").record(waited.as_secs_f64());
                    return Ok(Permit {
                        granted_at_ms: at,
                        fallback,
                        waited,
                    });
                }
                Try::Wait { wait, daily: true } => {
                    return Err(LimitError::DailyExhausted {
                        portal,
                        until: Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                    });
                }
                Try::Wait { wait, daily: false } => {
                    let waited = start.elapsed();
                    if waited + wait > self.settings.max_wait() {
                        metrics::histogram!("ember_limiter_wait_seconds")
                            .record(waited.as_secs_f64());
                        return Err(LimitError::Timeout {
                            portal,
                            waited,
                            retry_after: wait,
                        });
                    }
                    // A little jitter so that the processes waiting on one portal do not all
                    // wake in the same millisecond.
                    tokio::time::sleep(wait + self.jitter(wait)).await;
                }
            }
        }
    }

    /// Corrects the shared view from one HubSpot answer (headers and, for a 429, its policy).
    pub async fn observe(&self, portal: PortalId, limits: &AccountLimits, obs: &Observation) {
        if obs.is_empty() {
            return;
        }
        if let Some(policy) = &obs.rate_limited {
            metrics::counter!("ember_limiter_rate_limited_total", "policy" => policy.clone())
                .increment(1);
            tracing::warn!(portal = %portal, policy = %policy, "HubSpot answered 429; pausing the portal's permits.");
        }
        let (day, reset) = limits.zone.day_and_reset(Utc::now());
        let keys = self.keys(portal, limits, day);
        let nonce = format!("{}:{}", self.id, self.seq.fetch_add(1, Ordering::Relaxed));
        let window = self.settings.window_ms;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(OBSERVE_LUA)
            .arg(4)
            .arg(&keys)
            .arg(obs.max.unwrap_or(0))
            .arg(obs.interval_ms.unwrap_or(0))
            .arg(obs.remaining.map_or(-1, i64::from))
            .arg(obs.daily.unwrap_or(0))
            .arg(obs.daily_remaining.map_or(-1, |d| d as i64))
            .arg(obs.rate_limited.as_deref().unwrap_or(""))
            .arg(reset.num_milliseconds())
            .arg(self.settings.window_padding_ms)
            .arg(window)
            .arg(nonce)
            .arg(OBSERVED_TTL_MS);
        match self.run::<(i64, i64)>(cmd).await {
            Some((pause_until, _)) => {
                if pause_until > 0 {
                    let reason = if obs.rate_limited.as_deref() == Some("DAILY") {
                        "daily"
                    } else {
                        "window"
                    };
                    metrics::gauge!("ember_limiter_paused", "portal" => portal.to_string(), "reason" => reason)
                        .set(pause_until as f64 / 1000.0);
                    if reason == "daily" {
                        tracing::error!(portal = %portal, until_ms = pause_until,
                            "HubSpot says the portal's daily limit is spent; no calls until its local midnight.");
                    }
                }
            }
            None => {
                if let Some(policy) = &obs.rate_limited {
                    let pause = if policy == "DAILY" {
                        reset.to_std().unwrap_or_default()
                    } else {
                        Duration::from_millis(
                            obs.interval_ms.unwrap_or(window) + self.settings.window_padding_ms,
                        )
                    };
                    self.local.pause(&keys[0], pause);
                }
            }
        }
    }

    /// The limiter's view of an account (for the UI and operators).
    pub async fn status(&self, portal: PortalId, limits: &AccountLimits) -> Option<LimitStatus> {
        let (day, _) = limits.zone.day_and_reset(Utc::now());
        let keys = self.keys(portal, limits, day);
        let window = self.settings.window_ms + self.settings.window_padding_ms;
        let mut pipe = redis::pipe();
        pipe.cmd("TIME")
            .cmd("ZRANGE")
            .arg(&keys[0])
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .cmd("GET")
            .arg(&keys[1])
            .cmd("GET")
            .arg(&keys[2])
            .cmd("HMGET")
            .arg(&keys[3])
            .arg("max")
            .arg("daily")
            .cmd("HMGET")
            .arg(self.answers_key(portal, limits, day))
            .arg("ok")
            .arg("4xx")
            .arg("429")
            .arg("5xx");
        type Answer = (
            (u64, u64),
            Vec<(String, i64)>,
            Option<u64>,
            Option<String>,
            (Option<u32>, Option<u64>),
            (Option<u64>, Option<u64>, Option<u64>, Option<u64>),
        );
        let mut conn = self.pool.get().await.ok()?;
        let (time, log, today, pause, (max, daily), answers): Answer =
            tokio::time::timeout(self.settings.redis_timeout(), pipe.query_async(&mut conn))
                .await
                .ok()?
                .ok()?;
        let now = (time.0 * 1000 + time.1 / 1000) as i64;
        let paused = pause.and_then(|p| {
            let (until, reason) = p.split_once(':')?;
            let until: i64 = until.parse().ok()?;
            (until > now).then(|| {
                (
                    DateTime::from_timestamp_millis(until).unwrap_or_default(),
                    reason.to_owned(),
                )
            })
        });
        Some(LimitStatus {
            in_window: log.iter().filter(|(_, t)| *t > now - window as i64).count() as u64,
            today: today.unwrap_or(0),
            paused,
            observed_max: max,
            observed_daily: daily,
            answers: AnswerCounts {
                ok: answers.0.unwrap_or(0),
                client_errors: answers.1.unwrap_or(0),
                rate_limited: answers.2.unwrap_or(0),
                server_errors: answers.3.unwrap_or(0),
            },
        })
    }

    /// Counts one HubSpot answer to the account's call (status class, per local day), for the
    /// error ratio the UI shows. Best effort: without Redis the answer is not counted.
    pub async fn record_answer(&self, portal: PortalId, limits: &AccountLimits, status: u16) {
        let (day, _) = limits.zone.day_and_reset(Utc::now());
        let key = self.answers_key(portal, limits, day);
        let mut pipe = redis::pipe();
        pipe.cmd("HINCRBY")
            .arg(&key)
            .arg(AnswerCounts::field(status))
            .arg(1)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ANSWERS_TTL_MS)
            .ignore();
        let Ok(mut conn) = self.pool.get().await else {
            return;
        };
        let _ = tokio::time::timeout(
            self.settings.redis_timeout(),
            pipe.query_async::<()>(&mut conn),
        )
        .await;
    }

    fn answers_key(
        &self,
        portal: PortalId,
        limits: &AccountLimits,
        day: chrono::NaiveDate,
    ) -> String {
        format!(
            "{}:{{{}:{}}}:a:{}",
            self.prefix,
            limits.app.key_part(),
            portal,
            day.format("%Y%m%d")
        )
    }

    /// Deletes every key of this limiter's prefix (tests, and a deployment's clean-up). Every
    /// key also expires on its own (at most two days after its last use).
    pub async fn delete_all_keys(&self) -> Result<u64, redis::RedisError> {
        let mut conn = self.pool.get().await.map_err(|e| {
            redis::RedisError::from((redis::ErrorKind::Io, "no Redis connection", e.to_string()))
        })?;
        let pattern = format!("{}:*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                deleted += redis::cmd("DEL")
                    .arg(&keys)
                    .query_async::<u64>(&mut conn)
                    .await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// One attempt, without waiting. The bool says whether the fallback answered.
    async fn try_once(&self, portal: PortalId, limits: &AccountLimits) -> (Try, bool) {
        let (burst, daily) = match limits.app {
            AppType::Public => (self.settings.public_burst, 0),
            AppType::Private { burst, daily } => (burst, daily),
        };
        let (day, reset) = limits.zone.day_and_reset(Utc::now());
        let keys = self.keys(portal, limits, day);
        let member = format!("{}:{}", self.id, self.seq.fetch_add(1, Ordering::Relaxed));
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(ACQUIRE_LUA)
            .arg(4)
            .arg(&keys)
            .arg(burst)
            .arg(self.settings.window_ms)
            .arg(self.settings.safety_margin)
            .arg(self.settings.window_padding_ms)
            .arg(daily)
            .arg(reset.num_milliseconds())
            .arg(member);
        if let Some((granted, value, reason, detail)) =
            self.run::<(i64, i64, String, String)>(cmd).await
        {
            let outcome = if granted == 1 {
                Try::Granted(value)
            } else {
                let daily = reason == "daily" || (reason == "pause" && detail.ends_with(":daily"));
                Try::Wait {
                    wait: Duration::from_millis(value.max(1) as u64),
                    daily,
                }
            };
            return (outcome, false);
        }
        // Fallback: this process's share of the limit, in memory.
        let share = ((burst as f64 * (1.0 - self.settings.safety_margin)).floor() as u32
            / self.settings.processes.max(1))
        .max(1);
        let window =
            Duration::from_millis(self.settings.window_ms + self.settings.window_padding_ms);
        let outcome = match self.local.try_acquire(&keys[0], share, window) {
            Ok(()) => Try::Granted(Utc::now().timestamp_millis()),
            Err(wait) => Try::Wait { wait, daily: false },
        };
        (outcome, true)
    }

    /// Runs a script on Redis, or returns `None` (and enters fallback mode) if Redis fails.
    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Option<T> {
        {
            let down = self
                .redis_down_since
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if down.is_some_and(|at| at.elapsed() < REDIS_RETRY) {
                return None;
            }
        }
        let result = tokio::time::timeout(self.settings.redis_timeout(), async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            cmd.query_async::<T>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer within {:?}",
                self.settings.redis_timeout()
            ))
        });
        match result {
            Ok(v) => {
                *self
                    .redis_down_since
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = None;
                if self.in_fallback.swap(false, Ordering::Relaxed) {
                    metrics::gauge!("ember_limiter_fallback").set(0.0);
                    tracing::info!(
                        "Redis is reachable again; the rate limiter is shared across processes again."
                    );
                }
                Some(v)
            }
            Err(error) => {
                *self
                    .redis_down_since
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                if !self.in_fallback.swap(true, Ordering::Relaxed) {
                    metrics::gauge!("ember_limiter_fallback").set(1.0);
                    tracing::warn!(
                        error = %error,
                        processes = self.settings.processes,
                        "Redis is unreachable; the rate limiter falls back to this process's share of each limit \
                         (limit / limiter.processes)."
                    );
                }
                None
            }
        }
    }

    fn keys(
        &self,
        portal: PortalId,
        limits: &AccountLimits,
        day: chrono::NaiveDate,
    ) -> [String; 4] {
        let base = format!("{}:{{{}:{}}}", self.prefix, limits.app.key_part(), portal);
        [
            format!("{base}:w"),
            format!("{base}:d:{}", day.format("%Y%m%d")),
            format!("{base}:pause"),
            format!("{base}:obs"),
        ]
    }

    fn jitter(&self, wait: Duration) -> Duration {
        let mut x = self.seq.fetch_add(1, Ordering::Relaxed)
            ^ u64::from(Utc::now().timestamp_subsec_nanos());
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let cap = (wait.as_millis() as u64 / 10).clamp(1, 20);
        Duration::from_millis(x % cap)
    }
}

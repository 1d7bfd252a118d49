//! The distributed per-account rate limiter: every HubSpot call of every Ember process takes a
//! permit here first, so that all processes together stay under each account's limit in every
//! rolling window (ARCHITECTURE.md, "Invariants").
//!
//! - **Shared state in Redis.** One Lua script ([`acquire.lua`](./acquire.lua)) keeps a
//!   sliding-window log per (portal, app type) on Redis' own clock and grants a permit only
//!   while fewer than `limit × (1 − safety_margin)` permits were granted in the last
//!   `window + window_padding` (defaults: 104 per 10.25 s for the public app's 110 per 10 s).
//!   The padding absorbs the time between our grant and HubSpot's count of the call.
//! - **Daily budget.** The same script counts the portal's calls per *local* date
//!   ([`PortalZone`]) and stops granting at the daily limit (less the margin) until the
//!   portal's midnight.
//! - **Adaptation.** [`Limiter::observe`] feeds every HubSpot answer back: `-Max` and
//!   `-Interval-Milliseconds` replace the configured figures, `-Remaining` adds the calls
//!   HubSpot counted that we did not grant, the daily headers correct the day's count, a 429
//!   `TEN_SECONDLY_ROLLING` pauses the portal for a whole window and `DAILY` until its local
//!   midnight (metric `ember_limiter_paused`, and [`Limiter::status`] for the UI).
//! - **Redis down.** The limiter falls back to an in-process window with this process's share
//!   (`limit / limiter.processes`), logs the switch once, sets `ember_limiter_fallback` to 1,
//!   and retries Redis at most once a second. There is no unlimited mode.
//!
//! Metrics: `ember_limiter_permits_total{app,source}`, `ember_limiter_wait_seconds`,
//! `ember_limiter_fallback`, `ember_limiter_paused{portal,reason}`,
//! `ember_limiter_rate_limited_total{policy}`.

pub mod failures;
pub mod gate;
mod local;
mod zone;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use deadpool_redis::redis;

pub use crate::config::LimiterSettings;
use crate::domain::PortalId;
use crate::store::portals::AppKind;
pub use gate::LimiterGate;
pub use zone::{PortalZone, ZoneError};

const ACQUIRE_LUA: &str = include_str!("acquire.lua");
const OBSERVE_LUA: &str = include_str!("observe.lua");
/// How long limits learnt from headers are trusted without a fresh answer.
const OBSERVED_TTL_MS: u64 = 3_600_000;
/// Answer counts are kept two days: today's, and yesterday's until a late reader is done.
const ANSWERS_TTL_MS: u64 = 2 * 86_400_000;
/// After a Redis failure, the next attempt to use Redis waits this long.
const REDIS_RETRY: Duration = Duration::from_secs(1);

/// How the portal's calls are authorized, which decides its limits (docs/hubspot.md G).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppType {
    /// The public (OAuth) app: `limiter.public_burst` (110) per window, no daily limit.
    Public,
    /// A private app: its tier's burst per window and the account's daily limit.
    Private { burst: u32, daily: u64 },
}

impl AppType {
    /// Free / Starter private app: 100 per 10 s, 250,000 per day.
    pub const PRIVATE_STARTER: AppType = AppType::Private {
        burst: 100,
        daily: 250_000,
    };
    /// Professional private app: 190 per 10 s, 625,000 per day (usage page; docs/hubspot.md G).
    pub const PRIVATE_PROFESSIONAL: AppType = AppType::Private {
        burst: 190,
        daily: 625_000,
    };
    /// Enterprise private app: 190 per 10 s, 1,000,000 per day.
    pub const PRIVATE_ENTERPRISE: AppType = AppType::Private {
        burst: 190,
        daily: 1_000_000,
    };

    fn key_part(&self) -> &'static str {
        match self {
            AppType::Public => "public",
            AppType::Private { .. } => "private",
        }
    }
}

/// What the limiter needs to know about an account: its app type and time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    pub app: AppType,
    pub zone: PortalZone,
}

impl AccountLimits {
    /// The public app in a portal whose zone is `zone`.
    pub fn public(zone: PortalZone) -> Self {
        Self {
            app: AppType::Public,
            zone,
        }
    }

    /// The limits of a portal as the portals table records it: how it is authorized and, for a
    /// private app, its tier in calls per 10 s. Tiers: 100 → Starter (250,000 a day), 150 → the
    /// former Professional figure (500,000 a day), 190 → Professional (625,000 a day;
    /// Enterprise's 1,000,000 is learnt from the headers). The portals table holds no time zone
    /// yet, so every daily budget resets at UTC midnight.
    pub fn of_portal(kind: AppKind, tier: Option<i32>) -> Self {
        let app = match (kind, tier) {
            (AppKind::Public, _) => AppType::Public,
            (AppKind::Private, Some(100)) => AppType::PRIVATE_STARTER,
            (AppKind::Private, Some(150)) => AppType::Private {
                burst: 150,
                daily: 500_000,
            },
            (AppKind::Private, Some(190)) => AppType::PRIVATE_PROFESSIONAL,
            (AppKind::Private, Some(t)) if t > 0 => AppType::Private {
                burst: t as u32,
                daily: 250_000,
            },
            // A private portal without a tier breaks a CHECK constraint; be conservative.
            (AppKind::Private, _) => AppType::PRIVATE_STARTER,
        };
        Self {
            app,
            zone: PortalZone::UTC,
        }
    }
}

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

/// What one HubSpot answer says about the account's limits. Build it with
/// [`Observation::from_headers`] and, for a 429, [`Observation::rate_limited`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// `X-HubSpot-RateLimit-Max`.
    pub max: Option<u32>,
    /// `X-HubSpot-RateLimit-Interval-Milliseconds`.
    pub interval_ms: Option<u64>,
    /// `X-HubSpot-RateLimit-Remaining`.
    pub remaining: Option<u32>,
    /// `X-HubSpot-RateLimit-Daily`.
    pub daily: Option<u64>,
    /// `X-HubSpot-RateLimit-Daily-Remaining`.
    pub daily_remaining: Option<u64>,
    /// The `policyName` of a 429 (`TEN_SECONDLY_ROLLING`, `DAILY`, ...).
    pub rate_limited: Option<String>,
}

impl Observation {
    /// Reads the `X-HubSpot-RateLimit-*` headers (names case-insensitive; bad values ignored).
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut o = Observation::default();
        for (name, value) in headers {
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "x-hubspot-ratelimit-max" => o.max = value.parse().ok(),
                "x-hubspot-ratelimit-interval-milliseconds" => o.interval_ms = value.parse().ok(),
                "x-hubspot-ratelimit-remaining" => o.remaining = value.parse().ok(),
                "x-hubspot-ratelimit-daily" => o.daily = value.parse().ok(),
                "x-hubspot-ratelimit-daily-remaining" => o.daily_remaining = value.parse().ok(),
                _ => {}
            }
        }
        o
    }

    /// Marks the answer as a 429 with this `policyName`.
    pub fn rate_limited(mut self, policy: impl Into<String>) -> Self {
        self.rate_limited = Some(policy.into());
        self
    }

    fn is_empty(&self) -> bool {
        *self == Observation::default()
    }
}

/// The limiter's view of one account, for metrics and the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitStatus {
    /// Permits granted in the current (padded) window.
    pub in_window: u64,
    /// Calls counted today (portal's local date).
    pub today: u64,
    /// Paused until, and why (`window` or `daily`).
    pub paused: Option<(DateTime<Utc>, String)>,
    /// `X-HubSpot-RateLimit-Max` last seen.
    pub observed_max: Option<u32>,
    /// `X-HubSpot-RateLimit-Daily` last seen.
    pub observed_daily: Option<u64>,
    /// HubSpot's answers today (portal's local date), by class.
    pub answers: AnswerCounts,
}

/// HubSpot's answers to one account's calls on one day, by class (what the gate saw).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerCounts {
    pub ok: u64,
    pub client_errors: u64,
    pub rate_limited: u64,
    pub server_errors: u64,
}

impl AnswerCounts {
    /// The Redis hash field an answer with `status` counts under.
    pub fn field(status: u16) -> &'static str {
        match status {
            429 => "429",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "ok",
        }
    }

    pub fn total(&self) -> u64 {
        self.ok + self.client_errors + self.rate_limited + self.server_errors
    }

    /// HubSpot's error ratio (4xx including 429, and 5xx, over all answers); `None` without
    /// answers. A certified app keeps it under 5% of its daily calls.
    pub fn error_ratio(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| {
            (self.client_errors + self.rate_limited + self.server_errors) as f64 / total as f64
        })
    }
}

impl LimitStatus {
    /// The account's daily limit: what HubSpot's headers said last, else the app's own figure
    /// (`None`: the public app has none).
    pub fn daily_limit(&self, app: AppType) -> Option<u64> {
        match app {
            AppType::Public => self.observed_daily,
            AppType::Private { daily, .. } => Some(self.observed_daily.unwrap_or(daily)),
        }
    }

    /// Whether the limiter grants no more permits today: HubSpot answered `DAILY`, or the day's
    /// count reached the daily limit less `safety_margin` (what `acquire.lua` checks).
    pub fn daily_exhausted(&self, app: AppType, safety_margin: f64) -> bool {
        let paused = self
            .paused
            .as_ref()
            .is_some_and(|(_, reason)| reason == "daily");
        let spent = self.daily_limit(app).is_some_and(|daily| {
            let effective = ((daily as f64 * (1.0 - safety_margin)).floor() as u64).max(1);
            self.today >= effective
        });
        paused || spent
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_settings_have_working_defaults_and_are_validated() {
        use crate::config::Settings;
        let s = Settings::load_from(None, Vec::<(String, String)>::new()).unwrap();
        assert_eq!(
            (
                s.limiter.public_burst,
                s.limiter.window_ms,
                s.limiter.processes
            ),
            (110, 10_000, 1)
        );
        assert!(s.limiter.safety_margin > 0.0);
        let env = [
            ("EMBER_LIMITER__SAFETY_MARGIN", "0.7"),
            ("EMBER_LIMITER__PROCESSES", "0"),
        ];
        let err =
            Settings::load_from(None, env.map(|(k, v)| (k.to_owned(), v.to_owned()))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("limiter.safety_margin") && text.contains("limiter.processes"),
            "{text}"
        );
    }

    #[test]
    fn observation_reads_hubspot_headers() {
        let o = Observation::from_headers([
            ("X-HubSpot-RateLimit-Max", "110"),
            ("x-hubspot-ratelimit-remaining", "7"),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
            ("X-HubSpot-RateLimit-Daily", "250000"),
            ("X-HubSpot-RateLimit-Daily-Remaining", "bad"),
            ("Content-Type", "application/json"),
        ])
        .rate_limited("TEN_SECONDLY_ROLLING");
        assert_eq!(o.max, Some(110));
        assert_eq!(o.remaining, Some(7));
        assert_eq!(o.interval_ms, Some(10_000));
        assert_eq!(o.daily, Some(250_000));
        assert_eq!(o.daily_remaining, None);
        assert_eq!(o.rate_limited.as_deref(), Some("TEN_SECONDLY_ROLLING"));
        assert!(Observation::from_headers([]).is_empty());
    }
}

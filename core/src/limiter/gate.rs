//! [`LimiterGate`]: Ember's Redis limiter ([`crate::limiter`]) as the HubSpot client's
//! [`CallGate`], so that every gated HubSpot call (context reads, property provisioning,
//! write-back) takes a permit and feeds HubSpot's rate-limit headers back.
//!
//! The write-back reserves a permit *before* it locks outbox rows ([`LimiterGate::reserve`]),
//! so that rows are never held while waiting for the limiter; the next gated call for that
//! portal uses the reserved permit instead of asking again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Notify;

use crate::domain::PortalId;
use crate::limiter::{AccountLimits, LimitError, Limiter, Observation};
use ember_hubspot::wire::rate_limit::POLICY_TEN_SECONDLY_ROLLING;
use ember_hubspot::{CallGate, GateError, GateFuture, RateLimitTelemetry};

/// The limiter behind the HubSpot client.
pub struct LimiterGate {
    limiter: Arc<Limiter>,
    default: AccountLimits,
    limits: RwLock<HashMap<i64, AccountLimits>>,
    reserved: Mutex<HashMap<i64, u32>>,
    /// Observations spawned by [`CallGate::observe`] and not yet written to Redis.
    observing: Arc<InFlight>,
}

/// A count of spawned tasks that can be awaited to zero.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    fn start(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    fn finish(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    async fn settled(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            // Registered before the check, so a finish in between is not missed.
            idle.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl std::fmt::Debug for LimiterGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimiterGate")
            .field("default", &self.default)
            .finish()
    }
}

impl LimiterGate {
    /// A gate over `limiter`; portals without [`LimiterGate::set_limits`] use `default`
    /// (normally the public app in UTC).
    pub fn new(limiter: Arc<Limiter>, default: AccountLimits) -> Self {
        Self {
            limiter,
            default,
            limits: RwLock::new(HashMap::new()),
            reserved: Mutex::new(HashMap::new()),
            observing: Arc::default(),
        }
    }

    /// Waits until every HubSpot answer observed so far has been written to the limiter's Redis
    /// state (observations run off the caller's path). For an orderly shutdown, and for tests
    /// that delete their keys afterwards.
    pub async fn settled(&self) {
        self.observing.settled().await;
    }

    /// A gate whose portals count as the public app in UTC until [`LimiterGate::set_limits`]
    /// says otherwise (what every installed portal is, unless it is a private app).
    pub fn public_default(limiter: Arc<Limiter>) -> Self {
        Self::new(
            limiter,
            AccountLimits::public(crate::limiter::PortalZone::UTC),
        )
    }

    /// The portal's app type and time zone (from its installation and account-info).
    pub fn set_limits(&self, portal: PortalId, limits: AccountLimits) {
        self.limits
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(portal.get(), limits);
    }

    /// The limits used for `portal`.
    pub fn limits(&self, portal: PortalId) -> AccountLimits {
        self.limits
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&portal.get())
            .copied()
            .unwrap_or(self.default)
    }

    /// The limiter.
    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// Takes a permit now for the portal's next gated call.
    pub async fn reserve(&self, portal: PortalId) -> Result<(), LimitError> {
        if self.reserved_count(portal) > 0 {
            return Ok(());
        }
        self.limiter.acquire(portal, &self.limits(portal)).await?;
        *self
            .reserved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(portal.get())
            .or_insert(0) += 1;
        Ok(())
    }

    fn reserved_count(&self, portal: PortalId) -> u32 {
        self.reserved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&portal.get())
            .copied()
            .unwrap_or(0)
    }

    fn take_reserved(&self, portal: i64) -> bool {
        let mut map = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&portal) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if *n == 0 {
                    map.remove(&portal);
                }
                true
            }
            _ => false,
        }
    }

    /// Tells the limiter about a 429's policy (the client's telemetry carries only the status;
    /// the policy comes with the error). `DAILY` pauses the portal until its local midnight.
    pub async fn observe_policy(&self, portal: PortalId, policy: &str) {
        self.limiter
            .observe(
                portal,
                &self.limits(portal),
                &Observation::default().rate_limited(policy),
            )
            .await;
    }
}

impl CallGate for LimiterGate {
    fn acquire(&self, portal: i64) -> GateFuture<'_> {
        Box::pin(async move {
            if self.take_reserved(portal) {
                return Ok(());
            }
            let id = PortalId::new(portal)
                .map_err(|e| GateError::new(format!("portal {portal}: {e}"), None))?;
            self.limiter
                .acquire(id, &self.limits(id))
                .await
                .map(|_| ())
                .map_err(|e| GateError::new(e.to_string(), Some(e.retry_after())))
        })
    }

    fn observe(&self, portal: i64, t: &RateLimitTelemetry) {
        // Every answer HubSpot gave, by class: the error ratio a certified app must keep under
        // 5% of its daily calls is (4xx + 429 + 5xx) / all of these.
        metrics::counter!("ember_hubspot_calls_total", "class" => status_class(t.status))
            .increment(1);
        let Ok(id) = PortalId::new(portal) else {
            return;
        };
        let mut obs = Observation {
            max: t.max,
            interval_ms: t.interval_ms,
            remaining: t.remaining,
            daily: t.daily,
            daily_remaining: t.daily_remaining,
            rate_limited: None,
        };
        if t.rate_limited() {
            // The policy is in the body; the caller reports DAILY with `observe_policy`.
            obs.rate_limited = Some(POLICY_TEN_SECONDLY_ROLLING.to_owned());
        }
        let limiter = self.limiter.clone();
        let limits = self.limits(id);
        let status = t.status;
        // `observe` is synchronous in the client; the count and the correction are applied
        // right after, off the caller's path.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let observing = self.observing.clone();
            observing.start();
            handle.spawn(async move {
                if obs != Observation::default() {
                    limiter.observe(id, &limits, &obs).await;
                }
                limiter.record_answer(id, &limits, status).await;
                observing.finish();
            });
        }
    }
}

/// `2xx`, `429`, `4xx`, `5xx` or `other` (the label of `ember_hubspot_calls_total`).
fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        429 => "429",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

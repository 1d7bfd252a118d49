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
//!
//! Layout: `limits` (the figures and what HubSpot's headers say of them), `status` (what the
//! limiter reports about an account), `engine` (the Redis-backed [`Limiter`] and its fallback),
//! `local` (the in-process fallback windows), `zone` (when a portal's day ends), `gate` (the
//! limiter as the HubSpot client's gate) and `failures` (failed-credential counters of the
//! workflow intake).

mod engine;
pub mod failures;
pub mod gate;
mod limits;
mod local;
mod status;
mod zone;

pub use crate::config::LimiterSettings;
pub use engine::{LimitError, Limiter, Permit};
pub use gate::LimiterGate;
pub use limits::{AccountLimits, AppType, Observation};
pub use status::{AnswerCounts, LimitStatus};
pub use zone::{PortalZone, ZoneError};

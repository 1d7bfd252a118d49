//! What the limiter reports about one account, for the console, the admin API and operators:
//! its window and day counts, a pause and its reason, the limits HubSpot's headers said last
//! ([`LimitStatus`]), and HubSpot's answers by class ([`AnswerCounts`]), from which the error
//! ratio is shown.

use chrono::{DateTime, Utc};

use super::limits::AppType;

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

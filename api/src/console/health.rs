//! A portal's health as the home page shows it, from the admin API's health figures.

use ember_core::store::portals::PortalSummary;
use sqlx::PgPool;

use super::page::PageError;
use crate::ops::health::Health;
use crate::state::Operations;

/// Health figures, formatted for the page, with the flags that colour them.
pub(crate) struct HealthView {
    pub status: String,
    pub events_last_hour: i64,
    pub events_last_day: i64,
    pub queue_lag: String,
    pub lag_bad: bool,
    pub writeback_backlog: i64,
    pub backlog_bad: bool,
    pub calls_today: String,
    pub daily_limit: String,
    pub calls_bad: bool,
    /// "—" when nothing was written in the last 24 hours.
    pub error_ratio: String,
    pub error_bar: String,
    pub errors_bad: bool,
}

/// A queue lag this long (seconds) is worth a look.
const LAG_WARN_SECS: f64 = 300.0;
/// A write-back backlog this large is worth a look.
const BACKLOG_WARN: i64 = 1_000;
/// Calls today above this share of the daily limit are worth a look.
const CALLS_WARN_SHARE: f64 = 0.8;

/// "42 s", "3 min", "2 h".
pub(crate) fn duration_text(secs: f64) -> String {
    if secs < 90.0 {
        format!("{secs:.0} s")
    } else if secs < 5400.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

/// A ratio as a percentage with one decimal.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

impl HealthView {
    /// The badge (text, tone) of the status.
    pub(crate) fn badge(&self) -> (&'static str, &'static str) {
        match self.status.as_str() {
            "installed" => ("Installed", "good"),
            "needs_reauth" => ("Needs re-auth", "bad"),
            "paused_daily_limit" => ("Paused: daily limit", "warn"),
            "uninstalled" => ("Uninstalled", "muted"),
            _ => ("Unknown", "muted"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        status: String,
        events_last_hour: i64,
        events_last_day: i64,
        queue_lag_seconds: f64,
        writeback_backlog: i64,
        calls_today: Option<u64>,
        daily_limit: Option<u64>,
        error_ratio: Option<f64>,
        error_ratio_bar: f64,
    ) -> Self {
        Self {
            status,
            events_last_hour,
            events_last_day,
            queue_lag: duration_text(queue_lag_seconds),
            lag_bad: queue_lag_seconds >= LAG_WARN_SECS,
            writeback_backlog,
            backlog_bad: writeback_backlog >= BACKLOG_WARN,
            calls_today: calls_today.map_or_else(|| "unknown".into(), |c| c.to_string()),
            daily_limit: daily_limit.map_or_else(|| "no daily limit".into(), |l| format!("of {l}")),
            calls_bad: match (calls_today, daily_limit) {
                (Some(calls), Some(limit)) if limit > 0 => {
                    calls as f64 >= limit as f64 * CALLS_WARN_SHARE
                }
                _ => false,
            },
            error_ratio: error_ratio.map_or_else(|| "—".into(), percent),
            error_bar: percent(error_ratio_bar),
            errors_bad: error_ratio.is_some_and(|r| r > error_ratio_bar),
        }
    }
}

/// The health of each portal, in the order given (the same figures as
/// `GET /admin/portals/{p}/health`).
pub(crate) async fn portal_health(
    pool: &PgPool,
    ops: &Operations,
    portals: &[PortalSummary],
) -> Result<Vec<HealthView>, PageError> {
    let health = crate::ops::health::health_of(pool, ops, portals).await?;
    Ok(health.into_iter().map(HealthView::from).collect())
}

impl From<Health> for HealthView {
    fn from(h: Health) -> Self {
        let status = serde_json::to_value(h.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Self::new(
            status,
            h.events_last_hour,
            h.events_last_day,
            h.queue_lag_seconds as f64,
            h.writeback_backlog,
            h.calls_today,
            h.daily_limit,
            h.error_ratio,
            h.error_ratio_bar,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_past_their_bars_are_flagged() {
        let h = HealthView::new(
            "paused_daily_limit".into(),
            5,
            50,
            400.0,
            10,
            Some(900),
            Some(1000),
            Some(0.06),
            0.05,
        );
        assert!(h.lag_bad && h.calls_bad && h.errors_bad && !h.backlog_bad);
        assert_eq!(h.queue_lag, "7 min");
        assert_eq!(h.error_ratio, "6.0%");
        assert_eq!(h.badge(), ("Paused: daily limit", "warn"));
    }

    #[test]
    fn unknown_figures_read_as_such_and_are_not_flagged() {
        let h = HealthView::new("installed".into(), 0, 0, 0.0, 0, None, None, None, 0.05);
        assert!(!h.calls_bad && !h.errors_bad && !h.lag_bad);
        assert_eq!(h.calls_today, "unknown");
        assert_eq!(h.daily_limit, "no daily limit");
        assert_eq!(h.error_ratio, "—");
    }
}

//! A portal's health, as the admin API (`GET /admin/portals/{portal}/health`, and per portal in
//! `GET /admin/agencies/{agency}/portals`) and the console's home page both show it: is the
//! portal installed and flowing, and is anything piling up or failing.
//!
//! Postgres gives the event, backlog, lag and write-failure figures (their exact meaning is in
//! [`ember_core::store::health`]); the limiter's shared state in Redis gives the calls counted
//! today and whether the daily limit paused the portal. When Redis cannot be read, `calls_today`
//! is `null` and the status falls back to what Postgres knows.

use ember_core::domain::PortalId;
use ember_core::limiter::{AccountLimits, LimitStatus};
use ember_core::store::health::PortalFigures;
use ember_core::store::portals::{PortalStatus, PortalSummary};
use futures_util::future::join_all;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::Operations;

/// The share of failed write-backs above which a portal needs attention.
pub(crate) const ERROR_RATIO_BAR: f64 = 0.05;

/// Where a portal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HealthStatus {
    /// Installed, tokens valid, calls allowed.
    Installed,
    /// HubSpot refused the refresh token: events are scored, write-backs wait for a re-install.
    NeedsReauth,
    /// The portal's daily API limit is spent: write-backs wait for its midnight.
    PausedDailyLimit,
    /// Uninstalled: events are dropped.
    Uninstalled,
}

/// A portal's health.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct Health {
    pub portal_id: i64,
    pub status: HealthStatus,
    /// Unique events processed in the last 60 minutes.
    pub events_last_hour: i64,
    /// Unique events processed in the last 24 hours.
    pub events_last_day: i64,
    /// How long the oldest pending write-back or context fetch has waited (0: nothing waits).
    pub queue_lag_seconds: i64,
    /// Contacts whose new scores wait to be written to HubSpot.
    pub writeback_backlog: i64,
    /// HubSpot calls counted today (the portal's day, UTC); `null` when Redis cannot be read.
    pub calls_today: Option<u64>,
    /// The account's daily call limit; `null` when it has none (the public app).
    pub daily_limit: Option<u64>,
    /// HubSpot's error ratio today (portal's local date): answers that were errors (4xx
    /// including 429, and 5xx) over all answers to Ember's calls for the portal, as HubSpot
    /// measures certified apps; `null` before the first call of the day or without Redis.
    pub error_ratio: Option<f64>,
    pub error_ratio_bar: f64,
}

/// A portal with its health, as the agency's portal list shows it.
#[derive(Serialize)]
pub(crate) struct PortalWithHealth {
    #[serde(flatten)]
    pub portal: PortalSummary,
    pub health: Health,
}

/// The health of each portal, in the order given.
pub(crate) async fn health_of(
    pool: &PgPool,
    ops: &Operations,
    portals: &[PortalSummary],
) -> Result<Vec<Health>, ApiError> {
    let ids: Vec<PortalId> = portals
        .iter()
        .map(|p| PortalId::new(p.portal_id))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("a stored portal id")))?;
    let figures = ember_core::store::health::figures(pool, &ids)
        .await
        .map_err(|e| ApiError::internal(e.into()))?;
    let limits: Vec<AccountLimits> = portals
        .iter()
        .map(|p| AccountLimits::of_portal(p.app_kind, p.private_tier))
        .collect();
    let statuses = join_all(
        ids.iter()
            .zip(&limits)
            .map(|(id, limits)| ops.limiter.status(*id, limits)),
    )
    .await;
    let margin = ops.limiter.settings().safety_margin;
    Ok(portals
        .iter()
        .zip(figures)
        .zip(limits.iter().zip(statuses))
        .map(|((portal, figures), (limits, status))| {
            health(portal, &figures, limits, status.as_ref(), margin)
        })
        .collect())
}

/// Each portal with its health (`GET /admin/agencies/{agency}/portals`).
pub(crate) async fn with_health(
    pool: &PgPool,
    ops: &Operations,
    portals: Vec<PortalSummary>,
) -> Result<Vec<PortalWithHealth>, ApiError> {
    let health = health_of(pool, ops, &portals).await?;
    Ok(portals
        .into_iter()
        .zip(health)
        .map(|(portal, health)| PortalWithHealth { portal, health })
        .collect())
}

fn health(
    portal: &PortalSummary,
    figures: &PortalFigures,
    limits: &AccountLimits,
    limiter: Option<&LimitStatus>,
    safety_margin: f64,
) -> Health {
    let status = match portal.status {
        PortalStatus::Uninstalled => HealthStatus::Uninstalled,
        PortalStatus::NeedsReauth => HealthStatus::NeedsReauth,
        PortalStatus::Active
            if limiter.is_some_and(|l| l.daily_exhausted(limits.app, safety_margin)) =>
        {
            HealthStatus::PausedDailyLimit
        }
        PortalStatus::Active => HealthStatus::Installed,
    };
    let daily_limit = match limiter {
        Some(l) => l.daily_limit(limits.app),
        None => match limits.app {
            ember_core::limiter::AppType::Public => None,
            ember_core::limiter::AppType::Private { daily, .. } => Some(daily),
        },
    };
    Health {
        portal_id: portal.portal_id,
        status,
        events_last_hour: figures.events_last_hour,
        events_last_day: figures.events_last_day,
        queue_lag_seconds: figures.queue_lag_seconds,
        writeback_backlog: figures.writeback_backlog,
        calls_today: limiter.map(|l| l.today),
        daily_limit,
        error_ratio: limiter.and_then(|l| l.answers.error_ratio()),
        error_ratio_bar: ERROR_RATIO_BAR,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use ember_core::limiter::{AnswerCounts, AppType};
    use ember_core::store::portals::AppKind;

    use super::*;

    fn portal(status: PortalStatus, kind: AppKind, tier: Option<i32>) -> PortalSummary {
        PortalSummary {
            portal_id: 7,
            status,
            agency_id: Some(1),
            app_kind: kind,
            private_tier: tier,
            hub_domain: None,
            status_reason: None,
            status_changed_at: Utc::now(),
            created_at: Utc::now(),
        }
    }

    fn figures() -> PortalFigures {
        PortalFigures {
            portal_id: 7,
            events_last_hour: 3,
            events_last_day: 9,
            writeback_backlog: 2,
            queue_lag_seconds: 40,
            measured_at: Utc::now(),
        }
    }

    fn limiter(today: u64, paused: Option<&str>) -> LimitStatus {
        LimitStatus {
            in_window: 0,
            today,
            paused: paused.map(|r| (Utc::now() + chrono::Duration::hours(1), r.to_owned())),
            observed_max: None,
            observed_daily: None,
            answers: AnswerCounts {
                ok: 95,
                server_errors: 4,
                rate_limited: 1,
                ..AnswerCounts::default()
            },
        }
    }

    #[test]
    fn a_spent_daily_budget_pauses_an_installed_private_portal() {
        let p = portal(PortalStatus::Active, AppKind::Private, Some(100));
        let limits = AccountLimits::of_portal(p.app_kind, p.private_tier);
        assert_eq!(limits.app, AppType::PRIVATE_STARTER);
        // 250,000 less the 5 % margin: the limiter stops at 237,500.
        let spent = health(&p, &figures(), &limits, Some(&limiter(237_500, None)), 0.05);
        assert_eq!(spent.status, HealthStatus::PausedDailyLimit);
        assert_eq!(spent.daily_limit, Some(250_000));
        assert_eq!(spent.calls_today, Some(237_500));
        let fine = health(&p, &figures(), &limits, Some(&limiter(10, None)), 0.05);
        assert_eq!(fine.status, HealthStatus::Installed);
    }

    #[test]
    fn a_daily_pause_from_hubspot_shows_and_a_window_pause_does_not() {
        let p = portal(PortalStatus::Active, AppKind::Public, None);
        let limits = AccountLimits::of_portal(p.app_kind, p.private_tier);
        let daily = health(
            &p,
            &figures(),
            &limits,
            Some(&limiter(5, Some("daily"))),
            0.05,
        );
        assert_eq!(daily.status, HealthStatus::PausedDailyLimit);
        assert_eq!(daily.daily_limit, None, "the public app has no daily limit");
        let window = health(
            &p,
            &figures(),
            &limits,
            Some(&limiter(5, Some("window"))),
            0.05,
        );
        assert_eq!(window.status, HealthStatus::Installed);
    }

    #[test]
    fn the_stored_status_wins_and_redis_being_down_leaves_calls_unknown() {
        let p = portal(PortalStatus::NeedsReauth, AppKind::Private, Some(190));
        let limits = AccountLimits::of_portal(p.app_kind, p.private_tier);
        let h = health(&p, &figures(), &limits, None, 0.05);
        assert_eq!(h.status, HealthStatus::NeedsReauth);
        assert_eq!(h.calls_today, None);
        assert_eq!(h.daily_limit, Some(625_000));
        assert_eq!(h.error_ratio, None, "no answer counts without Redis");
        let h = health(&p, &figures(), &limits, Some(&limiter(3, None)), 0.05);
        assert_eq!(h.error_ratio, Some(0.05), "4 5xx and a 429 of 100 answers");
        assert_eq!(h.error_ratio_bar, ERROR_RATIO_BAR);
        let gone = portal(PortalStatus::Uninstalled, AppKind::Public, None);
        let h = health(&gone, &figures(), &limits, None, 0.05);
        assert_eq!(h.status, HealthStatus::Uninstalled);
        assert_eq!(h.error_ratio, None);
    }
}

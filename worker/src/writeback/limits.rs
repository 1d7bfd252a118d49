//! Per-portal limits for the [`LimiterGate`]: the app kind and private tier stored with the
//! portal (`portals.app_kind`, `portals.private_tier`, tenancy migration 20261128002004).
//!
//! Time zone: the portals table holds none yet, so every portal's daily budget resets at UTC
//! midnight (only private apps have a daily budget). HubSpot's `X-HubSpot-RateLimit-*` headers
//! correct the window and daily figures once seen (the gate feeds them to the limiter).

use std::time::Duration;

use ember_core::domain::PortalId;
use ember_core::limiter::AccountLimits;
use ember_core::store::portals::AppKind;
use sqlx::PgPool;
use tokio::sync::watch;

use super::LimiterGate;

/// The limits of a portal authorized as `app_kind` (`public` | `private`) with `tier` calls per
/// 10 s: [`AccountLimits::of_portal`], the one mapping the api's health figures use too.
/// Anything but `private` is the public app.
pub fn account_limits(app_kind: &str, tier: Option<i32>) -> AccountLimits {
    let kind = if app_kind == "private" {
        AppKind::Private
    } else {
        AppKind::Public
    };
    AccountLimits::of_portal(kind, tier)
}

/// Sets the gate's limits of every active portal; returns how many were set.
pub async fn load(pool: &PgPool, gate: &LimiterGate) -> Result<usize, sqlx::Error> {
    let rows: Vec<(i64, String, Option<i32>)> = sqlx::query_as(
        "SELECT portal_id, app_kind, private_tier FROM portals WHERE status = 'active'",
    )
    .fetch_all(pool)
    .await?;
    let mut n = 0;
    for (portal, kind, tier) in rows {
        if let Ok(portal) = PortalId::new(portal) {
            gate.set_limits(portal, account_limits(&kind, tier));
            n += 1;
        }
    }
    Ok(n)
}

/// Reloads the limits every `every` until `shutdown` turns true (new installs, tier changes).
pub async fn run_refresher(
    pool: PgPool,
    gate: std::sync::Arc<LimiterGate>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = load(&pool, &gate).await {
            tracing::warn!(error = %e, "Could not load the portals' rate limits; keeping the previous ones.");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use ember_core::limiter::AppType;

    use super::*;

    #[test]
    fn tiers_map_to_limits() {
        assert_eq!(account_limits("public", None).app, AppType::Public);
        assert_eq!(
            account_limits("private", Some(100)).app,
            AppType::PRIVATE_STARTER
        );
        assert_eq!(
            account_limits("private", Some(150)).app,
            AppType::Private {
                burst: 150,
                daily: 500_000
            }
        );
        assert_eq!(
            account_limits("private", Some(190)).app,
            AppType::PRIVATE_PROFESSIONAL
        );
        assert_eq!(
            account_limits("private", None).app,
            AppType::PRIVATE_STARTER
        );
    }
}

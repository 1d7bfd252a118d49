//! Per-portal limits for the [`LimiterGate`]: the app kind and private tier stored with the
//! portal (`portals.app_kind`, `portals.private_tier`, tenancy migration 20261128002004).
//!
//! Time zone: the portals table holds none yet, so every portal's daily budget resets at UTC
//! midnight (only private apps have a daily budget). HubSpot's `X-HubSpot-RateLimit-*` headers
//! correct the window and daily figures once seen (the gate feeds them to the limiter).

use std::time::Duration;

use ember_core::limiter::AccountLimits;
use ember_core::store::portals;
use sqlx::PgPool;
use tokio::sync::watch;

use super::LimiterGate;

/// Sets the gate's limits of every active portal; returns how many were set. The app kind is
/// decoded as [`portals::AppKind`] from the row, and mapped by [`AccountLimits::of_portal`],
/// the one mapping the api's health figures use too.
pub async fn load(pool: &PgPool, gate: &LimiterGate) -> Result<usize, sqlx::Error> {
    let rows = portals::active_app_kinds(pool).await?;
    for (portal, kind, tier) in &rows {
        gate.set_limits(*portal, AccountLimits::of_portal(*kind, *tier));
    }
    Ok(rows.len())
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
    use ember_core::store::portals::AppKind;

    use super::*;

    #[test]
    fn tiers_map_to_limits() {
        let limits = AccountLimits::of_portal;
        assert_eq!(limits(AppKind::Public, None).app, AppType::Public);
        assert_eq!(
            limits(AppKind::Private, Some(100)).app,
            AppType::PRIVATE_STARTER
        );
        assert_eq!(
            limits(AppKind::Private, Some(150)).app,
            AppType::Private {
                burst: 150,
                daily: 500_000
            }
        );
        assert_eq!(
            limits(AppKind::Private, Some(190)).app,
            AppType::PRIVATE_PROFESSIONAL
        );
        assert_eq!(limits(AppKind::Private, None).app, AppType::PRIVATE_STARTER);
        // A Service Key is limited as a privately distributed app: the same tiers.
        assert_eq!(
            limits(AppKind::ServiceKey, Some(190)).app,
            AppType::PRIVATE_PROFESSIONAL
        );
        assert_eq!(
            limits(AppKind::ServiceKey, Some(100)).app,
            AppType::PRIVATE_STARTER
        );
    }
}

//! A short-lived, per-process cache of which portals accept events, so the intake does not ask
//! Postgres on every request. Installs and uninstalls take effect within the cache lifetime.
//! It is also the intake's one reading of Postgres, so it keeps that reading's last outcome for
//! `/readyz`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ember_core::domain::PortalId;
use ember_core::readiness::LastOutcome;
use ember_core::store::portals;
use sqlx::PgPool;

pub struct PortalCache {
    ttl: Duration,
    entries: Mutex<HashMap<PortalId, (bool, Instant)>>,
    last_query: LastOutcome,
}

impl PortalCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            last_query: LastOutcome::default(),
        }
    }

    /// Why the last lookup in Postgres failed, if it did less than `within` ago.
    pub fn query_failing_within(&self, within: Duration) -> Option<String> {
        self.last_query.failing_within(within)
    }

    pub async fn accepts_events(
        &self,
        pool: &PgPool,
        portal: PortalId,
    ) -> Result<bool, sqlx::Error> {
        if let Some((accepts, at)) = self.lock().get(&portal).copied()
            && at.elapsed() < self.ttl
        {
            return Ok(accepts);
        }
        let accepts = match portals::accepts_events(pool, portal).await {
            Ok(accepts) => {
                self.last_query.succeeded();
                accepts
            }
            Err(e) => {
                self.last_query.failed(&e);
                return Err(e);
            }
        };
        let mut entries = self.lock();
        if entries.len() > 100_000 {
            // Bounded memory: a flood of made-up portal ids must not grow the map forever.
            entries.clear();
        }
        entries.insert(portal, (accepts, Instant::now()));
        Ok(accepts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PortalId, (bool, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

//! A short-lived, per-process cache of which portals accept events, so the intake does not ask
//! Postgres on every request. Installs and uninstalls take effect within the cache lifetime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ember_core::domain::PortalId;
use ember_core::store::portals;
use sqlx::PgPool;

pub struct PortalCache {
    ttl: Duration,
    entries: Mutex<HashMap<PortalId, (bool, Instant)>>,
}

impl PortalCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
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
        let accepts = portals::accepts_events(pool, portal).await?;
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

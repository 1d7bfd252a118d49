//! A short-lived, per-process cache of the portals' webhook secret hashes (and of "this portal
//! has no secret"), so that a wrong guess costs a hash and a comparison, never a query.
//!
//! A rotation through Ember ([`SecretCache::put`], called by the admin route and the console)
//! applies at once in the process that made it; the other api processes see it within
//! `intake.webhook_secret.cache_secs` (docs/intake.md). Until then they still accept the old
//! secret, which is what lets a person paste the new one into HubSpot without losing calls.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ember_core::domain::PortalId;
use ember_core::store::portals::{self, WebhookSecretHash};
use sqlx::PgPool;

/// Most portals kept; a flood of made-up portal ids empties the map rather than growing it.
const MAX_ENTRIES: usize = 100_000;

pub struct SecretCache {
    ttl: Duration,
    entries: Mutex<HashMap<PortalId, (Option<WebhookSecretHash>, Instant)>>,
}

impl SecretCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The portal's secret hash (`None`: it has none, or does not exist), from the cache when
    /// fresh.
    pub async fn hash(
        &self,
        pool: &PgPool,
        portal: PortalId,
    ) -> Result<Option<WebhookSecretHash>, sqlx::Error> {
        if let Some((hash, at)) = self.lock().get(&portal).copied()
            && at.elapsed() < self.ttl
        {
            return Ok(hash);
        }
        let hash = portals::webhook_secret_hash(pool, portal).await?;
        self.insert(portal, hash);
        Ok(hash)
    }

    /// Records a secret this process just stored, so that it applies here at once.
    pub fn put(&self, portal: PortalId, secret: &str) {
        self.insert(portal, Some(WebhookSecretHash::of(secret)));
    }

    fn insert(&self, portal: PortalId, hash: Option<WebhookSecretHash>) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(portal, (hash, Instant::now()));
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<PortalId, (Option<WebhookSecretHash>, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

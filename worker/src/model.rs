//! The scoring model of each portal, compiled once per version and cached for a few seconds.
//!
//! A portal's model is its active row in `scoring_model_active` (see
//! [`ember_core::store::models`]); a portal without one is scored with
//! [`Model::default_model`] as version 0. Workers notice an activation within the cache TTL; the
//! background rescore (see [`crate::decay`]) then brings every contact to the new version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ember_core::domain::PortalId;
use ember_core::scoring::{CompiledModel, Model};
use ember_core::store;
use sqlx::PgPool;

/// A portal's compiled model and what it reads.
#[derive(Debug)]
pub struct PortalModel {
    /// The stored version (0: the built-in default).
    pub version: i32,
    pub compiled: CompiledModel,
    /// Properties the fit rules read, sorted: a snapshot without one of them asks for context.
    pub properties: Vec<String>,
}

impl PortalModel {
    /// Compiles a model document.
    pub fn new(version: i32, model: &Model) -> Result<Self, ModelError> {
        let compiled = model
            .validate()
            .map_err(|e| ModelError::Invalid(e.to_string()))?;
        let properties = model.fit_properties().into_iter().collect();
        Ok(Self {
            version,
            compiled,
            properties,
        })
    }

    /// The built-in starter model.
    pub fn default_model() -> Result<Self, ModelError> {
        Self::new(0, &Model::default_model())
    }

    /// Whether the model reads this property.
    pub fn reads(&self, property: &str) -> bool {
        self.properties
            .binary_search_by(|p| p.as_str().cmp(property))
            .is_ok()
    }
}

/// Why a portal's model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the portal's model: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the portal's stored model is invalid: {0}")]
    Invalid(String),
}

/// Per-process cache of compiled portal models.
pub struct ModelCache {
    pool: PgPool,
    ttl: Duration,
    default: Arc<PortalModel>,
    entries: Mutex<HashMap<PortalId, (Arc<PortalModel>, Instant)>>,
}

impl ModelCache {
    pub fn new(pool: PgPool, ttl: Duration) -> Result<Self, ModelError> {
        Ok(Self {
            pool,
            ttl,
            default: Arc::new(PortalModel::default_model()?),
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// The portal's active model (at most `ttl` old).
    pub async fn get(&self, portal: PortalId) -> Result<Arc<PortalModel>, ModelError> {
        if let Some((model, at)) = self.lock().get(&portal)
            && at.elapsed() < self.ttl
        {
            return Ok(model.clone());
        }
        let model = match store::models::active(&self.pool, portal).await? {
            None => self.default.clone(),
            Some((version, document)) => {
                let cached = self
                    .lock()
                    .get(&portal)
                    .filter(|(m, _)| m.version == version)
                    .map(|(m, _)| m.clone());
                match cached {
                    Some(m) => m,
                    None => {
                        let model: Model = serde_json::from_value(document)
                            .map_err(|e| ModelError::Invalid(format!("version {version}: {e}")))?;
                        Arc::new(PortalModel::new(version, &model)?)
                    }
                }
            }
        };
        self.lock().insert(portal, (model.clone(), Instant::now()));
        Ok(model)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PortalId, (Arc<PortalModel>, Instant)>> {
        // A panic while holding this lock cannot leave the map inconsistent; keep using it.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_model_reads_the_usual_properties() {
        let m = PortalModel::default_model().unwrap();
        for p in [
            "email",
            "industry",
            "jobtitle",
            "numberofemployees",
            "phone",
        ] {
            assert!(m.reads(p), "{p}");
        }
        assert!(
            !m.reads("recent_conversion_event_name"),
            "engagement properties are not context"
        );
    }
}

//! Scenario builders for the set-ups the tests repeat: one portal's worker transactions over a
//! throwaway database, and rate limiters over the real Redis under a key prefix of their own.

use std::sync::Arc;
use std::time::Duration;

use ember_core::config::LimiterSettings;
use ember_core::domain::QueuedEvent;
use ember_core::domain::{ObjectId, PortalId};
use ember_core::limiter::Limiter;
use ember_core::store::{self, contacts::ContactRecord};
use ember_tests::worker::batch;
use ember_tests::{REDIS_URL, TestDb, init, unique_name};
use ember_worker::model::ModelCache;
use ember_worker::{Outcome, Processor, Summary};

/// One active portal in a fresh database, and the worker's transaction over it (its model is
/// read afresh on every message, so a test can change it between messages).
pub struct PortalScenario {
    pub db: TestDb,
    pub portal: PortalId,
    pub processor: Processor,
}

impl PortalScenario {
    pub async fn new(portal: i64) -> Self {
        let db = TestDb::new().await.unwrap();
        let portal = db.add_portal(portal).await.unwrap();
        let models = Arc::new(ModelCache::new(db.pool.clone(), Duration::ZERO).unwrap());
        let processor = Processor::new(db.pool.clone(), models, 4);
        Self {
            db,
            portal,
            processor,
        }
    }

    /// Handles one message carrying `events` for this portal; it must commit whole.
    pub async fn apply(&self, events: Vec<QueuedEvent>) -> Summary {
        done(
            self.processor
                .handle(&batch(self.portal.get(), events))
                .await,
        )
    }

    /// The contact's row, which must exist.
    pub async fn contact(&self, contact: i64) -> ContactRecord {
        self.find(contact)
            .await
            .unwrap_or_else(|| panic!("contact {contact} has no row"))
    }

    /// The contact's row, if any.
    pub async fn find(&self, contact: i64) -> Option<ContactRecord> {
        store::contacts::get(&self.db.pool, self.portal, ObjectId::new(contact).unwrap())
            .await
            .unwrap()
    }

    /// Every row of every table the worker writes, as text, for before/after comparisons.
    pub async fn dump(&self) -> Vec<String> {
        let mut out = Vec::new();
        for table in [
            "contacts",
            "score_outbox",
            "context_requests",
            "contact_aliases",
            "processed_events",
        ] {
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT row_to_json(t)::text FROM {table} t ORDER BY row_to_json(t)::text"
            )))
            .fetch_all(&self.db.pool)
            .await
            .unwrap();
            out.extend(rows.into_iter().map(|r| format!("{table}: {r}")));
        }
        out
    }
}

/// The summary of a message that committed whole.
pub fn done(outcome: Outcome) -> Summary {
    match outcome {
        Outcome::Done(s) => s,
        other => panic!("expected Done, got {other:?}"),
    }
}

/// Rate limiters sharing one fresh Redis key prefix, as the processes of one deployment do.
pub struct LimiterScenario {
    pub prefix: String,
    pub settings: LimiterSettings,
    redis_url: String,
}

impl LimiterScenario {
    pub fn new(settings: LimiterSettings) -> Self {
        init();
        Self {
            prefix: unique_name("lim"),
            settings,
            redis_url: REDIS_URL.to_owned(),
        }
    }

    /// Reach Redis at `url` instead (a cut-able proxy, or nothing at all).
    pub fn through(mut self, url: &str) -> Self {
        self.redis_url = url.to_owned();
        self
    }

    /// One limiter (one process's view).
    pub fn limiter(&self) -> Limiter {
        Limiter::connect(&self.redis_url, &self.prefix, self.settings.clone()).unwrap()
    }

    /// `n` independent limiters: `n` processes with their own Redis pools.
    pub fn limiters(&self, n: usize) -> Vec<Arc<Limiter>> {
        (0..n).map(|_| Arc::new(self.limiter())).collect()
    }
}

/// An api on a reserved port whose public URL is the simulator's webhook target, the simulator
/// signing with the api's client secret and sending app events in `shape`, and one installed
/// portal of `contacts` contacts that both know. Returns the api, the simulator and the portal.
pub async fn api_fed_by_sim(
    shape: hubspot_sim::WebhookShape,
    contacts: usize,
) -> (ember_tests::TestApi, hubspot_sim::SimHandle, u64) {
    use hubspot_sim::{AppConfig, PortalSpec, SimConfig, SimServer};

    let port = ember_tests::reserve_port();
    let base = format!("http://127.0.0.1:{port}");
    let app = ember_tests::TestApi::spawn_with(|s| {
        s.server.port = port;
        s.public_base_url = base.clone();
    })
    .await
    .unwrap();
    let sim = SimServer::start(SimConfig {
        app: AppConfig {
            client_secret: app.secret.clone(),
            webhook_target_url: Some(format!("{base}/webhooks/hubspot")),
            ..AppConfig::default()
        },
        webhook_shape: shape,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let control = sim.control();
    let portal = control.create_portal(PortalSpec {
        contacts,
        ..PortalSpec::default()
    });
    control.install(portal.id).unwrap();
    app.db.add_portal(portal.id as i64).await.unwrap();
    (app, sim, portal.id)
}

//! The whole worker pipeline against real Postgres, RabbitMQ, Redis and `hubspot-sim`: events
//! queued for a portal installed through Ember's OAuth install are scored by a worker built
//! with `Worker::build` (settings only), and its write-back puts the scores into the
//! simulator's contacts through the gated client and the token manager.

use std::collections::BTreeMap;
use std::time::Duration;

use ember_core::config::Settings;
use ember_core::domain::PortalId;
use ember_core::store::portals::PortalStatus;
use ember_core::tenancy::TokenCipher;
use ember_hubspot::HubSpot;
use ember_tests::worker::{
    TestWorker, batch, property_event, publish, publisher, test_options, wait_for,
};
use ember_tests::{TestBroker, TestDb};
use ember_worker::{Worker, WorkerOptions};
use hubspot_sim::{PortalSpec, SimConfig, SimHandle, SimServer};
use secrecy::SecretString;
use sqlx::types::Json;

/// Score values per contact id.
type Scores = BTreeMap<i64, BTreeMap<String, String>>;
/// A `contacts` row's id and score values.
type ScoreRow = (i64, Option<Json<BTreeMap<String, String>>>);

const KEY: [u8; 32] = [9; 32];
/// base64 of `KEY`.
const KEY_B64: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";

struct World {
    sim: SimHandle,
    db: TestDb,
    broker: TestBroker,
}

impl World {
    async fn new() -> Self {
        let db = TestDb::new().await.expect("test database");
        let sim = SimServer::start(SimConfig::default()).await.expect("sim");
        Self {
            sim,
            db,
            broker: TestBroker::new(),
        }
    }

    /// The worker's settings: this test's database, broker and Redis prefixes, the simulator as
    /// HubSpot, and the token key when `with_key`.
    fn settings(&self, with_key: bool) -> Settings {
        let app = self.sim.app();
        let mut env = vec![
            ("EMBER_DATABASE__URL".to_string(), self.db.url.clone()),
            ("EMBER_AMQP__PREFIX".to_string(), self.broker.prefix.clone()),
            // The broker guard removes this prefix's Redis keys too.
            (
                "EMBER_REDIS__PREFIX".to_string(),
                self.broker.prefix.clone(),
            ),
            (
                "EMBER_PUBLIC_BASE_URL".to_string(),
                "http://ember.test".to_string(),
            ),
            (
                "EMBER_HUBSPOT__API_BASE_URL".to_string(),
                self.sim.base_url(),
            ),
            (
                "EMBER_HUBSPOT__AUTH_BASE_URL".to_string(),
                self.sim.base_url(),
            ),
            (
                "EMBER_HUBSPOT__CLIENT_ID".to_string(),
                app.client_id.clone(),
            ),
            (
                "EMBER_HUBSPOT__CLIENT_SECRET".to_string(),
                app.client_secret.clone(),
            ),
        ];
        if with_key {
            env.push(("EMBER_ENCRYPTION_KEY".to_string(), KEY_B64.to_string()));
        }
        Settings::load_from(None, env).expect("settings")
    }

    fn hubspot(&self) -> HubSpot {
        ember_tests::sim_hubspot(&self.sim)
    }

    /// A simulator portal with `contacts` contacts, installed through Ember's OAuth install
    /// (tokens sealed with `KEY`, score properties provisioned, default model active).
    async fn installed_portal(&self, contacts: usize) -> (PortalId, u64) {
        ember_tests::oauth_installed_portal(&self.sim, &self.db.pool, KEY, contacts).await
    }

    fn contact_ids(&self, sim_portal: u64) -> Vec<u64> {
        let mut ids = self.sim.control().contact_ids(sim_portal);
        ids.sort_unstable();
        ids
    }

    /// Property-change events giving every contact a job title and a company size.
    async fn queue_events(&self, settings: &Settings, portal: PortalId, ids: &[u64]) {
        let titles = ["CEO", "VP Sales", "Marketing Manager", "Intern"];
        let now = chrono::Utc::now().timestamp_millis() - 60_000;
        let mut batches = Vec::new();
        let mut event = 1_000;
        for chunk in ids.chunks(20) {
            let mut events = Vec::new();
            for (i, id) in chunk.iter().enumerate() {
                event += 2;
                let p = portal.get();
                let id = *id as i64;
                events.push(property_event(
                    p,
                    id,
                    "jobtitle",
                    titles[i % titles.len()],
                    event,
                    now,
                ));
                let employees = (id % 500).to_string();
                events.push(property_event(
                    p,
                    id,
                    "numberofemployees",
                    &employees,
                    event + 1,
                    now,
                ));
            }
            batches.push(batch(portal.get(), events));
        }
        let publisher = publisher(settings).await.expect("publisher");
        publish(&publisher, &batches).await.expect("publish");
    }
}

async fn scores(pool: &sqlx::PgPool, portal: PortalId) -> Scores {
    let rows: Vec<ScoreRow> = sqlx::query_as(
        "SELECT contact_id, score_values FROM contacts WHERE portal_id = $1 ORDER BY contact_id",
    )
    .bind(portal.get())
    .fetch_all(pool)
    .await
    .expect("scores");
    rows.into_iter()
        .map(|(id, v)| (id, v.map(|Json(v)| v).unwrap_or_default()))
        .collect()
}

async fn count(pool: &sqlx::PgPool, sql: &str, portal: PortalId) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(portal.get())
        .fetch_one(pool)
        .await
        .expect("count")
}

fn options() -> WorkerOptions {
    WorkerOptions {
        // Scores must not move while the test compares them.
        periodic_jobs: false,
        ..test_options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_events_end_as_score_properties_in_hubspot() {
    let w = World::new().await;
    let (portal, sim_portal) = w.installed_portal(60).await;
    let ids = w.contact_ids(sim_portal);
    assert_eq!(ids.len(), 60);
    let settings = w.settings(true);

    // The events leave `industry` unknown; the context fetch (tested below) would then apply
    // HubSpot's newer values and rescore while this test compares. Write-back only here.
    let only_writeback = WorkerOptions {
        context_fetch: false,
        ..options()
    };
    let worker = TestWorker::spawn(&settings, only_writeback)
        .await
        .expect("worker");
    w.queue_events(&settings, portal, &ids).await;

    let pool = w.db.pool.clone();
    wait_for(Duration::from_secs(60), "every contact scored and the outbox drained", || {
        let pool = pool.clone();
        async move {
            let scored = count(&pool, "SELECT count(*) FROM contacts WHERE portal_id = $1 AND score_values IS NOT NULL", portal).await;
            let pending = count(&pool, "SELECT count(*) FROM score_outbox WHERE portal_id = $1", portal).await;
            Ok(scored == 60 && pending == 0)
        }
    })
    .await
    .expect("pipeline");
    worker.stop().await.expect("worker stops cleanly");

    let scores = scores(&w.db.pool, portal).await;
    assert_eq!(scores.len(), 60);
    let mut distinct = std::collections::BTreeSet::new();
    for (id, values) in &scores {
        assert!(!values.is_empty(), "contact {id} has no score values");
        let contact = w
            .sim
            .control()
            .contact(sim_portal, *id as u64)
            .expect("contact in HubSpot");
        for (name, value) in values {
            assert_eq!(
                contact
                    .properties
                    .get(name)
                    .map(String::as_str)
                    .unwrap_or(""),
                value.as_str(),
                "contact {id}: HubSpot's {name} differs from the worker's score"
            );
        }
        distinct.insert(values.get("ember_score").cloned());
    }
    assert!(
        distinct.len() > 1,
        "the events should give different scores: {distinct:?}"
    );

    // What HubSpot acknowledged is recorded per contact, at the contact's score version.
    let written = count(
        &w.db.pool,
        "SELECT count(*) FROM writeback_written w JOIN contacts c USING (portal_id, contact_id) \
         WHERE w.portal_id = $1 AND w.version = c.score_version",
        portal,
    )
    .await;
    assert_eq!(written, 60);
    assert_eq!(
        count(
            &w.db.pool,
            "SELECT count(*) FROM writeback_dead_letters WHERE portal_id = $1",
            portal
        )
        .await,
        0
    );

    // Every write went through the limiter-gated client: batch calls, no 429.
    let calls = w.sim.control().calls_for(sim_portal);
    let updates = calls
        .iter()
        .filter(|c| c.endpoint == "/crm/objects/2026-09/contacts/batch/update")
        .count();
    assert!(
        (1..=10).contains(&updates),
        "{updates} batch updates for 60 contacts"
    );
    assert!(
        calls.iter().all(|c| c.status != 429),
        "no call was rate limited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_portal_awaiting_reauthorization_keeps_its_scores_queued() {
    let w = World::new().await;
    let (portal, sim_portal) = w.installed_portal(10).await;
    let ids = w.contact_ids(sim_portal);
    let mut conn = w.db.pool.acquire().await.expect("connection");
    ember_core::store::portals::set_status(&mut conn, portal, PortalStatus::NeedsReauth, "test")
        .await
        .expect("status");
    drop(conn);
    let settings = w.settings(true);
    let worker = TestWorker::spawn(&settings, options())
        .await
        .expect("worker");
    w.queue_events(&settings, portal, &ids).await;

    let pool = w.db.pool.clone();
    wait_for(Duration::from_secs(30), "every contact scored", || {
        let pool = pool.clone();
        async move {
            Ok(count(
                &pool,
                "SELECT count(*) FROM contacts WHERE portal_id = $1 AND score_values IS NOT NULL",
                portal,
            )
            .await
                == 10)
        }
    })
    .await
    .expect("scored");
    // Give the write-back several turns.
    tokio::time::sleep(Duration::from_secs(2)).await;
    worker.stop().await.expect("worker stops cleanly");

    assert_eq!(
        count(
            &w.db.pool,
            "SELECT count(*) FROM score_outbox WHERE portal_id = $1",
            portal
        )
        .await,
        10,
        "rows wait for re-authorization"
    );
    assert_eq!(
        count(
            &w.db.pool,
            "SELECT count(*) FROM writeback_dead_letters WHERE portal_id = $1",
            portal
        )
        .await,
        0
    );
    let updates = w
        .sim
        .control()
        .calls_for(sim_portal)
        .iter()
        .filter(|c| c.endpoint == "/crm/objects/2026-09/contacts/batch/update")
        .count();
    assert_eq!(
        updates, 0,
        "no write for a portal awaiting re-authorization"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_encryption_key_the_worker_scores_but_does_not_write_back() {
    let w = World::new().await;
    let (portal, sim_portal) = w.installed_portal(5).await;
    let ids = w.contact_ids(sim_portal);
    let settings = w.settings(false);
    let worker = Worker::build(&settings, options())
        .await
        .expect("the worker starts without the key");
    assert!(!worker.writes_back());
    drop(worker);

    let worker = TestWorker::spawn(&settings, options())
        .await
        .expect("worker");
    w.queue_events(&settings, portal, &ids).await;
    let pool = w.db.pool.clone();
    wait_for(Duration::from_secs(30), "every contact scored", || {
        let pool = pool.clone();
        async move {
            Ok(count(
                &pool,
                "SELECT count(*) FROM score_outbox WHERE portal_id = $1",
                portal,
            )
            .await
                == 5)
        }
    })
    .await
    .expect("scored");
    worker.stop().await.expect("worker stops cleanly");
    assert!(
        w.sim
            .control()
            .calls_for(sim_portal)
            .iter()
            .all(|c| c.endpoint != "/crm/objects/2026-09/contacts/batch/update")
    );
}

/// A contact's stored snapshot value of `name` (`properties -> name -> v`).
async fn snapshot(
    pool: &sqlx::PgPool,
    portal: PortalId,
    contact: i64,
    name: &str,
) -> Option<String> {
    sqlx::query_scalar(
        "SELECT properties -> $3 ->> 'v' FROM contacts WHERE portal_id = $1 AND contact_id = $2",
    )
    .bind(portal.get())
    .bind(contact)
    .bind(name)
    .fetch_one(pool)
    .await
    .expect("snapshot")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_context_is_fetched_from_hubspot_scored_and_written_back() {
    let w = World::new().await;
    let (portal, sim_portal) = w.installed_portal(30).await;
    let ids = w.contact_ids(sim_portal);
    let settings = w.settings(true);
    let worker = TestWorker::spawn(&settings, options())
        .await
        .expect("worker");

    // Events that carry none of the properties the model reads: every contact lacks context.
    // One id HubSpot does not have.
    const GONE: i64 = 9_000_000_001;
    let now = chrono::Utc::now().timestamp_millis() - 60_000;
    let mut events: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            property_event(
                portal.get(),
                *id as i64,
                "firstname",
                "Ada",
                5_000 + i as i64,
                now,
            )
        })
        .collect();
    events.push(property_event(
        portal.get(),
        GONE,
        "firstname",
        "Nobody",
        4_999,
        now,
    ));
    let publisher = publisher(&settings).await.expect("publisher");
    publish(&publisher, &[batch(portal.get(), events)])
        .await
        .expect("publish");

    let pool = w.db.pool.clone();
    wait_for(Duration::from_secs(60), "context fetched, scores written back", || {
        let pool = pool.clone();
        async move {
            let with_context = count(
                &pool,
                "SELECT count(*) FROM contacts WHERE portal_id = $1 AND properties ? 'jobtitle' AND score_values IS NOT NULL",
                portal,
            )
            .await;
            let waiting = count(&pool, "SELECT count(*) FROM context_requests WHERE portal_id = $1", portal).await;
            let pending = count(&pool, "SELECT count(*) FROM score_outbox WHERE portal_id = $1", portal).await;
            let retired = count(&pool, "SELECT count(*) FROM contacts WHERE portal_id = $1 AND status = 'deleted'", portal).await;
            Ok(with_context == 30 && waiting == 0 && pending == 0 && retired == 1)
        }
    })
    .await
    .expect("context fetch");
    worker.stop().await.expect("worker stops cleanly");

    // The snapshot holds HubSpot's values ("" for a property HubSpot has no value for).
    let model_properties = ember_core::scoring::Model::default_model().fit_properties();
    let scores = scores(&w.db.pool, portal).await;
    for id in &ids {
        let contact = w
            .sim
            .control()
            .contact(sim_portal, *id)
            .expect("contact in HubSpot");
        for name in &model_properties {
            let stored = snapshot(&w.db.pool, portal, *id as i64, name).await;
            let hubspot = contact.properties.get(name).cloned().unwrap_or_default();
            assert_eq!(
                stored.as_deref(),
                Some(hubspot.as_str()),
                "contact {id}: {name}"
            );
        }
        let values = scores.get(&(*id as i64)).expect("scored");
        for (name, value) in values {
            assert_eq!(
                contact
                    .properties
                    .get(name)
                    .map(String::as_str)
                    .unwrap_or(""),
                value.as_str(),
                "contact {id}: HubSpot's {name} differs from the worker's score"
            );
        }
    }
    // The id HubSpot does not have is retired, with nothing to write.
    assert_eq!(
        count(&w.db.pool, &format!("SELECT count(*) FROM contacts WHERE portal_id = $1 AND contact_id = {GONE} AND status = 'deleted'"), portal).await,
        1
    );
    // Batched: 31 contacts in a handful of batch reads, all through the gated client.
    let calls = w.sim.control().calls_for(sim_portal);
    let reads = calls
        .iter()
        .filter(|c| c.endpoint == "/crm/objects/2026-09/contacts/batch/read")
        .count();
    assert!(
        (1..=3).contains(&reads),
        "{reads} batch reads for 31 contacts"
    );
    assert!(
        calls.iter().all(|c| c.status != 429),
        "no call was rate limited"
    );
}

/// A Service Key tenant (docs/tenancy.md "Service Keys"): registered with its key and tier, its
/// events are scored and the scores reach HubSpot through the key, limited as a privately
/// distributed app. A wrong tier or another portal's key stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_key_portal_is_scored_and_written_back_with_its_key() {
    use ember_core::store::portals::AppKind;
    use ember_core::tenancy::install::{InstallError, StaticCredential, add_static_token_portal};

    let w = World::new().await;
    let info = w.sim.control().create_portal(PortalSpec {
        contacts: 12,
        app_type: hubspot_sim::AppType::private_tier(190),
        ..PortalSpec::default()
    });
    let other = w.sim.control().create_portal(PortalSpec {
        app_type: hubspot_sim::AppType::private_tier(190),
        ..PortalSpec::default()
    });
    let key = SecretString::from(w.sim.control().issue_service_key(info.id).expect("key"));
    let other_key = SecretString::from(
        w.sim
            .control()
            .issue_service_key(other.id)
            .expect("other key"),
    );
    let portal = PortalId::new(info.id as i64).unwrap();
    let cipher = TokenCipher::new(KEY, &[]);
    let hubspot = w.hubspot();
    let add = |token: SecretString, tier: i32| {
        let (pool, hubspot, cipher) = (&w.db.pool, &hubspot, &cipher);
        async move {
            add_static_token_portal(
                pool,
                hubspot,
                cipher,
                portal,
                StaticCredential::ServiceKey,
                &token,
                tier,
                None,
            )
            .await
        }
    };

    // 150 is a legacy private-app tier, not one a Service Key has.
    let err = add(key.clone(), 150).await.unwrap_err();
    assert!(
        matches!(&err, InstallError::BadTier(m) if m.contains("100 or 190")),
        "{err:?}"
    );
    // Another portal's key.
    let err = add(other_key, 190).await.unwrap_err();
    assert!(matches!(err, InstallError::WrongPortal { .. }), "{err:?}");
    assert_eq!(
        count(
            &w.db.pool,
            "SELECT count(*) FROM portals WHERE portal_id = $1",
            portal
        )
        .await,
        0,
        "a refused registration stores nothing"
    );

    add(key, 190).await.expect("registered");
    let summary = ember_core::store::portals::summary(&w.db.pool, portal)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.app_kind, AppKind::ServiceKey);
    assert_eq!(summary.private_tier, Some(190));
    assert_eq!(
        ember_core::limiter::AccountLimits::of_portal(summary.app_kind, summary.private_tier).app,
        ember_core::limiter::AppType::PRIVATE_PROFESSIONAL
    );

    let ids = w.contact_ids(info.id);
    let settings = w.settings(true);
    let worker = TestWorker::spawn(
        &settings,
        WorkerOptions {
            context_fetch: false,
            ..options()
        },
    )
    .await
    .expect("worker");
    w.sim.control().clear_calls();
    w.queue_events(&settings, portal, &ids).await;
    let pool = w.db.pool.clone();
    wait_for(
        Duration::from_secs(60),
        "every contact scored and written",
        || {
            let pool = pool.clone();
            async move {
                let written = count(
                    &pool,
                    "SELECT count(*) FROM writeback_written WHERE portal_id = $1",
                    portal,
                )
                .await;
                Ok(written == 12)
            }
        },
    )
    .await
    .expect("pipeline");
    worker.stop().await.expect("worker stops cleanly");

    let scores = scores(&w.db.pool, portal).await;
    assert_eq!(scores.len(), 12);
    for (id, values) in &scores {
        let contact = w
            .sim
            .control()
            .contact(info.id, *id as u64)
            .expect("contact");
        let score = values.get("ember_score").expect("a score");
        assert_eq!(
            contact.properties.get("ember_score"),
            Some(score),
            "contact {id}"
        );
    }
    // HubSpot tagged every call with this portal: the key, and only the key, authorized them.
    let calls = w.sim.control().calls_for(info.id);
    assert!(
        calls
            .iter()
            .any(|c| c.endpoint.ends_with("/batch/update") && c.status == 200),
        "{calls:?}"
    );
    assert!(calls.iter().all(|c| c.status < 400), "{calls:?}");
}

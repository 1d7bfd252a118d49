//! `ember portal resync`'s library loop (worker/src/resync.rs, docs/resync.md) against real
//! Postgres, the Redis limiter and `hubspot-sim`, on a portal installed through Ember's OAuth
//! install: every contact is read with ceil(N/100) list calls, snapshotted, scored and queued
//! for write-back; a run stopped after two pages resumes at its cursor without repeating a page
//! or counting a contact twice; a live change newer than HubSpot's record keeps its value, an
//! older one gives way; a second resync writes no outbox row when no score changes; unknown and
//! re-authorization-pending portals are refused with nothing written.

use std::sync::Arc;
use std::time::Duration;

use ember_core::config::Settings;
use ember_core::domain::PortalId;
use ember_core::store::portals::PortalStatus;
use ember_core::store::resyncs;
use ember_tests::worker::{batch, property_event};
use ember_tests::{TestBroker, TestDb};
use ember_worker::Outcome;
use ember_worker::Processor;
use ember_worker::model::ModelCache;
use ember_worker::resync::{ResyncError, ResyncOptions, Resyncer};
use hubspot_sim::{SimConfig, SimHandle, SimServer};
use sqlx::types::Json;

const KEY: [u8; 32] = [9; 32];
/// base64 of `KEY`.
const KEY_B64: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
/// The dated list path the resync calls.
const LIST_PATH: &str = "/crm/objects/2026-09/contacts";

struct World {
    sim: SimHandle,
    db: TestDb,
    /// Owns this test's Redis prefix (the limiter's keys go with it).
    broker: TestBroker,
}

impl World {
    async fn new() -> Self {
        Self {
            db: TestDb::new().await.expect("test database"),
            sim: SimServer::start(SimConfig::default()).await.expect("sim"),
            broker: TestBroker::new(),
        }
    }

    fn settings(&self) -> Settings {
        let app = self.sim.app();
        let env = [
            ("EMBER_DATABASE__URL", self.db.url.clone()),
            ("EMBER_REDIS__PREFIX", self.broker.prefix.clone()),
            ("EMBER_PUBLIC_BASE_URL", "http://ember.test".to_owned()),
            ("EMBER_HUBSPOT__API_BASE_URL", self.sim.base_url()),
            ("EMBER_HUBSPOT__AUTH_BASE_URL", self.sim.base_url()),
            ("EMBER_HUBSPOT__CLIENT_ID", app.client_id.clone()),
            ("EMBER_HUBSPOT__CLIENT_SECRET", app.client_secret.clone()),
            ("EMBER_ENCRYPTION_KEY", KEY_B64.to_owned()),
        ];
        Settings::load_from(None, env.map(|(k, v)| (k.to_owned(), v))).expect("settings")
    }

    fn resyncer(&self) -> Resyncer {
        Resyncer::from_settings(&self.settings(), self.db.pool.clone()).expect("resyncer")
    }

    /// A simulator portal with `contacts` contacts, installed through Ember's OAuth install.
    async fn installed_portal(&self, contacts: usize) -> (PortalId, u64) {
        ember_tests::oauth_installed_portal(&self.sim, &self.db.pool, KEY, contacts).await
    }

    /// How many list calls the simulator answered for this portal.
    fn list_calls(&self, sim_portal: u64) -> usize {
        self.sim
            .control()
            .calls_for(sim_portal)
            .iter()
            .filter(|c| c.method == "GET" && c.path == LIST_PATH)
            .count()
    }

    async fn count(&self, sql: &str, portal: PortalId) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(portal.get())
            .fetch_one(&self.db.pool)
            .await
            .expect("count")
    }

    /// The stored snapshot value of one property of one contact.
    async fn snapshot(&self, portal: PortalId, contact: u64, name: &str) -> Option<String> {
        let row: Option<(Json<serde_json::Value>,)> = sqlx::query_as(
            "SELECT properties FROM contacts WHERE portal_id = $1 AND contact_id = $2",
        )
        .bind(portal.get())
        .bind(contact as i64)
        .fetch_optional(&self.db.pool)
        .await
        .expect("snapshot");
        let (Json(props),) = row?;
        props[name]["v"].as_str().map(str::to_owned)
    }
}

fn options(max_pages: Option<u64>) -> ResyncOptions {
    ResyncOptions {
        restart: false,
        max_pages,
        share: 0.5,
    }
}

const SCORED: &str =
    "SELECT count(*) FROM contacts WHERE portal_id = $1 AND score_values IS NOT NULL";
const OUTBOX: &str = "SELECT count(*) FROM score_outbox WHERE portal_id = $1";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_contact_is_read_scored_and_queued_with_one_list_call_per_hundred() {
    let w = World::new().await;
    let (portal, sim_portal) = w.installed_portal(250).await;
    assert_eq!(w.count(SCORED, portal).await, 0, "no event reached Ember");

    let resyncer = w.resyncer();
    let mut progress = Vec::new();
    let report = resyncer
        .run(portal, &options(None), |r| progress.push(r.contacts_read))
        .await
        .expect("resync");
    resyncer.settled().await;

    assert_eq!(w.list_calls(sim_portal), 3, "ceil(250 / 100) pages");
    assert_eq!(progress, vec![100, 200, 250], "a progress call per page");
    let r = &report.resync;
    assert!(r.finished_at.is_some() && r.cursor.is_none() && r.error.is_none());
    assert_eq!((r.pages, r.contacts_read, r.contacts_scored), (3, 250, 250));
    assert_eq!(r.outbox_writes, 250);
    assert_eq!(w.count(SCORED, portal).await, 250);
    assert_eq!(w.count(OUTBOX, portal).await, 250);
    assert_eq!(
        w.count(
            "SELECT count(*) FROM context_requests WHERE portal_id = $1",
            portal
        )
        .await,
        0,
        "the snapshots hold every property the model reads"
    );
    // The snapshot holds HubSpot's values.
    let ids = w.sim.control().contact_ids(sim_portal);
    let some = ids[17];
    let contact = w.sim.control().contact(sim_portal, some).expect("contact");
    assert_eq!(
        w.snapshot(portal, some, "jobtitle")
            .await
            .unwrap_or_default(),
        contact
            .properties
            .get("jobtitle")
            .cloned()
            .unwrap_or_default()
    );
    // Every call took a permit and none was refused.
    assert!(
        w.sim
            .control()
            .calls_for(sim_portal)
            .iter()
            .all(|c| c.status != 429)
    );

    // The write-back drains the outbox; a second resync then changes no score and queues
    // nothing.
    sqlx::query("DELETE FROM score_outbox WHERE portal_id = $1")
        .bind(portal.get())
        .execute(&w.db.pool)
        .await
        .expect("drain");
    let again = resyncer
        .run(
            portal,
            &ResyncOptions {
                restart: true,
                ..options(None)
            },
            |_| {},
        )
        .await
        .expect("second resync");
    assert_ne!(again.resync.resync_id, r.resync_id, "a new run");
    assert!(!again.resumed);
    assert_eq!(again.resync.contacts_read, 250);
    assert_eq!(again.resync.outbox_writes, 0);
    assert_eq!(w.count(OUTBOX, portal).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_resync_resumes_at_its_cursor_and_counts_nothing_twice() {
    let w = World::new().await;
    let (portal, sim_portal) = w.installed_portal(250).await;
    let resyncer = w.resyncer();

    let first = resyncer
        .run(portal, &options(Some(2)), |_| {})
        .await
        .expect("two pages");
    assert_eq!(first.list_calls, 2);
    assert!(first.resync.finished_at.is_none(), "stopped, not finished");
    assert_eq!((first.resync.pages, first.resync.contacts_read), (2, 200));
    assert!(first.resync.cursor.is_some());
    assert_eq!(w.count(SCORED, portal).await, 200);
    let unfinished = resyncs::unfinished(&w.db.pool, portal)
        .await
        .expect("row")
        .expect("an unfinished resync");
    assert_eq!(unfinished.resync_id, first.resync.resync_id);

    let rest = resyncer
        .run(portal, &options(None), |_| {})
        .await
        .expect("resume");
    assert!(rest.resumed);
    assert_eq!(rest.resync.resync_id, first.resync.resync_id);
    assert_eq!(rest.list_calls, 1, "only the page not yet committed");
    assert!(rest.resync.finished_at.is_some());
    assert_eq!(
        (rest.resync.pages, rest.resync.contacts_read),
        (3, 250),
        "no contact counted twice"
    );
    // Three calls that read 250 contacts in all: no page was fetched twice.
    assert_eq!(
        w.list_calls(sim_portal),
        3,
        "ceil(250 / 100) calls, no page repeated"
    );
    assert_eq!(w.count(SCORED, portal).await, 250);
    assert!(
        resyncs::unfinished(&w.db.pool, portal)
            .await
            .expect("row")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_change_newer_than_hubspots_record_keeps_its_value() {
    let w = World::new().await;
    let (portal, sim_portal) = w.installed_portal(20).await;
    let ids = w.sim.control().contact_ids(sim_portal);
    let (newer, older) = (ids[3], ids[4]);
    let hubspot_title = |id| {
        w.sim
            .control()
            .contact(sim_portal, id)
            .expect("contact")
            .properties
            .get("jobtitle")
            .cloned()
            .unwrap_or_default()
    };
    let settings = w.settings();
    let models =
        Arc::new(ModelCache::new(w.db.pool.clone(), Duration::from_secs(1)).expect("models"));
    let processor = Processor::new(w.db.pool.clone(), models, 3);
    // One change an hour after HubSpot's record, one long before it.
    let hour_later = w.sim.control().now_ms() + 3_600_000;
    let live = batch(
        portal.get(),
        vec![
            property_event(
                portal.get(),
                newer as i64,
                "jobtitle",
                "Live Title",
                1,
                hour_later,
            ),
            property_event(
                portal.get(),
                older as i64,
                "jobtitle",
                "Stale Title",
                2,
                1_000,
            ),
        ],
    );
    assert!(matches!(processor.handle(&live).await, Outcome::Done(_)));
    assert_eq!(
        w.snapshot(portal, older, "jobtitle").await.as_deref(),
        Some("Stale Title")
    );

    let resyncer = Resyncer::from_settings(&settings, w.db.pool.clone()).expect("resyncer");
    let report = resyncer
        .run(portal, &options(None), |_| {})
        .await
        .expect("resync");
    assert_eq!(report.resync.contacts_read, 20);
    assert_eq!(
        w.snapshot(portal, newer, "jobtitle").await.as_deref(),
        Some("Live Title"),
        "the newer live value wins over the resync's older one"
    );
    assert_ne!(hubspot_title(older), "Stale Title");
    assert_eq!(
        w.snapshot(portal, older, "jobtitle")
            .await
            .unwrap_or_default(),
        hubspot_title(older),
        "HubSpot's newer value replaces the older live one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_and_unauthorized_portals_are_refused_with_nothing_written() {
    let w = World::new().await;
    let (portal, sim_portal) = w.installed_portal(5).await;
    let resyncer = w.resyncer();
    let unknown = PortalId::new(portal.get() + 1).unwrap();
    let e = resyncer
        .run(unknown, &options(None), |_| {})
        .await
        .expect_err("unknown portal");
    assert!(matches!(e, ResyncError::UnknownPortal(p) if p == unknown));
    assert!(e.is_refusal());
    assert_eq!(e.to_string(), format!("portal {unknown} is not known"));

    let mut conn = w.db.pool.acquire().await.expect("connection");
    ember_core::store::portals::set_status(&mut conn, portal, PortalStatus::NeedsReauth, "test")
        .await
        .expect("status");
    drop(conn);
    let e = resyncer
        .run(portal, &options(None), |_| {})
        .await
        .expect_err("needs reauth");
    assert!(matches!(e, ResyncError::NeedsReauth(_)) && e.is_refusal());
    assert!(e.to_string().contains("must be re-authorized"));

    assert_eq!(
        w.count(
            "SELECT count(*) FROM portal_resyncs WHERE portal_id = $1",
            portal
        )
        .await,
        0
    );
    assert_eq!(w.count(SCORED, portal).await, 0);
    assert_eq!(w.list_calls(sim_portal), 0, "no list call was made");
}

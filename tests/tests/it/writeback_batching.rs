//! How the write-back fills its calls: a partial batch lingers (a full one goes at once), a
//! score still waiting for its contact's context is not sent, and the context fetcher's lease
//! keeps a request until its values are stored. Real Postgres, Redis limiter and `hubspot-sim`.

use crate::writeback_support;

use std::collections::HashMap;
use std::time::Duration;

use ember_core::domain::{ObjectId, PortalId};
use ember_core::store::context;
use ember_tests::{TestDb, init, unique_name};
use hubspot_sim::{PortalSpec, SimConfig, SimHandle, SimServer};
use writeback_support::writeback::{Crm, WritebackOptions};
use writeback_support::*;

struct Rig {
    sim: SimHandle,
    db: TestDb,
    portal: PortalId,
    sim_portal: u64,
    ids: Vec<u64>,
    process: Process,
}

impl Rig {
    async fn new(contacts: usize, options: WritebackOptions) -> Self {
        init();
        let db = TestDb::new().await.unwrap();
        let sim = SimServer::start(SimConfig::default()).await.unwrap();
        let info = sim.control().create_portal(PortalSpec {
            contacts,
            ..Default::default()
        });
        let install = sim.control().install(info.id).expect("portal exists");
        let portal = db.add_portal(info.id as i64).await.unwrap();
        let tokens = HashMap::from([(info.id as i64, install.access_token)]);
        let process = Process::start(&sim, &db.url, &unique_name("wb"), &tokens, 1, options)
            .await
            .unwrap();
        process.crm.provision(portal).await.unwrap();
        let mut ids = sim.control().contact_ids(info.id);
        ids.sort_unstable();
        Self {
            sim,
            db,
            portal,
            sim_portal: info.id,
            ids,
            process,
        }
    }

    fn batch_updates(&self) -> usize {
        self.sim
            .control()
            .calls_for(self.sim_portal)
            .iter()
            .filter(|c| c.endpoint == BATCH_UPDATE)
            .count()
    }

    async fn cleanup(self) {
        self.process.gate.settled().await;
        self.process.limiter.delete_all_keys().await.ok();
        self.sim.shutdown().await;
    }
}

fn lingering(linger: Duration) -> WritebackOptions {
    WritebackOptions {
        linger,
        ..sending_at_once()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_batch_lingers_and_a_full_batch_goes_at_once() {
    let rig = Rig::new(130, lingering(Duration::from_secs(600))).await;
    let wb = &rig.process.writeback;

    // 30 rows: less than a batch, younger than the linger. No permit, no call.
    fill_outbox(&rig.db.pool, rig.portal, &rig.ids[..30], 1)
        .await
        .unwrap();
    let turn = wb.turn(rig.portal).await.unwrap();
    assert!(turn.lingering, "{turn:?}");
    assert!(turn.wait.is_some_and(|w| w <= Duration::from_secs(600)));
    assert_eq!(rig.batch_updates(), 0);

    // 130 rows: a full batch goes at once, the 30 left linger again.
    fill_outbox(&rig.db.pool, rig.portal, &rig.ids[30..], 1)
        .await
        .unwrap();
    let turn = wb.turn(rig.portal).await.unwrap();
    assert_eq!((turn.sent, turn.done), (100, 100), "{turn:?}");
    assert_eq!(rig.batch_updates(), 1);
    let turn = wb.turn(rig.portal).await.unwrap();
    assert!(turn.lingering, "{turn:?}");
    assert_eq!(pending(&rig.db.pool, rig.portal).await, 30);
    assert_eq!(rig.batch_updates(), 1);
    rig.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_batch_goes_once_its_oldest_row_has_waited_the_linger() {
    let linger = Duration::from_millis(300);
    let rig = Rig::new(20, lingering(linger)).await;
    fill_outbox(&rig.db.pool, rig.portal, &rig.ids, 1)
        .await
        .unwrap();
    let (stop, task) = rig.process.spawn();
    wait_drained(&rig.db.pool, rig.portal, Duration::from_secs(30)).await;
    stop.send(()).ok();
    task.await.unwrap();
    // Rows only age: once the oldest has waited the linger, the 20 rows go in one call.
    assert_eq!(rig.batch_updates(), 1);
    let contact = rig
        .sim
        .control()
        .contact(rig.sim_portal, rig.ids[0])
        .unwrap();
    assert_eq!(
        contact.properties.get("ember_score"),
        values(rig.ids[0], 1).get("ember_score")
    );
    rig.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_score_waiting_for_its_contacts_context_is_not_sent() {
    let context_wait = Duration::from_secs(3);
    let options = WritebackOptions {
        context_wait,
        ..sending_at_once()
    };
    let rig = Rig::new(3, options).await;
    let wb = &rig.process.writeback;
    let [waiting, fetched, complete] = [rig.ids[0], rig.ids[1], rig.ids[2]];
    fill_outbox(&rig.db.pool, rig.portal, &rig.ids, 1)
        .await
        .unwrap();
    let id = |n: u64| ObjectId::new(n as i64).unwrap();
    let mut conn = rig.db.pool.acquire().await.unwrap();
    context::request(&mut conn, rig.portal, &[id(waiting), id(fetched)])
        .await
        .unwrap();
    let hubspot = |contact: u64| {
        rig.sim
            .control()
            .contact(rig.sim_portal, contact)
            .unwrap()
            .properties
            .get("ember_score")
            .cloned()
    };
    let written = |contact: u64| values(contact, 1).get("ember_score").cloned();

    // Only the contact with its context goes; the two others wait for their fetch.
    let turn = wb.turn(rig.portal).await.unwrap();
    assert_eq!((turn.sent, turn.done), (1, 1), "{turn:?}");
    assert_eq!(hubspot(complete), written(complete));
    assert_eq!((hubspot(waiting), hubspot(fetched)), (None, None));
    assert!(wb.turn(rig.portal).await.unwrap().idle);

    // A fetch stores its values and completes its lease: that score goes.
    let (leased, stamp) = context::lease(&mut conn, rig.portal, 1, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(leased, vec![id(waiting)], "the oldest request first");
    let turn = wb.turn(rig.portal).await.unwrap();
    assert!(
        turn.idle,
        "a leased request still holds its score: {turn:?}"
    );
    context::complete(&mut conn, rig.portal, &leased, stamp.unwrap())
        .await
        .unwrap();
    let turn = wb.turn(rig.portal).await.unwrap();
    assert_eq!((turn.sent, turn.done), (1, 1), "{turn:?}");
    assert_eq!(hubspot(waiting), written(waiting));

    // A fetch that never comes holds a score only `context_wait`.
    tokio::time::sleep(context_wait + Duration::from_millis(200)).await;
    let turn = wb.turn(rig.portal).await.unwrap();
    assert_eq!((turn.sent, turn.done), (1, 1), "{turn:?}");
    assert_eq!(hubspot(fetched), written(fetched));
    assert_eq!(pending(&rig.db.pool, rig.portal).await, 0);
    rig.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_context_wait_every_score_goes() {
    let rig = Rig::new(2, sending_at_once()).await;
    fill_outbox(&rig.db.pool, rig.portal, &rig.ids, 1)
        .await
        .unwrap();
    let mut conn = rig.db.pool.acquire().await.unwrap();
    context::request(
        &mut conn,
        rig.portal,
        &[ObjectId::new(rig.ids[0] as i64).unwrap()],
    )
    .await
    .unwrap();
    let turn = rig.process.writeback.turn(rig.portal).await.unwrap();
    assert_eq!((turn.sent, turn.done), (2, 2), "{turn:?}");
    rig.cleanup().await;
}

#[tokio::test]
async fn a_leased_context_request_stays_until_its_values_are_stored() {
    init();
    let db = TestDb::new().await.unwrap();
    let portal = db.add_portal(4242).await.unwrap();
    let ids: Vec<ObjectId> = (1..=3).map(|i| ObjectId::new(i).unwrap()).collect();
    let mut conn = db.pool.acquire().await.unwrap();
    context::request(&mut conn, portal, &ids).await.unwrap();
    let count = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM context_requests")
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    let lease = Duration::from_millis(300);
    let (leased, stamp) = context::lease(&mut conn, portal, 100, lease).await.unwrap();
    assert_eq!(leased.len(), 3);
    assert_eq!(count(db.pool.clone()).await, 3, "a lease removes nothing");
    let (again, _) = context::lease(&mut conn, portal, 100, lease).await.unwrap();
    assert!(again.is_empty(), "another fetcher skips leased requests");

    // The fetcher died: once the lease ends, another one gets the requests; the first one's
    // late completion no longer removes them.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let (retaken, new_stamp) = context::lease(&mut conn, portal, 100, lease).await.unwrap();
    assert_eq!(retaken.len(), 3);
    context::complete(&mut conn, portal, &leased, stamp.unwrap())
        .await
        .unwrap();
    assert_eq!(count(db.pool.clone()).await, 3);
    context::complete(&mut conn, portal, &retaken, new_stamp.unwrap())
        .await
        .unwrap();
    assert_eq!(count(db.pool.clone()).await, 0);
}

/// With a quiet period, a partial batch waits while scores keep arriving and goes once the
/// portal has been quiet that long, well before the linger: a burst is written right after it
/// ends, in one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_batch_goes_once_the_portal_is_quiet_before_the_linger() {
    let quiet = Duration::from_millis(800);
    let options = WritebackOptions {
        linger: Duration::from_secs(600),
        quiet,
        ..sending_at_once()
    };
    let rig = Rig::new(40, options).await;
    let wb = &rig.process.writeback;
    // A burst: four waves of 10 scores, each within the quiet period of the last.
    for wave in rig.ids.chunks(10) {
        fill_outbox(&rig.db.pool, rig.portal, wave, 1)
            .await
            .unwrap();
        let turn = wb.turn(rig.portal).await.unwrap();
        assert!(turn.lingering, "scores are still arriving: {turn:?}");
        assert!(
            turn.wait.is_some_and(|w| w <= quiet),
            "it waits for the quiet period, not the linger: {turn:?}"
        );
        tokio::time::sleep(quiet / 4).await;
    }
    assert_eq!(rig.batch_updates(), 0);
    // The burst is over: once the newest score is `quiet` old, all 40 go in one call.
    tokio::time::sleep(quiet).await;
    let turn = wb.turn(rig.portal).await.unwrap();
    assert_eq!((turn.sent, turn.done), (40, 40), "{turn:?}");
    assert_eq!(rig.batch_updates(), 1);
    assert_eq!(pending(&rig.db.pool, rig.portal).await, 0);
    rig.cleanup().await;
}

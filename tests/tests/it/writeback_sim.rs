//! The write-back against `hubspot-sim` over HTTP, with the real client, the real Redis limiter
//! and real Postgres. Each test has its own database, Redis key prefix and simulator.

use crate::writeback_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ember_core::domain::PortalId;
use ember_core::store::writeback_dead_letters;
use ember_tests::{TestDb, init, unique_name};
use hubspot_sim::{Faults, PortalSpec, SimConfig, SimHandle, SimServer};
use writeback_support::writeback::{Crm, WritebackOptions};
use writeback_support::*;

struct Rig {
    sim: SimHandle,
    db: TestDb,
    prefix: String,
    portal: PortalId,
    sim_portal: u64,
    tokens: HashMap<i64, String>,
}

impl Rig {
    async fn new(contacts: usize) -> anyhow::Result<Self> {
        init();
        let db = TestDb::new().await?;
        let sim = SimServer::start(SimConfig::default()).await?;
        let info = sim.control().create_portal(PortalSpec {
            contacts,
            ..Default::default()
        });
        let install = sim.control().install(info.id).expect("portal exists");
        let portal = db.add_portal(info.id as i64).await?;
        Ok(Self {
            sim,
            db,
            prefix: unique_name("wb"),
            portal,
            sim_portal: info.id,
            tokens: HashMap::from([(info.id as i64, install.access_token)]),
        })
    }

    async fn process(&self, processes: u32, options: WritebackOptions) -> anyhow::Result<Process> {
        Process::start(
            &self.sim,
            &self.db.url,
            &self.prefix,
            &self.tokens,
            processes,
            options,
        )
        .await
    }

    fn contact_ids(&self) -> Vec<u64> {
        let mut ids = self.sim.control().contact_ids(self.sim_portal);
        ids.sort_unstable();
        ids
    }

    fn batch_updates(&self) -> Vec<hubspot_sim::CallRecord> {
        self.sim
            .control()
            .calls_for(self.sim_portal)
            .into_iter()
            .filter(|c| c.endpoint == BATCH_UPDATE)
            .collect()
    }

    fn assert_hubspot_holds(&self, ids: &[u64], version_of: impl Fn(u64) -> i64) {
        let mut wrong = Vec::new();
        for id in ids {
            let contact = self
                .sim
                .control()
                .contact(self.sim_portal, *id)
                .expect("contact exists");
            let want = values(*id, version_of(*id));
            for (k, v) in &want {
                if contact.properties.get(k) != Some(v) {
                    wrong.push((
                        *id,
                        k.clone(),
                        contact.properties.get(k).cloned(),
                        v.clone(),
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} values differ, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(5)]
        );
    }

    async fn cleanup(self, processes: &[&Process]) {
        // Let the limiter observations of the last answers land, then delete the keys.
        for p in processes {
            p.gate.settled().await;
        }
        if let Some(p) = processes.first() {
            p.limiter.delete_all_keys().await.ok();
            assert_eq!(
                p.limiter.delete_all_keys().await.unwrap(),
                0,
                "nothing wrote a limiter key after the observations settled"
            );
        }
        self.sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_changes_reach_hubspot_in_at_most_51_calls_without_a_429() {
    let rig = Rig::new(5_000).await.unwrap();
    let p = rig.process(1, sending_at_once()).await.unwrap();
    p.crm.provision(rig.portal).await.unwrap();
    let ids = rig.contact_ids();
    assert_eq!(ids.len(), 5_000);
    // Two rounds of scores before the write-back runs: only the newest is sent.
    fill_outbox(&rig.db.pool, rig.portal, &ids, 1)
        .await
        .unwrap();
    fill_outbox(&rig.db.pool, rig.portal, &ids[..2_500], 2)
        .await
        .unwrap();
    rig.sim.control().clear_calls();

    let (stop, task) = p.spawn();
    let took = wait_drained(&rig.db.pool, rig.portal, Duration::from_secs(60)).await;
    stop.send(()).ok();
    task.await.unwrap();

    let updates = rig.batch_updates();
    let all = rig.sim.control().calls_for(rig.sim_portal);
    println!(
        "5,000 contacts in {took:?}: {} batch/update calls, {} calls in all",
        updates.len(),
        all.len()
    );
    assert!(updates.len() <= 51, "{} batch/update calls", updates.len());
    assert!(
        all.iter().all(|c| c.status != 429),
        "a call was rate limited"
    );
    assert!(
        rig.sim
            .control()
            .rate_limited(Some(rig.sim_portal))
            .is_empty()
    );
    rig.assert_hubspot_holds(&ids, |id| if ids[..2_500].contains(&id) { 2 } else { 1 });

    // A newer version whose values HubSpot already holds sends nothing.
    let same: Vec<ember_core::store::outbox::OutboxRow> = ids[2_500..2_600]
        .iter()
        .map(|id| ember_core::store::outbox::OutboxRow {
            contact_id: ember_core::domain::ObjectId::new(*id as i64).unwrap(),
            properties: values(*id, 1),
            version: 10,
        })
        .collect();
    let mut conn = rig.db.pool.acquire().await.unwrap();
    ember_core::store::outbox::upsert(&mut conn, rig.portal, &same)
        .await
        .unwrap();
    drop(conn);
    let turn = p.writeback.turn(rig.portal).await.unwrap();
    assert_eq!((turn.sent, turn.done), (0, 100), "{turn:?}");
    assert_eq!(pending(&rig.db.pool, rig.portal).await, 0);
    assert_eq!(
        rig.batch_updates().len(),
        updates.len(),
        "no call for unchanged values"
    );
    rig.cleanup(&[&p]).await;
}

/// Four worker processes (each with its own Postgres pool, Redis pool, limiter and client)
/// drain one portal: the simulator's call log never shows more than 110 calls in a rolling
/// 10 s window, and together they keep at least 90% of that rate while work is pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_on_one_portal_stay_under_110_per_rolling_10s_and_keep_90_percent() {
    let rig = Rig::new(9_000).await.unwrap();
    // 25 contacts a call: 360 calls, so that work stays pending for more than three windows.
    let options = WritebackOptions {
        max_batch: 25,
        ..sending_at_once()
    };
    let mut procs = Vec::new();
    for _ in 0..4 {
        procs.push(rig.process(4, options.clone()).await.unwrap());
    }
    procs[0].crm.provision(rig.portal).await.unwrap();
    let ids = rig.contact_ids();
    fill_outbox(&rig.db.pool, rig.portal, &ids, 1)
        .await
        .unwrap();
    // Start with a fresh HubSpot window, then clear the log.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    procs[0].limiter.delete_all_keys().await.unwrap();
    rig.sim.control().clear_calls();

    let running: Vec<_> = procs.iter().map(|p| p.spawn()).collect();
    let took = wait_drained(&rig.db.pool, rig.portal, Duration::from_secs(120)).await;
    for (stop, task) in running {
        stop.send(()).ok();
        task.await.unwrap();
    }

    let calls = rig.sim.control().calls_for(rig.sim_portal);
    let max = max_in_rolling_window(&calls);
    let mut at: Vec<i64> = calls.iter().map(|c| c.at_ms).collect();
    at.sort_unstable();
    // Rate while work is pending: calls in the whole 10 s windows from the first call that end
    // before the last call, against the 110 per window HubSpot allows.
    let windows = ((at[at.len() - 1] - at[0]) / 10_000).max(1);
    let in_windows = at.partition_point(|x| *x < at[0] + windows * 10_000);
    let steady = in_windows as f64 / (windows as f64 * 110.0);
    println!(
        "4 processes: {} calls in {took:?}; max {max} in any rolling 10 s; {windows} windows at {:.1}% of 110/10 s; 429s: {}",
        calls.len(),
        steady * 100.0,
        calls.iter().filter(|c| c.status == 429).count()
    );
    assert!(max <= 110, "{max} calls in one rolling 10 s window");
    assert!(calls.iter().all(|c| c.status != 429));
    assert!(steady >= 0.90, "steady rate {:.1}%", steady * 100.0);
    rig.assert_hubspot_holds(&ids, |_| 1);
    rig.cleanup(&procs.iter().collect::<Vec<_>>()).await;
}

/// 30% of calls answer 5xx, some connections reset, and 429 bursts come at random: every
/// update still arrives, none older than the last computed, and the error ratio is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_30_percent_5xx_and_429_bursts_every_newest_value_arrives() {
    let rig = Rig::new(1_500).await.unwrap();
    let options = WritebackOptions {
        backoff: writeback_support::writeback::Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        },
        ..sending_at_once()
    };
    let p = rig.process(1, options).await.unwrap();
    p.crm.provision(rig.portal).await.unwrap();
    let ids = rig.contact_ids();
    fill_outbox(&rig.db.pool, rig.portal, &ids, 1)
        .await
        .unwrap();
    rig.sim.control().clear_calls();
    let faults = |burst_429: u32| Faults {
        error_rate: 0.3,
        error_status: 503,
        reset_rate: 0.03,
        burst_429,
        ..Faults::default()
    };
    rig.sim
        .control()
        .set_faults(Some(rig.sim_portal), faults(0));

    let (stop, task) = p.spawn();
    // Newer scores while the first ones are in flight, and random 429 bursts.
    let control = rig.sim.control().clone();
    let sim_portal = rig.sim_portal;
    let bursts = tokio::spawn(async move {
        for i in 0..6u32 {
            tokio::time::sleep(Duration::from_millis(700 + u64::from(i * 137 % 500))).await;
            control.set_faults(Some(sim_portal), faults(1 + i % 3));
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    fill_outbox(&rig.db.pool, rig.portal, &ids, 2)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    fill_outbox(&rig.db.pool, rig.portal, &ids[..300], 3)
        .await
        .unwrap();
    bursts.await.unwrap();
    let took = wait_drained(&rig.db.pool, rig.portal, Duration::from_secs(180)).await;
    stop.send(()).ok();
    task.await.unwrap();
    rig.sim.control().clear_faults();

    let calls = rig.sim.control().calls_for(rig.sim_portal);
    let errors = calls
        .iter()
        .filter(|c| c.status >= 400 || c.status == 0)
        .count();
    let by_status = calls
        .iter()
        .fold(std::collections::BTreeMap::new(), |mut m, c| {
            *m.entry(c.status).or_insert(0) += 1;
            m
        });
    println!(
        "faults: drained in {took:?}; {} calls, {errors} errors (4xx+5xx+resets) = error ratio {:.1}%; by status {by_status:?}",
        calls.len(),
        100.0 * errors as f64 / calls.len() as f64
    );
    assert!(max_in_rolling_window(&calls) <= 110);
    rig.assert_hubspot_holds(&ids, |id| if ids[..300].contains(&id) { 3 } else { 2 });
    assert!(
        writeback_dead_letters::list(&rig.db.pool, rig.portal, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    rig.cleanup(&[&p]).await;
}

/// A 207 with a merged contact, a deleted contact, a missing property and a bad value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_status_rows_are_settled_one_by_one() {
    let rig = Rig::new(10).await.unwrap();
    let p = rig.process(1, sending_at_once()).await.unwrap();
    let ids = rig.contact_ids();
    let control = rig.sim.control();
    // ids[0] and ids[1] merge into a new record; ids[2] is deleted; ids[6] and ids[7] merge
    // into a record Ember has a score of its own for (its newer score must win).
    let survivor = control
        .merge_contacts(rig.sim_portal, ids[1], ids[0])
        .expect("merged");
    control.delete_contact(rig.sim_portal, ids[2]);
    let scored_survivor = control
        .merge_contacts(rig.sim_portal, ids[7], ids[6])
        .expect("merged");
    // The score properties do not exist yet (never provisioned), and ids[3] gets a bad number.
    // (ids[1] has no pending score: only ids[0]'s goes to the survivor.)
    let pending_ids: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|i| *i != ids[1])
        .chain([scored_survivor])
        .collect();
    fill_outbox(&rig.db.pool, rig.portal, &pending_ids, 1)
        .await
        .unwrap();
    {
        let mut conn = rig.db.pool.acquire().await.unwrap();
        let mut bad = values(ids[3], 2);
        bad.insert("ember_score".into(), "ninety".into());
        ember_core::store::outbox::upsert(
            &mut conn,
            rig.portal,
            &[ember_core::store::outbox::OutboxRow {
                contact_id: ember_core::domain::ObjectId::new(ids[3] as i64).unwrap(),
                properties: bad,
                version: 2,
            }],
        )
        .await
        .unwrap();
    }

    let mut turns = Vec::new();
    for _ in 0..6 {
        if pending(&rig.db.pool, rig.portal).await == 0 {
            break;
        }
        turns.push(p.writeback.turn(rig.portal).await.unwrap());
    }
    println!("{turns:#?}");
    assert_eq!(
        pending(&rig.db.pool, rig.portal).await,
        0,
        "every row settled"
    );
    assert!(
        turns.iter().any(|t| t.provisioned),
        "the missing properties were provisioned"
    );
    assert_eq!(turns.iter().map(|t| t.merged).sum::<usize>(), 1);
    assert_eq!(
        turns.iter().map(|t| t.retired).sum::<usize>(),
        3,
        "ids[2] deleted; ids[6], ids[7] merged into a scored record"
    );
    assert_eq!(turns.iter().map(|t| t.dead).sum::<usize>(), 1);

    // Merged: the survivor holds the merged-away contact's score (the last written).
    let merged = control.contact(rig.sim_portal, survivor).unwrap();
    assert_eq!(
        merged.properties.get("ember_score"),
        values(ids[0], 1).get("ember_score")
    );
    // Deleted: retired, not dead-lettered, and nothing written.
    assert!(
        control
            .contact(rig.sim_portal, ids[2])
            .is_none_or(|c| c.archived)
    );
    // The scored survivor keeps its own score.
    rig.assert_hubspot_holds(&[scored_survivor], |_| 1);
    // Missing properties: provisioned, then the values arrived.
    rig.assert_hubspot_holds(&[ids[4], ids[5], ids[8], ids[9]], |_| 1);
    // Bad value: dead-lettered with HubSpot's reason.
    let dead = writeback_dead_letters::list(&rig.db.pool, rig.portal, i64::MAX)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].contact_id, ids[3] as i64);
    assert_eq!(dead[0].version, 2);
    assert!(
        dead[0].reason.contains("ember_score") && dead[0].reason.contains("INVALID"),
        "{}",
        dead[0].reason
    );
    // Replaying a settled outbox changes nothing.
    let again = p.writeback.turn(rig.portal).await.unwrap();
    assert!(again.idle, "{again:?}");
    rig.cleanup(&[&p]).await;
}

#[allow(dead_code)]
fn _assert_send(p: &Process) -> Arc<writeback_support::writeback::LimiterGate> {
    p.gate.clone()
}

/// One huge portal does not starve a small one: both are served in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_portal_does_not_starve_a_small_one() {
    let rig = Rig::new(3_000).await.unwrap();
    let small = rig.sim.control().create_portal(PortalSpec {
        contacts: 150,
        ..Default::default()
    });
    let small_token = rig.sim.control().install(small.id).unwrap().access_token;
    let small_portal = rig.db.add_portal(small.id as i64).await.unwrap();
    let mut tokens = rig.tokens.clone();
    tokens.insert(small.id as i64, small_token);
    let p = Process::start(
        &rig.sim,
        &rig.db.url,
        &rig.prefix,
        &tokens,
        1,
        sending_at_once(),
    )
    .await
    .unwrap();
    p.crm.provision(rig.portal).await.unwrap();
    p.crm.provision(small_portal).await.unwrap();
    // The huge portal's work is older than the small one's.
    fill_outbox(&rig.db.pool, rig.portal, &rig.contact_ids(), 1)
        .await
        .unwrap();
    let mut small_ids = rig.sim.control().contact_ids(small.id);
    small_ids.sort_unstable();
    fill_outbox(&rig.db.pool, small_portal, &small_ids, 1)
        .await
        .unwrap();
    rig.sim.control().clear_calls();

    let (stop, task) = p.spawn();
    wait_drained(&rig.db.pool, small_portal, Duration::from_secs(30)).await;
    wait_drained(&rig.db.pool, rig.portal, Duration::from_secs(60)).await;
    stop.send(()).ok();
    task.await.unwrap();
    // Counted in the simulator's call log (its sequence numbers order every call), not by
    // polling the outbox, so the figure does not depend on how fast the test looks.
    let small_done = rig
        .sim
        .control()
        .calls_for(small.id)
        .iter()
        .filter(|c| c.endpoint == BATCH_UPDATE)
        .map(|c| c.seq)
        .max()
        .expect("the small portal was written");
    let huge_calls_before_small_done = rig
        .batch_updates()
        .iter()
        .filter(|c| c.seq < small_done)
        .count();
    println!(
        "the small portal (2 batches) was done after {huge_calls_before_small_done} of the huge portal's 30 batches"
    );
    assert!(
        huge_calls_before_small_done <= 4,
        "{huge_calls_before_small_done}"
    );
    rig.assert_hubspot_holds(&rig.contact_ids(), |_| 1);
    rig.cleanup(&[&p]).await;
}

/// A private app whose daily budget HubSpot says is spent: the 429 `DAILY` pauses the portal
/// until its local midnight, the write-back stops asking, and the pause shows in the
/// limiter's status (what the UI reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_429_pauses_the_portal_until_its_midnight() {
    init();
    let db = TestDb::new().await.unwrap();
    let sim = SimServer::start(SimConfig::default()).await.unwrap();
    let info = sim.control().create_portal(PortalSpec {
        app_type: hubspot_sim::AppType::PRIVATE_STARTER,
        contacts: 20,
        ..Default::default()
    });
    let token = info.private_token.clone().expect("private token");
    let portal = db.add_portal(info.id as i64).await.unwrap();
    let prefix = unique_name("wb");
    let tokens = HashMap::from([(info.id as i64, token)]);
    let p = Process::start(&sim, &db.url, &prefix, &tokens, 1, sending_at_once())
        .await
        .unwrap();
    let zone = ember_core::limiter::PortalZone::from_offset_ms(info.utc_offset_ms).unwrap();
    let limits = ember_core::limiter::AccountLimits {
        app: ember_core::limiter::AppType::PRIVATE_STARTER,
        zone,
    };
    p.gate.set_limits(portal, limits);
    p.crm.provision(portal).await.unwrap();
    let mut ids = sim.control().contact_ids(info.id);
    ids.sort_unstable();
    fill_outbox(&db.pool, portal, &ids, 1).await.unwrap();
    sim.control().set_daily_used(info.id, 250_000);
    sim.control().clear_calls();

    let first = p.writeback.turn(portal).await.unwrap();
    assert!(
        first.error.as_deref().is_some_and(|e| e.contains("429")),
        "{first:?}"
    );
    assert_eq!(first.retry, 20, "nothing is dropped");
    let second = p.writeback.turn(portal).await.unwrap();
    assert!(second.limited, "{second:?}");
    let (_, reset) = zone.day_and_reset(chrono::Utc::now());
    let wait = second.wait.unwrap();
    assert!(
        wait.as_secs_f64() > reset.as_seconds_f64() - 5.0,
        "waits until the portal's midnight: {wait:?} vs {reset:?}"
    );
    let status = p.limiter.status(portal, &limits).await.unwrap();
    assert_eq!(
        status.paused.as_ref().map(|(_, r)| r.as_str()),
        Some("daily"),
        "{status:?}"
    );
    assert_eq!(
        sim.control().calls_for(info.id).len(),
        1,
        "one call, then no more until midnight"
    );
    assert_eq!(pending(&db.pool, portal).await, 20);
    p.gate.settled().await;
    p.limiter.delete_all_keys().await.unwrap();
    sim.shutdown().await;
}

/// HubSpot answering `OBJECT_NOT_FOUND` for every row and resolving every id to `survivor`.
struct NotFoundCrm {
    survivor: String,
    updates: std::sync::Mutex<Vec<String>>,
}

impl Crm for NotFoundCrm {
    async fn batch_update(
        &self,
        _portal: PortalId,
        rows: Vec<ember_hubspot::crm::UpdateRow>,
    ) -> Result<ember_hubspot::crm::BatchUpdate, ember_hubspot::Error> {
        let mut updates = self.updates.lock().unwrap();
        updates.extend(rows.iter().map(|r| r.id.clone()));
        let rows = rows
            .into_iter()
            .map(|r| ember_hubspot::crm::RowOutcome {
                id: r.id,
                result: ember_hubspot::crm::RowResult::Failed {
                    category: "OBJECT_NOT_FOUND".into(),
                    message: "Could not get some CONTACT objects".into(),
                },
            })
            .collect();
        Ok(ember_hubspot::crm::BatchUpdate { rows })
    }

    async fn resolve(
        &self,
        _portal: PortalId,
        _id: &str,
    ) -> Result<Option<String>, ember_hubspot::Error> {
        Ok(Some(self.survivor.clone()))
    }

    async fn provision(&self, _portal: PortalId) -> Result<(), ember_hubspot::Error> {
        Ok(())
    }
}

/// A merged contact whose survivor id is not a contact id is a permanent failure of that row:
/// dead-lettered with the reason, never written to "contact 0" and never retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_survivor_that_is_no_contact_id_is_dead_lettered() {
    ember_tests::init();
    let db = ember_tests::TestDb::new().await.unwrap();
    let portal = db.add_portal(4343).await.unwrap();
    let limiter = Arc::new(
        ember_core::limiter::Limiter::connect(
            ember_tests::REDIS_URL,
            &ember_tests::unique_name("wb"),
            limiter_settings(1),
        )
        .unwrap(),
    );
    let gate = Arc::new(writeback_support::writeback::LimiterGate::new(
        limiter.clone(),
        ember_core::limiter::AccountLimits::public(ember_core::limiter::PortalZone::UTC),
    ));
    let crm = Arc::new(NotFoundCrm {
        survivor: "not-a-number".into(),
        updates: Default::default(),
    });
    let wb = writeback_support::writeback::Writeback::new(
        db.pool.clone(),
        crm.clone(),
        gate.clone(),
        sending_at_once(),
    )
    .await
    .unwrap();
    fill_outbox(&db.pool, portal, &[77], 3).await.unwrap();

    let turn = wb.turn(portal).await.unwrap();

    assert_eq!((turn.sent, turn.dead, turn.retry), (1, 1, 0), "{turn:?}");
    assert_eq!(*crm.updates.lock().unwrap(), vec!["77".to_owned()]);
    let dead = writeback_dead_letters::list(&db.pool, portal, i64::MAX)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!((dead[0].contact_id, dead[0].version), (77, 3));
    assert_eq!(dead[0].category, writeback_dead_letters::INVALID_SURVIVOR);
    assert!(
        dead[0].reason.contains("not-a-number"),
        "{}",
        dead[0].reason
    );
    assert_eq!(pending(&db.pool, portal).await, 0);
    gate.settled().await;
    limiter.delete_all_keys().await.ok();
}

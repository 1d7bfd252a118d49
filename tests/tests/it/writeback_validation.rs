//! HubSpot's write validation (enforced on API writes since 2026-09, docs/hubspot.md P3) against
//! the write-back: a portal rule fails one row of a batch update with `VALIDATION_ERROR`, and
//! Ember settles that row alone (dead-lettered with HubSpot's message, never retried, listed in
//! the console) while the other rows of the same call are written. The simulator shuffles its
//! batch answers, so each row must be matched by id, never by position. An HTML error page from
//! HubSpot's edge, by contrast, is transient: the rows wait and are written on the retry.

use crate::admin_support::Admin;
use crate::writeback_support::*;

use std::collections::{BTreeMap, HashMap};

use ember_core::domain::{ObjectId, PortalId};
use ember_core::store::outbox::{self, OutboxRow};
use ember_core::store::writeback_dead_letters;
use ember_tests::{TestDb, init, unique_name};
use hubspot_sim::{PortalSpec, RuleCheck, SimConfig, SimHandle, SimServer, ValidationRule};
use writeback_support::writeback::Crm;

use crate::writeback_support;

/// The portal admin's rule: grade D was retired.
const RULE_TEXT: &str = "Ember grade must be A, B or C.";

fn grade_rule() -> ValidationRule {
    ValidationRule {
        property_name: "ember_grade".into(),
        check: RuleCheck::OneOf {
            values: vec!["A".into(), "B".into(), "C".into()],
        },
        message: RULE_TEXT.into(),
    }
}

/// A score for `id`, graded `grade`: every row distinct, so a row settled from another row's
/// answer would show.
fn score(id: u64, grade: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("ember_score".to_owned(), (id % 97).to_string()),
        ("ember_grade".to_owned(), grade.to_owned()),
    ])
}

async fn queue(pool: &sqlx::PgPool, portal: PortalId, rows: &[(u64, BTreeMap<String, String>)]) {
    let rows: Vec<OutboxRow> = rows
        .iter()
        .map(|(id, values)| OutboxRow {
            contact_id: ObjectId::new(*id as i64).unwrap(),
            properties: values.clone(),
            version: 1,
        })
        .collect();
    let mut conn = pool.acquire().await.unwrap();
    outbox::upsert(&mut conn, portal, &rows).await.unwrap();
}

fn batch_updates(sim: &SimHandle, portal: u64) -> Vec<hubspot_sim::CallRecord> {
    sim.control()
        .calls_for(portal)
        .into_iter()
        .filter(|c| c.endpoint == BATCH_UPDATE)
        .collect()
}

/// Ember's score properties exist in the portal, and the call log starts empty, so the calls
/// counted are the write-back's.
async fn provisioned(p: &Process, sim: &SimHandle, portal: PortalId) {
    p.crm.provision(portal).await.expect("score properties");
    sim.control().clear_calls();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_hubspot_refuses_by_a_validation_rule_is_dead_lettered_once_and_the_others_are_written()
 {
    let admin = Admin::start().await;
    let sim_portal = admin.sim.control().create_portal(PortalSpec {
        contacts: 6,
        ..Default::default()
    });
    let install = admin.sim.control().install(sim_portal.id).unwrap();
    let owner = admin.person(7001, "owner@example.com").await;
    let agency = admin.agency("Validation Agency", owner).await;
    let portal = admin.portal(sim_portal.id as i64, agency).await;
    let prefix = unique_name("wbv");
    let p = Process::start(
        &admin.sim,
        &admin.api.db.url,
        &prefix,
        &HashMap::from([(sim_portal.id as i64, install.access_token)]),
        1,
        sending_at_once(),
    )
    .await
    .unwrap();
    provisioned(&p, &admin.sim, portal).await;
    admin
        .sim
        .control()
        .set_validation_rules(sim_portal.id, vec![grade_rule()])
        .unwrap();

    let mut ids = admin.sim.control().contact_ids(sim_portal.id);
    ids.sort_unstable();
    let bad = ids[3];
    let rows: Vec<(u64, BTreeMap<String, String>)> = ids
        .iter()
        .map(|id| (*id, score(*id, if *id == bad { "D" } else { "B" })))
        .collect();
    queue(admin.pool(), portal, &rows).await;

    let turn = p.writeback.turn(portal).await.unwrap();
    assert_eq!(
        (turn.sent, turn.done, turn.dead, turn.retry),
        (6, 5, 1, 0),
        "{turn:?}"
    );
    // Nothing is left to send: the next turn is idle, and HubSpot saw exactly one call.
    let again = p.writeback.turn(portal).await.unwrap();
    assert!(again.idle, "{again:?}");
    assert_eq!(pending(admin.pool(), portal).await, 0, "every row settled");
    let calls = batch_updates(&admin.sim, sim_portal.id);
    assert_eq!(calls.len(), 1, "one batch call, the bad row never retried");
    assert_eq!(calls[0].status, 207);

    // HubSpot holds the five good rows, each its own values; the bad row wrote nothing.
    for (id, want) in &rows {
        let held = admin.sim.control().contact(sim_portal.id, *id).unwrap();
        if *id == bad {
            assert_eq!(held.properties.get("ember_grade"), None, "{held:?}");
        } else {
            for (k, v) in want {
                assert_eq!(held.properties.get(k), Some(v), "{id} {k}");
            }
        }
    }

    // Postgres: one dead letter, with HubSpot's category and the rule's text.
    let dead = writeback_dead_letters::list(admin.pool(), portal, i64::MAX)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].contact_id, bad as i64);
    assert_eq!(dead[0].category, "VALIDATION_ERROR");
    assert!(dead[0].reason.contains(RULE_TEXT), "{}", dead[0].reason);
    assert_eq!(dead[0].properties.0, score(bad, "D"));

    // The console's dead-letters page shows it with HubSpot's message.
    let session = admin.sign_in(owner).await;
    let page = admin
        .get(
            &session,
            &format!("/app/portals/{}/dead-letters", portal.get()),
        )
        .await;
    assert_eq!(page.status, 200);
    let html = page.body.as_str().expect("an HTML page");
    assert!(
        html.contains(RULE_TEXT),
        "the rule's text is shown:\n{html}"
    );
    assert!(html.contains("write-back"), "{html}");
    assert!(
        html.contains(&format!("/app/portals/{}/contacts/{bad}", portal.get())),
        "the refused contact is linked:\n{html}"
    );

    p.limiter.delete_all_keys().await.ok();
    admin.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shuffled_batch_answer_settles_every_row_by_its_own_id() {
    init();
    let db = TestDb::new().await.unwrap();
    let sim = SimServer::start(SimConfig {
        shuffle_batch_answers: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let info = sim.control().create_portal(PortalSpec {
        contacts: 60,
        ..Default::default()
    });
    let install = sim.control().install(info.id).unwrap();
    let portal = db.add_portal(info.id as i64).await.unwrap();
    let p = Process::start(
        &sim,
        &db.url,
        &unique_name("wbs"),
        &HashMap::from([(info.id as i64, install.access_token)]),
        1,
        sending_at_once(),
    )
    .await
    .unwrap();
    provisioned(&p, &sim, portal).await;
    sim.control()
        .set_validation_rules(info.id, vec![grade_rule()])
        .unwrap();

    // Refused rows at the start, the middle and the end of the input.
    let mut ids = sim.control().contact_ids(info.id);
    ids.sort_unstable();
    let bad = [ids[0], ids[29], ids[59]];
    let rows: Vec<(u64, BTreeMap<String, String>)> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let grade = if bad.contains(id) {
                "D"
            } else {
                ["A", "B", "C"][n % 3]
            };
            (*id, score(*id, grade))
        })
        .collect();
    queue(&db.pool, portal, &rows).await;

    let turn = p.writeback.turn(portal).await.unwrap();
    assert_eq!(
        (turn.sent, turn.done, turn.dead, turn.retry),
        (60, 57, 3, 0)
    );
    assert_eq!(batch_updates(&sim, info.id).len(), 1);
    let mut dead: Vec<i64> = writeback_dead_letters::list(&db.pool, portal, i64::MAX)
        .await
        .unwrap()
        .iter()
        .map(|d| d.contact_id)
        .collect();
    dead.sort_unstable();
    assert_eq!(dead, bad.map(|b| b as i64), "exactly the refused rows");
    for (id, want) in rows.iter().filter(|(id, _)| !bad.contains(id)) {
        let held = sim.control().contact(info.id, *id).unwrap();
        for (k, v) in want {
            assert_eq!(held.properties.get(k), Some(v), "{id} {k}");
        }
    }
    assert_eq!(pending(&db.pool, portal).await, 0);
    p.limiter.delete_all_keys().await.ok();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_error_page_from_hubspots_edge_is_retried_and_never_dead_lettered() {
    init();
    let db = TestDb::new().await.unwrap();
    let sim = SimServer::start(SimConfig::default()).await.unwrap();
    let info = sim.control().create_portal(PortalSpec {
        contacts: 4,
        ..Default::default()
    });
    let install = sim.control().install(info.id).unwrap();
    let portal = db.add_portal(info.id as i64).await.unwrap();
    let p = Process::start(
        &sim,
        &db.url,
        &unique_name("wbe"),
        &HashMap::from([(info.id as i64, install.access_token)]),
        1,
        sending_at_once(),
    )
    .await
    .unwrap();
    provisioned(&p, &sim, portal).await;
    let mut ids = sim.control().contact_ids(info.id);
    ids.sort_unstable();
    let rows: Vec<(u64, BTreeMap<String, String>)> =
        ids.iter().map(|id| (*id, score(*id, "A"))).collect();
    queue(&db.pool, portal, &rows).await;

    sim.control().set_faults(
        Some(info.id),
        hubspot_sim::Faults {
            error_next: 1,
            error_status: 502,
            error_html: true,
            ..Default::default()
        },
    );
    let first = p.writeback.turn(portal).await.unwrap();
    assert_eq!((first.sent, first.done, first.dead), (4, 0, 0), "{first:?}");
    assert_eq!(pending(&db.pool, portal).await, 4, "kept for a retry");
    // The retry waits for its backoff; turn until it has gone (bounded).
    let mut written = 0;
    for _ in 0..200 {
        let t = p.writeback.turn(portal).await.unwrap();
        written += t.done;
        assert_eq!(t.dead, 0, "{t:?}");
        if pending(&db.pool, portal).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(written, 4);
    assert_eq!(pending(&db.pool, portal).await, 0);
    let statuses: Vec<u16> = batch_updates(&sim, info.id)
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, [502, 200], "one edge page, then the retry");
    assert!(
        writeback_dead_letters::list(&db.pool, portal, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    for (id, want) in &rows {
        let held = sim.control().contact(info.id, *id).unwrap();
        for (k, v) in want {
            assert_eq!(held.properties.get(k), Some(v), "{id} {k}");
        }
    }
    p.limiter.delete_all_keys().await.ok();
    sim.shutdown().await;
}

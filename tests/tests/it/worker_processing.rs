//! The processing transaction against a real Postgres: redelivery, merge, deletion, restore,
//! privacy deletion, the decay sweep, model rescores and the dedupe purge.

use std::time::Duration;

use chrono::Utc;
use ember_core::domain::{ObjectId, PortalId};
use ember_core::scoring::{Decay, Model};
use ember_core::store::{self, contacts::ContactStatus};
use ember_tests::TestDb;
use ember_tests::worker::{batch, contact_event, merge_event, property_event};
use ember_worker::Outcome;
use ember_worker::model::ModelCache;

use crate::scenario::{PortalScenario, done};

const PORTAL: i64 = 777;

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn id(n: i64) -> ObjectId {
    ObjectId::new(n).unwrap()
}

fn portal() -> PortalId {
    PortalId::new(PORTAL).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivering_a_message_changes_nothing() {
    let sc = PortalScenario::new(PORTAL).await;
    let (db, p) = (&sc.db, &sc.processor);
    let t = now_ms();
    let message = batch(
        PORTAL,
        vec![
            property_event(
                PORTAL,
                1,
                "recent_conversion_event_name",
                "Demo request",
                10,
                t,
            ),
            property_event(PORTAL, 1, "industry", "SaaS", 11, t),
            property_event(PORTAL, 2, "jobtitle", "CEO", 12, t),
            contact_event(PORTAL, 3, "contact.creation", 13, t),
            contact_event(PORTAL, 9, "company.creation", 14, t),
        ],
    );
    let first = done(p.handle(&message).await);
    assert_eq!((first.applied, first.duplicates, first.skipped), (4, 0, 1));
    assert_eq!(first.contacts, 3);
    let before = sc.dump().await;
    for _ in 0..3 {
        let again = done(p.handle(&message).await);
        assert_eq!((again.applied, again.duplicates), (0, 5));
    }
    assert_eq!(
        sc.dump().await,
        before,
        "a redelivery must not change any row"
    );

    let c1 = sc.contact(1).await;
    assert_eq!(c1.score_total, Some(50));
    assert_eq!(c1.score_version, 1);
    let (row, _) = store::outbox::get(&db.pool, portal(), id(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.properties["ember_score"], "50");
    assert_eq!(row.version, 1);
    // The default model reads email, jobtitle...: each contact is asked for once.
    let requests: i64 =
        sqlx::query_scalar("SELECT count(*) FROM context_requests WHERE portal_id = $1")
            .bind(PORTAL)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(requests, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_event_cannot_regress_a_property() {
    let sc = PortalScenario::new(PORTAL).await;
    let t = now_ms();
    sc.apply(vec![property_event(PORTAL, 1, "industry", "SaaS", 1, t)])
        .await;
    sc.apply(vec![property_event(
        PORTAL,
        1,
        "industry",
        "Retail",
        2,
        t - 60_000,
    )])
    .await;
    let c = sc.contact(1).await;
    assert_eq!(c.properties["industry"].v, "SaaS");
    assert_eq!(
        c.score_version, 1,
        "the late value changed nothing HubSpot sees"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_moves_ledgers_and_snapshots_to_the_survivor_and_old_ids_keep_resolving() {
    let sc = PortalScenario::new(PORTAL).await;
    let db = &sc.db;
    let t = now_ms();
    sc.apply(vec![
        property_event(PORTAL, 1, "industry", "SaaS", 1, t),
        property_event(
            PORTAL,
            1,
            "recent_conversion_event_name",
            "Demo request",
            2,
            t,
        ),
        property_event(PORTAL, 2, "jobtitle", "CEO", 3, t),
        property_event(PORTAL, 2, "hs_email_last_click_date", "1700000000000", 4, t),
    ])
    .await;
    // HubSpot's merge creates a new record (3); 1 was the primary, 2 was merged into it.
    let merged = sc
        .apply(vec![merge_event(PORTAL, 1, &[2], Some(3), 5, t + 1)])
        .await;
    assert_eq!(merged.applied, 1);
    for old in [1, 2] {
        assert!(sc.find(old).await.is_none());
        assert!(
            store::outbox::get(&db.pool, portal(), id(old))
                .await
                .unwrap()
                .is_none()
        );
    }
    let s = sc.contact(3).await;
    assert_eq!(s.properties["industry"].v, "SaaS");
    assert_eq!(s.properties["jobtitle"].v, "CEO");
    let rules: Vec<&str> = s.ledger.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(rules, ["demo_request", "email_click"]);
    // 20 (SaaS) + 15 (executive) + 30 (demo) + 5 (click).
    assert_eq!(s.score_total, Some(70));
    assert_eq!(
        store::outbox::get(&db.pool, portal(), id(3))
            .await
            .unwrap()
            .unwrap()
            .0
            .properties["ember_score"],
        "70"
    );

    // A late event for an old id lands on the survivor.
    sc.apply(vec![property_event(PORTAL, 2, "phone", "+1 555", 6, t + 2)])
        .await;
    assert!(sc.find(2).await.is_none());
    let s = sc.contact(3).await;
    assert_eq!(s.properties["phone"].v, "+1 555");
    assert_eq!(s.score_total, Some(73));

    // Merging the survivor again keeps the aliases flat.
    sc.apply(vec![merge_event(PORTAL, 4, &[3], None, 7, t + 3)])
        .await;
    let mut conn = db.pool.acquire().await.unwrap();
    for old in [1, 2, 3] {
        assert_eq!(
            store::aliases::resolve(&mut conn, portal(), id(old))
                .await
                .unwrap(),
            id(4),
            "{old}"
        );
    }
    let s = sc.contact(4).await;
    assert_eq!(s.score_total, Some(73));
    assert!(s.score_version > 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_retires_the_score_and_restore_revives_it() {
    let sc = PortalScenario::new(PORTAL).await;
    let db = &sc.db;
    let t = now_ms();
    sc.apply(vec![property_event(
        PORTAL,
        1,
        "recent_conversion_event_name",
        "Demo request",
        1,
        t,
    )])
    .await;
    let before = sc.contact(1).await;
    assert!(
        before.next_change_at.is_some(),
        "a decaying score has a next change"
    );

    sc.apply(vec![contact_event(
        PORTAL,
        1,
        "contact.deletion",
        2,
        t + 10,
    )])
    .await;
    let deleted = sc.contact(1).await;
    assert_eq!(deleted.status, ContactStatus::Deleted);
    assert_eq!(
        deleted.next_change_at, None,
        "the sweep skips retired scores"
    );
    assert!(
        store::outbox::get(&db.pool, portal(), id(1))
            .await
            .unwrap()
            .is_none()
    );

    // Changes while deleted are kept, but nothing is written to HubSpot.
    sc.apply(vec![property_event(
        PORTAL,
        1,
        "industry",
        "SaaS",
        3,
        t + 20,
    )])
    .await;
    assert!(
        store::outbox::get(&db.pool, portal(), id(1))
            .await
            .unwrap()
            .is_none()
    );
    // A restore older than the deletion loses.
    sc.apply(vec![contact_event(PORTAL, 1, "contact.restore", 4, t + 5)])
        .await;
    assert_eq!(sc.contact(1).await.status, ContactStatus::Deleted);

    sc.apply(vec![contact_event(PORTAL, 1, "contact.restore", 5, t + 30)])
        .await;
    let restored = sc.contact(1).await;
    assert_eq!(restored.status, ContactStatus::Active);
    assert_eq!(
        restored.score_total,
        Some(50),
        "the demo request and the change made while deleted count"
    );
    assert!(restored.next_change_at.is_some());
    let (row, _) = store::outbox::get(&db.pool, portal(), id(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.properties["ember_score"], "50");
    assert!(row.version > before.score_version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_deletion_erases_everything_but_the_dedupe_keys() {
    let sc = PortalScenario::new(PORTAL).await;
    let db = &sc.db;
    let t = now_ms();
    sc.apply(vec![
        property_event(PORTAL, 5, "industry", "SaaS", 1, t),
        property_event(
            PORTAL,
            6,
            "recent_conversion_event_name",
            "Demo request",
            2,
            t,
        ),
        property_event(PORTAL, 8, "industry", "Retail", 3, t),
    ])
    .await;
    // 5 was merged into 6: the alias 5→6 is about the same person.
    sc.apply(vec![merge_event(PORTAL, 6, &[5], None, 4, t + 1)])
        .await;
    let keys_before = ember_tests::worker::processed_count(&db.pool, PORTAL)
        .await
        .unwrap();

    sc.apply(vec![contact_event(
        PORTAL,
        6,
        "contact.privacyDeletion",
        5,
        t + 2,
    )])
    .await;
    // The companion deletion, and a late change for the old id, arrive afterwards.
    sc.apply(vec![
        contact_event(PORTAL, 6, "contact.deletion", 6, t + 2),
        property_event(PORTAL, 5, "jobtitle", "CEO", 7, t - 5),
        property_event(PORTAL, 6, "jobtitle", "CEO", 8, t - 5),
    ])
    .await;

    // Query every table with a contact id column: nothing about 5 or 6 is left.
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name IN ('contact_id', 'old_id', 'current_id') ORDER BY 1, 2",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let tables: Vec<&str> = columns.iter().map(|(t, _)| t.as_str()).collect();
    for t in [
        "contacts",
        "score_outbox",
        "context_requests",
        "contact_aliases",
    ] {
        assert!(tables.contains(&t), "{t} has a contact column");
    }
    for (table, column) in &columns {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE portal_id = $1 AND {column} IN (5, 6)"
        )))
        .bind(PORTAL)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table}.{column} still mentions the erased contact");
    }
    // Nor does any JSON document hold its values.
    let leaks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM contacts WHERE portal_id = $1 AND properties::text LIKE '%CEO%'",
    )
    .bind(PORTAL)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(leaks, 0);
    // The dedupe keys stay (plus the erasure markers and the later events' keys).
    assert!(
        ember_tests::worker::processed_count(&db.pool, PORTAL)
            .await
            .unwrap()
            >= keys_before + 3
    );
    // Another contact is untouched.
    assert!(sc.find(8).await.is_some());
}

fn no_decay_model() -> Model {
    let mut m = Model::default_model();
    m.decay = Decay::None;
    for r in &mut m.engagement {
        r.decay = None;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decay_sweep_rescores_due_contacts_only() {
    let sc = PortalScenario::new(PORTAL).await;
    let db = &sc.db;
    let t = now_ms();
    sc.apply(vec![
        property_event(
            PORTAL,
            1,
            "recent_conversion_event_name",
            "Demo request",
            1,
            t,
        ),
        property_event(PORTAL, 2, "industry", "SaaS", 2, t),
    ])
    .await;
    let c1 = sc.contact(1).await;
    let c2 = sc.contact(2).await;
    let due = c1.next_change_at.unwrap();
    assert_eq!(c2.next_change_at, None, "fit alone never decays");
    let models = ModelCache::new(db.pool.clone(), Duration::from_millis(0)).unwrap();
    assert_eq!(
        ember_worker::decay::sweep_once(&db.pool, &models, due - chrono::Duration::seconds(1), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        ember_worker::decay::sweep_once(&db.pool, &models, due, 100)
            .await
            .unwrap(),
        1
    );
    let after = sc.contact(1).await;
    assert_eq!(
        after.score_total,
        Some(c1.score_total.unwrap() - 1),
        "rounded score moved by one point"
    );
    assert!(after.next_change_at.unwrap() > due);
    let (row, _) = store::outbox::get(&db.pool, portal(), id(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.version, 2);
    assert_eq!(
        row.properties["ember_score"],
        (c1.score_total.unwrap() - 1).to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_model_version_rescores_the_whole_portal() {
    let sc = PortalScenario::new(PORTAL).await;
    let db = &sc.db;
    let t = now_ms();
    let events = (1..=30)
        .map(|c| property_event(PORTAL, c, "industry", "SaaS", c, t))
        .collect();
    sc.apply(events).await;
    let mut model = no_decay_model();
    model.fit.retain(|r| r.id.as_str() != "industry_saas");
    store::models::insert(&db.pool, portal(), 1, &model, "test")
        .await
        .unwrap();
    store::models::activate(&db.pool, portal(), 1)
        .await
        .unwrap();

    let (_tx, rx) = tokio::sync::watch::channel(false);
    assert!(
        ember_worker::decay::rescore_once(&db.pool, "test-worker", 7, &rx)
            .await
            .unwrap()
    );
    let (done_n, total, finished) = store::models::rescore_status(&db.pool, portal(), 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((done_n, total), (30, Some(30)));
    assert!(finished.is_some());
    let on_new: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE portal_id = $1 AND model_version = 1 AND score_total = 0")
        .bind(PORTAL)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(on_new, 30);
    let (row, _) = store::outbox::get(&db.pool, portal(), id(17))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.properties["ember_score"].as_str(), row.version),
        ("0", 2)
    );
    assert!(
        !ember_worker::decay::rescore_once(&db.pool, "test-worker", 7, &rx)
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_dedupe_keys_are_purged_in_batches() {
    let db = TestDb::new().await.unwrap();
    sqlx::query(
        "INSERT INTO processed_events (portal_id, event_key, processed_at) \
         SELECT 1, sha256(i::text::bytea), now() - interval '9 days' FROM generate_series(1, 250) i",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO processed_events (portal_id, event_key, processed_at) \
         SELECT 1, sha256(('new' || i)::bytea), now() - interval '6 days' FROM generate_series(1, 40) i",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let purged = ember_worker::decay::purge_once(&db.pool, chrono::Duration::days(7), 100)
        .await
        .unwrap();
    assert_eq!(purged, 250);
    assert_eq!(
        ember_tests::worker::processed_count(&db.pool, 1)
            .await
            .unwrap(),
        40,
        "keys younger than 7 days stay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_database_refuses_is_isolated_and_the_others_commit() {
    let sc = PortalScenario::new(PORTAL).await;
    let (db, p) = (&sc.db, &sc.processor);
    let t = now_ms();
    // PostgreSQL cannot store U+0000 in jsonb: this value reached the queue without the
    // intake's cleaning.
    let bad = property_event(PORTAL, 3, "industry", "Saa\u{0}S", 23, t);
    let events = vec![
        property_event(PORTAL, 1, "industry", "SaaS", 21, t),
        property_event(PORTAL, 2, "industry", "SaaS", 22, t),
        bad.clone(),
        property_event(PORTAL, 4, "industry", "SaaS", 24, t),
        contact_event(PORTAL, 5, "contact.creation", 25, t),
    ];
    let outcome = p.handle(&batch(PORTAL, events.clone())).await;
    let Outcome::Partial { summary, rejected } = outcome else {
        panic!("expected Partial, got {outcome:?}");
    };
    assert_eq!(summary.applied, 4, "{summary:?}");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].0, bad, "the refused event is the bad one");
    assert!(
        rejected[0].1.contains("database rejected the data"),
        "{}",
        rejected[0].1
    );
    let processed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE portal_id = $1")
            .bind(PORTAL)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        processed, 4,
        "the bad event's dedupe key was rolled back with it"
    );
    for good in [1, 2, 4, 5] {
        assert!(sc.find(good).await.is_some(), "contact {good}");
    }
    assert!(sc.find(3).await.is_none());
    // A redelivery commits nothing new and refuses the same event again.
    let Outcome::Partial { summary, rejected } = p.handle(&batch(PORTAL, events)).await else {
        panic!("expected Partial again");
    };
    assert_eq!(
        (summary.applied, summary.duplicates, rejected.len()),
        (0, 4, 1)
    );
    // The bad event alone (its dead letter, replayed) is refused as a whole message.
    assert!(matches!(
        p.handle(&batch(PORTAL, vec![bad])).await,
        Outcome::Reject(reason) if reason.contains("database rejected the data")
    ));
}

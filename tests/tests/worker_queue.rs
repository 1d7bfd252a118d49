//! Workers against a real RabbitMQ and Postgres: duplicate deliveries to two workers, 1,000
//! events for one contact from four consumers, retries, dead letters and their replay.

use std::time::Duration;

use chrono::Utc;
use ember_core::domain::{EventBatch, ObjectId, PortalId, QueuedEvent};
use ember_core::scoring::Model;
use ember_core::store;
use ember_tests::worker::{
    TestWorker, batch, processed_count, property_event, publish, publish_raw, publisher,
    test_options, wait_for,
};
use ember_tests::{TestBroker, TestDb, test_settings};
use ember_worker::model::ModelCache;
use ember_worker::{Outcome, Processor, WorkerOptions};

async fn use_model(db: &TestDb, portal: i64, model: &Model) {
    ember_tests::worker::use_model(&db.pool, portal, model)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_delivered_ten_times_to_two_workers_counts_once() {
    let db = TestDb::new().await.unwrap();
    let broker = TestBroker::new();
    let settings = test_settings(&db, &broker, "s").unwrap();
    let portal = 4101;
    db.add_portal(portal).await.unwrap();
    let workers = [
        TestWorker::spawn(&settings, test_options()).await.unwrap(),
        TestWorker::spawn(&settings, test_options()).await.unwrap(),
    ];
    let publisher = publisher(&settings).await.unwrap();
    let t = Utc::now().timestamp_millis();
    let events: Vec<QueuedEvent> = (1..=5)
        .map(|c| {
            property_event(
                portal,
                c,
                "recent_conversion_event_name",
                "Demo request",
                100 + c,
                t,
            )
        })
        .collect();
    // Ten deliveries of the same request, published concurrently, plus the same events split
    // differently across messages.
    let copies: Vec<EventBatch> = (0..10).map(|_| batch(portal, events.clone())).collect();
    let split = vec![
        batch(portal, events[..2].to_vec()),
        batch(portal, events[2..].to_vec()),
    ];
    let (a, b) = tokio::join!(publish(&publisher, &copies), publish(&publisher, &split));
    a.unwrap();
    b.unwrap();
    let pool = db.pool.clone();
    wait_for(Duration::from_secs(30), "the queue to drain", || {
        let (broker, pool) = (&broker, &pool);
        async move {
            Ok(broker.depth(&broker.topology.events_queue()).await? == 0
                && processed_count(pool, portal).await? == 5)
        }
    })
    .await
    .unwrap();
    for w in workers {
        w.stop().await.unwrap();
    }
    for c in 1..=5 {
        let record = store::contacts::get(
            &db.pool,
            PortalId::new(portal).unwrap(),
            ObjectId::new(c).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            record.ledger.len(),
            1,
            "contact {c} counted the demo request once"
        );
        assert_eq!(record.score_total, Some(30));
        assert_eq!(record.score_version, 1, "the score changed once");
        let (row, _) = store::outbox::get(
            &db.pool,
            PortalId::new(portal).unwrap(),
            ObjectId::new(c).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            (row.properties["ember_score"].as_str(), row.version),
            ("30", 1)
        );
    }
    assert_eq!(
        broker
            .depth(&broker.topology.dead_letter_queue())
            .await
            .unwrap(),
        0
    );
}

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// 1,000 events for one contact, in random order of occurrence: fit properties overwritten many
/// times, engagement with caps and minimum intervals.
fn thousand_events(portal: i64, contact: i64, base: i64) -> Vec<QueuedEvent> {
    let mut rng = Lcg(42);
    let industries = ["SaaS", "Retail", "Software", "Banking", ""];
    let titles = ["CEO", "VP Sales", "Student", "Manager", "Engineer"];
    (0..1000)
        .map(|i| {
            let at = base + rng.next(9 * 86_400_000) as i64;
            let event_id = 10_000 + i;
            match i % 5 {
                0 => property_event(
                    portal,
                    contact,
                    "industry",
                    industries[rng.next(5) as usize],
                    event_id,
                    at,
                ),
                1 => property_event(
                    portal,
                    contact,
                    "jobtitle",
                    titles[rng.next(5) as usize],
                    event_id,
                    at,
                ),
                2 => property_event(
                    portal,
                    contact,
                    "numberofemployees",
                    &rng.next(300).to_string(),
                    event_id,
                    at,
                ),
                3 => property_event(
                    portal,
                    contact,
                    "hs_email_last_click_date",
                    &at.to_string(),
                    event_id,
                    at,
                ),
                _ => property_event(
                    portal,
                    contact,
                    "recent_conversion_event_name",
                    if rng.next(3) == 0 {
                        "Demo request"
                    } else {
                        "Ebook"
                    },
                    event_id,
                    at,
                ),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_from_four_consumers_score_like_sequential_processing() {
    let db = TestDb::new().await.unwrap();
    let broker = TestBroker::new();
    let settings = test_settings(&db, &broker, "s").unwrap();
    let (concurrent, sequential) = (4201, 4202);
    let model = ember_tests::worker::no_decay_model();
    for p in [concurrent, sequential] {
        db.add_portal(p).await.unwrap();
        use_model(&db, p, &model).await;
    }
    let contact = 42;
    let base = Utc::now().timestamp_millis() - 10 * 86_400_000;

    // Sequential: one message after the other, in one task.
    let models =
        std::sync::Arc::new(ModelCache::new(db.pool.clone(), Duration::from_secs(60)).unwrap());
    let processor = Processor::new(db.pool.clone(), models, 4);
    for chunk in thousand_events(sequential, contact, base).chunks(10) {
        assert!(matches!(
            processor.handle(&batch(sequential, chunk.to_vec())).await,
            Outcome::Done(_)
        ));
    }

    // Concurrent: four workers on the queue, 100 messages of 10 events.
    let options = WorkerOptions {
        prefetch: Some(8),
        ..test_options()
    };
    let mut workers = Vec::new();
    for _ in 0..4 {
        workers.push(TestWorker::spawn(&settings, options.clone()).await.unwrap());
    }
    let publisher = publisher(&settings).await.unwrap();
    let batches: Vec<EventBatch> = thousand_events(concurrent, contact, base)
        .chunks(10)
        .map(|c| batch(concurrent, c.to_vec()))
        .collect();
    publish(&publisher, &batches).await.unwrap();
    let pool = db.pool.clone();
    wait_for(
        Duration::from_secs(60),
        "1,000 events to be processed",
        || {
            let pool = &pool;
            async move { Ok(processed_count(pool, concurrent).await? == 1000) }
        },
    )
    .await
    .unwrap();
    for w in workers {
        w.stop().await.unwrap();
    }

    let get = |p: i64| {
        let pool = db.pool.clone();
        async move {
            store::contacts::get(
                &pool,
                PortalId::new(p).unwrap(),
                ObjectId::new(contact).unwrap(),
            )
            .await
            .unwrap()
            .unwrap()
        }
    };
    let (a, b) = (get(concurrent).await, get(sequential).await);
    assert_eq!(a.properties, b.properties);
    assert_eq!(a.ledger, b.ledger);
    assert_eq!(a.score_values, b.score_values);
    assert_eq!(a.score_total, b.score_total);
    let offline = ember_tests::worker::offline_scores(
        &model,
        &thousand_events(concurrent, contact, base),
        Utc::now(),
    )
    .unwrap();
    let expected = offline[&contact].clone();
    assert_eq!(a.score_values.as_ref(), Some(&expected));
    let (row, _) = store::outbox::get(
        &db.pool,
        PortalId::new(concurrent).unwrap(),
        ObjectId::new(contact).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(row.properties, expected);
    assert_eq!(row.version, a.score_version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_then_dead_lettered_with_their_error_and_can_be_replayed() {
    let db = TestDb::new().await.unwrap();
    let broker = TestBroker::new();
    let settings = test_settings(&db, &broker, "s").unwrap();
    let broken = 4301;
    db.add_portal(broken).await.unwrap();
    // A stored model that cannot be read: a transient failure until someone fixes it.
    sqlx::query("INSERT INTO scoring_models (portal_id, version, document, created_by) VALUES ($1, 1, '{\"version\": 1}', 't')")
        .bind(broken)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO scoring_model_active (portal_id, version) VALUES ($1, 1)")
        .bind(broken)
        .execute(&db.pool)
        .await
        .unwrap();

    let worker = TestWorker::spawn(
        &settings,
        WorkerOptions {
            max_attempts: 2,
            ..test_options()
        },
    )
    .await
    .unwrap();
    let publisher = publisher(&settings).await.unwrap();
    publish_raw(&publisher, broken, b"{not json").await.unwrap();
    let t = Utc::now().timestamp_millis();
    publish(
        &publisher,
        &[batch(
            broken,
            vec![property_event(broken, 1, "industry", "SaaS", 1, t)],
        )],
    )
    .await
    .unwrap();

    let topology = broker.topology.clone();
    wait_for(Duration::from_secs(30), "two dead letters", || {
        let topology = &topology;
        async move {
            Ok(ember_worker::dlq::list(ember_tests::AMQP_URL, topology, 10)
                .await?
                .len()
                == 2)
        }
    })
    .await
    .unwrap();
    let letters = ember_worker::dlq::list(ember_tests::AMQP_URL, &topology, 10)
        .await
        .unwrap();
    // Both name their portal (the routing key carries it, also for a body that is not a batch).
    assert!(
        letters.iter().all(|l| l.portal_id == Some(broken)),
        "{letters:?}"
    );
    let is_garbage = |l: &&ember_worker::dlq::DeadLetter| {
        l.error
            .as_deref()
            .is_some_and(|e| e.contains("not an event batch"))
    };
    let garbage = letters
        .iter()
        .find(is_garbage)
        .expect("the garbage message");
    let retried = letters
        .iter()
        .find(|l| !is_garbage(l))
        .expect("the retried message");
    assert_eq!(garbage.routing_key, format!("portal.{broken}"));
    let error = retried.error.as_deref().unwrap();
    assert!(
        error.contains("invalid") && error.contains("after 2 attempts"),
        "{error}"
    );
    assert_eq!(retried.attempts, Some(2));
    assert_eq!(retried.routing_key, format!("portal.{broken}"));
    assert_eq!(
        processed_count(&db.pool, broken).await.unwrap(),
        0,
        "nothing was half-applied"
    );

    // Fix the portal (back to the default model), then replay: the batch goes through, the
    // garbage comes back.
    sqlx::query("DELETE FROM scoring_model_active WHERE portal_id = $1")
        .bind(broken)
        .execute(&db.pool)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        ember_worker::dlq::replay(ember_tests::AMQP_URL, &topology, None)
            .await
            .unwrap(),
        2
    );
    let pool = db.pool.clone();
    wait_for(
        Duration::from_secs(30),
        "the replayed batch to be processed",
        || {
            let (pool, topology) = (&pool, &topology);
            async move {
                Ok(processed_count(pool, broken).await? == 1
                    && ember_worker::dlq::list(ember_tests::AMQP_URL, topology, 10)
                        .await?
                        .len()
                        == 1)
            }
        },
    )
    .await
    .unwrap();
    worker.stop().await.unwrap();
    let c = store::contacts::get(
        &db.pool,
        PortalId::new(broken).unwrap(),
        ObjectId::new(1).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(c.score_total, Some(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_the_database_refuses_is_dead_lettered_alone_and_the_rest_of_its_message_commits()
{
    let db = TestDb::new().await.unwrap();
    let broker = TestBroker::new();
    let settings = test_settings(&db, &broker, "s").unwrap();
    let portal = 4401;
    db.add_portal(portal).await.unwrap();
    let worker = TestWorker::spawn(&settings, test_options()).await.unwrap();
    let publisher = publisher(&settings).await.unwrap();
    let t = Utc::now().timestamp_millis();
    // Published directly, past the intake's cleaning: a NUL that PostgreSQL cannot store.
    let bad = property_event(portal, 3, "industry", "Saa\u{0}S", 3, t);
    let message = batch(
        portal,
        vec![
            property_event(portal, 1, "industry", "SaaS", 1, t),
            property_event(portal, 2, "industry", "SaaS", 2, t),
            bad.clone(),
            property_event(portal, 4, "industry", "SaaS", 4, t),
        ],
    );
    publish(&publisher, std::slice::from_ref(&message))
        .await
        .unwrap();

    let topology = broker.topology.clone();
    let pool = db.pool.clone();
    wait_for(
        Duration::from_secs(30),
        "three events and one dead letter",
        || {
            let (pool, topology) = (&pool, &topology);
            async move {
                Ok(processed_count(pool, portal).await? == 3
                    && !ember_worker::dlq::list(ember_tests::AMQP_URL, topology, 10)
                        .await?
                        .is_empty())
            }
        },
    )
    .await
    .unwrap();
    worker.stop().await.unwrap();
    let letters = ember_worker::dlq::list(ember_tests::AMQP_URL, &topology, 10)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1, "exactly one dead letter: {letters:?}");
    assert_eq!(letters[0].events, Some(1), "holding one event");
    assert_eq!(letters[0].routing_key, format!("portal.{portal}"));
    assert!(
        letters[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("database rejected the data")),
        "{letters:?}"
    );
    let dead = broker
        .drain_queue(&topology.dead_letter_queue())
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].events, vec![bad], "just the bad event");
    assert_eq!(
        dead[0].request_id, message.request_id,
        "of the same request"
    );
    for good in [1, 2, 4] {
        let c = store::contacts::get(
            &db.pool,
            PortalId::new(portal).unwrap(),
            ObjectId::new(good).unwrap(),
        )
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("contact {good} was processed"));
        assert_eq!(c.score_total, Some(20));
    }
    assert_eq!(broker.depth(&topology.events_queue()).await.unwrap(), 0);
}

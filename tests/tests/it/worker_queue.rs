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
        prefetch: 8,
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
    break_model(&db, broken).await;

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

/// Makes every message of `portal` fail transiently: its active model is a stored document the
/// worker cannot read (a retry, since someone may fix it).
async fn break_model(db: &TestDb, portal: i64) {
    sqlx::query("INSERT INTO scoring_models (portal_id, version, document, created_by) VALUES ($1, 1, '{\"version\": 1}', 't')")
        .bind(portal)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO scoring_model_active (portal_id, version) VALUES ($1, 1)")
        .bind(portal)
        .execute(&db.pool)
        .await
        .unwrap();
}

/// Ready messages per queue, read over one connection (a passive declare per queue).
struct Depths {
    connection: lapin::Connection,
}

impl Depths {
    async fn open() -> Self {
        let connection = lapin::Connection::connect(ember_tests::AMQP_URL, Default::default())
            .await
            .unwrap();
        Self { connection }
    }

    async fn of(&self, queues: &[String]) -> Vec<u32> {
        let channel = self.connection.create_channel().await.unwrap();
        let mut depths = Vec::with_capacity(queues.len());
        for queue in queues {
            let q = channel
                .queue_declare(
                    queue.as_str().into(),
                    lapin::options::QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    lapin::types::FieldTable::default(),
                )
                .await
                .unwrap();
            depths.push(q.message_count());
        }
        let _ = channel.close(200, "read".into()).await;
        depths
    }
}

/// How many times RabbitMQ dead-lettered a message out of each queue, from its `x-death` header.
fn deaths_by_queue(headers: &lapin::types::FieldTable) -> std::collections::BTreeMap<String, i64> {
    use lapin::types::AMQPValue;
    let mut counts = std::collections::BTreeMap::new();
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get("x-death") else {
        return counts;
    };
    for death in deaths.as_slice() {
        let AMQPValue::FieldTable(death) = death else {
            continue;
        };
        let queue = match death.inner().get("queue") {
            Some(AMQPValue::LongString(q)) => q.to_string(),
            other => panic!("x-death without a queue: {other:?}"),
        };
        let count = death
            .inner()
            .get("count")
            .and_then(ember_core::queue::dead_letters::int_value)
            .unwrap_or(0);
        *counts.entry(queue).or_default() += count;
    }
    counts
}

/// Issue 13: the retry exchange once routed on an `x-` header, which RabbitMQ ignores, so every
/// retry landed in every tier at once (4 copies per attempt). A message that keeps failing must
/// visit exactly the tiers of its ladder, one copy at a time, wait each tier's delay, and reach
/// the dead-letter queue exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_message_climbs_the_retry_ladder_one_copy_at_a_time() {
    use std::time::Instant;
    let delays = [400u32, 800, 1_600];
    let db = TestDb::new().await.unwrap();
    let broker = TestBroker::with_retry_delays(&delays);
    let settings = test_settings(&db, &broker, "s").unwrap();
    let portal = 4302;
    db.add_portal(portal).await.unwrap();
    break_model(&db, portal).await;
    // A broker that ran Ember 0.1 has tier bindings on the `x-` header, which match every
    // message: the worker's declaration must remove them.
    {
        let connection = broker.connect().await.unwrap();
        let channel = connection.create_channel().await.unwrap();
        ember_core::queue::declare_topology(&channel, &broker.topology)
            .await
            .unwrap();
        for tier in broker.topology.retry_tiers() {
            let mut legacy = lapin::types::FieldTable::default();
            legacy.insert(
                "x-match".into(),
                lapin::types::AMQPValue::LongString("all".into()),
            );
            legacy.insert(
                "x-ember-retry-tier".into(),
                lapin::types::AMQPValue::LongString(tier.name.as_str().into()),
            );
            channel
                .queue_bind(
                    broker.topology.retry_queue(tier).as_str().into(),
                    broker.topology.retry_exchange().as_str().into(),
                    "".into(),
                    Default::default(),
                    legacy,
                )
                .await
                .unwrap();
        }
        connection.close(200, "done".into()).await.unwrap();
    }
    // Five attempts: retries 1–4 wait 400 ms, 800 ms, 1.6 s and 1.6 s; the fifth failure is final.
    let worker = TestWorker::spawn(
        &settings,
        WorkerOptions {
            max_attempts: 5,
            ..test_options()
        },
    )
    .await
    .unwrap();

    let tiers: Vec<String> = broker
        .topology
        .retry_tiers()
        .iter()
        .map(|tier| broker.topology.retry_queue(tier))
        .collect();
    let mut watched = tiers.clone();
    watched.push(broker.topology.events_queue());
    watched.push(broker.topology.dead_letter_queue());
    let dead_index = watched.len() - 1;
    let depths = Depths::open().await;

    let publisher = publisher(&settings).await.unwrap();
    let t = Utc::now().timestamp_millis();
    publish(
        &publisher,
        &[batch(
            portal,
            vec![property_event(portal, 1, "industry", "SaaS", 1, t)],
        )],
    )
    .await
    .unwrap();
    let published = Instant::now();

    // Poll every queue. Record each stay in a tier queue (first poll that sees the message
    // there, first poll that no longer does) and the most copies seen at once.
    let mut most_copies = 0u32;
    let mut entered: Vec<Option<Instant>> = vec![None; tiers.len()];
    let mut stays: Vec<(usize, Duration)> = Vec::new();
    let mut dead_since: Option<Instant> = None;
    loop {
        let now_depths = depths.of(&watched).await;
        let now = Instant::now();
        most_copies = most_copies.max(now_depths.iter().sum());
        for (i, depth) in now_depths[..tiers.len()].iter().enumerate() {
            match (entered[i], *depth > 0) {
                (None, true) => entered[i] = Some(now),
                (Some(since), false) => {
                    stays.push((i, now - since));
                    entered[i] = None;
                }
                _ => {}
            }
        }
        if now_depths[dead_index] > 0 && dead_since.is_none() {
            dead_since = Some(now);
        }
        // Once dead-lettered, keep watching for 2 s: stray copies would still be on the ladder.
        if dead_since.is_some_and(|since| since.elapsed() > Duration::from_secs(2)) {
            break;
        }
        assert!(
            published.elapsed() < Duration::from_secs(60),
            "no dead letter after 60 s; stays so far {stays:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.stop().await.unwrap();
    let to_dead_letter = dead_since.unwrap() - published;

    assert_eq!(most_copies, 1, "one message never becomes several");
    let final_depths = depths.of(&watched).await;
    assert_eq!(
        final_depths,
        [0, 0, 0, 0, 1],
        "{watched:?}: nothing left on the ladder, one dead letter"
    );
    // Each tier held the message for at least its delay (polls are 20 ms apart, so a stay
    // looks at most one poll shorter than it was).
    let first_stays: Vec<usize> = stays.iter().map(|(i, _)| *i).collect();
    assert!(
        first_stays.starts_with(&[0, 1, 2]),
        "tiers visited in ladder order: {stays:?}"
    );
    for (i, stay) in &stays {
        let ttl = Duration::from_millis(u64::from(delays[*i]));
        assert!(
            *stay + Duration::from_millis(100) >= ttl,
            "tier {} held the message {stay:?}, less than its {ttl:?}",
            tiers[*i]
        );
    }
    let ladder: u32 = 400 + 800 + 1_600 + 1_600;
    assert!(
        to_dead_letter >= Duration::from_millis(u64::from(ladder)),
        "dead-lettered after {to_dead_letter:?}, before the {ladder} ms ladder ended"
    );
    println!("tier stays {stays:?}; dead-lettered after {to_dead_letter:?} (ladder {ladder} ms)");

    // The broker's own record agrees: expired once from the first two tiers, twice from the
    // last, and nothing else.
    let connection = depths.connection;
    let channel = connection.create_channel().await.unwrap();
    let letter = channel
        .basic_get(
            broker.topology.dead_letter_queue().as_str().into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
        .expect("the dead letter");
    let headers = letter.properties.headers().clone().unwrap_or_default();
    let deaths = deaths_by_queue(&headers);
    let expected: std::collections::BTreeMap<String, i64> = [
        (tiers[0].clone(), 1),
        (tiers[1].clone(), 1),
        (tiers[2].clone(), 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(deaths, expected);
    assert_eq!(
        headers
            .inner()
            .get(ember_worker::runner::ATTEMPTS_HEADER)
            .and_then(ember_core::queue::dead_letters::int_value),
        Some(5)
    );
    assert_eq!(processed_count(&db.pool, portal).await.unwrap(), 0);
}

/// Issue 13: Postgres unreachable for 15 s under traffic (the worker reaches it through a proxy
/// that is cut) ends with every event processed once, nothing dead-lettered, and nothing left
/// on the retry ladder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_seconds_without_postgres_under_traffic_lose_and_dead_letter_nothing() {
    use std::time::Instant;
    let db = TestDb::new().await.unwrap();
    // A short ladder keeps the test short; with the worker's 8 attempts it still spans 27 s.
    let broker = TestBroker::with_retry_delays(&[500, 2_000, 5_000]);
    let mut settings = test_settings(&db, &broker, "s").unwrap();
    let proxy = ember_tests::CutProxy::start("127.0.0.1:5432")
        .await
        .unwrap();
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    settings.database.url = url.to_string();
    settings.database.acquire_timeout_secs = 2;
    let portals = [4311i64, 4312, 4313];
    for p in portals {
        db.add_portal(p).await.unwrap();
        use_model(&db, p, &ember_tests::worker::no_decay_model()).await;
    }
    let worker = TestWorker::spawn(&settings, test_options()).await.unwrap();
    let publisher = publisher(&settings).await.unwrap();
    let depths = Depths::open().await;
    let tiers: Vec<String> = broker
        .topology
        .retry_tiers()
        .iter()
        .map(|tier| broker.topology.retry_queue(tier))
        .collect();

    // 24 s of traffic, one batch of 5 events per portal every 400 ms; Postgres is cut from
    // 4 s to 19 s.
    let started = Instant::now();
    let t0 = Utc::now().timestamp_millis();
    let mut sent = 0i64;
    let mut most_on_ladder_during_cut = 0u32;
    let mut cut = false;
    let mut restored = false;
    while started.elapsed() < Duration::from_secs(24) {
        let elapsed = started.elapsed();
        if !cut && elapsed >= Duration::from_secs(4) {
            proxy.cut();
            cut = true;
        }
        if cut && !restored && elapsed >= Duration::from_secs(19) {
            proxy.restore();
            restored = true;
        }
        let batches: Vec<EventBatch> = portals
            .iter()
            .map(|&p| {
                let events = (0..5)
                    .map(|i| {
                        let n = sent + i;
                        property_event(
                            p,
                            1 + n % 7,
                            "jobtitle",
                            &format!("title {n}"),
                            1 + n,
                            t0 + n,
                        )
                    })
                    .collect();
                batch(p, events)
            })
            .collect();
        publish(&publisher, &batches).await.unwrap();
        sent += 5;
        if cut && !restored {
            let on_ladder: u32 = depths.of(&tiers).await.iter().sum();
            most_on_ladder_during_cut = most_on_ladder_during_cut.max(on_ladder);
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(
        most_on_ladder_during_cut > 0,
        "the outage made messages wait on the retry ladder"
    );

    let pool = db.pool.clone();
    wait_for(Duration::from_secs(90), "every event processed", || {
        let pool = &pool;
        async move {
            let mut total = 0;
            for p in portals {
                total += processed_count(pool, p).await?;
            }
            Ok(total == sent * portals.len() as i64)
        }
    })
    .await
    .unwrap();
    // Stragglers would show up here: duplicates on the ladder or in the dead-letter queue.
    tokio::time::sleep(Duration::from_secs(1)).await;
    worker.stop().await.unwrap();
    for p in portals {
        assert_eq!(
            processed_count(&db.pool, p).await.unwrap(),
            sent,
            "portal {p}"
        );
    }
    let mut all = tiers.clone();
    all.push(broker.topology.events_queue());
    all.push(broker.topology.dead_letter_queue());
    assert_eq!(
        depths.of(&all).await,
        vec![0; all.len()],
        "{all:?}: nothing waiting, nothing dead-lettered"
    );
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

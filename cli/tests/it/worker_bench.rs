//! Benchmark (ignored by default): sustained events/s through ONE `ember worker` process with
//! the local Postgres and RabbitMQ, HubSpot-sized messages of 100 events, and the context
//! requests the traffic causes.
//!
//! cargo test -p ember --release --test it worker_bench:: -- --ignored --nocapture
//! (BENCH_MESSAGES=2000 to change the backlog; BENCH_PREFETCH / BENCH_DB_CONNECTIONS to tune.)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use ember_core::domain::EventBatch;
use ember_tests::worker::{batch, processed_count, property_event, publish, publisher};
use ember_tests::{TestBroker, TestDb, test_settings};

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

const PORTALS: i64 = 10;
const CONTACTS_PER_PORTAL: u64 = 20_000;

/// Realistic-ish traffic: 10 portals, 20,000 contacts each, skewed so that a minority of contacts
/// gets most events; property changes of fit properties and engagement signals.
fn traffic(messages: usize) -> Vec<EventBatch> {
    let mut rng = Lcg(99);
    let now = Utc::now().timestamp_millis();
    let props = [
        "industry",
        "jobtitle",
        "numberofemployees",
        "hs_email_last_click_date",
        "recent_conversion_event_name",
        "email",
        "lifecyclestage",
    ];
    let values = [
        "SaaS",
        "CEO",
        "120",
        "1",
        "Demo request",
        "x@example.com",
        "lead",
    ];
    let mut event_id = 1i64;
    (0..messages)
        .map(|m| {
            let portal = 1 + (m as i64 % PORTALS);
            let events = (0..100)
                .map(|_| {
                    // Half the events go to the 10% "hot" contacts.
                    let contact = if rng.next(2) == 0 {
                        1 + rng.next(CONTACTS_PER_PORTAL / 10)
                    } else {
                        1 + rng.next(CONTACTS_PER_PORTAL)
                    };
                    let p = rng.next(props.len() as u64) as usize;
                    event_id += 1;
                    property_event(
                        portal,
                        contact as i64,
                        props[p],
                        values[p],
                        event_id,
                        now - rng.next(86_400_000) as i64,
                    )
                })
                .collect();
            batch(portal, events)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
async fn worker_throughput() {
    let messages: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let prefetch = std::env::var("BENCH_PREFETCH").unwrap_or_else(|_| "32".into());
    let connections = std::env::var("BENCH_DB_CONNECTIONS").unwrap_or_else(|_| "10".into());
    let db = TestDb::new().await.unwrap();
    let broker = TestBroker::new();
    let settings = test_settings(&db, &broker, "s").unwrap();
    for p in 1..=PORTALS {
        db.add_portal(p).await.unwrap();
    }
    let batches = traffic(messages);
    let events = messages as i64 * 100;
    let publisher = publisher(&settings).await.unwrap();
    let t = Instant::now();
    publish(&publisher, &batches).await.unwrap();
    eprintln!(
        "published {messages} messages ({events} events) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut worker = Command::new(env!("CARGO_BIN_EXE_ember"))
        .arg("worker")
        .arg("--no-periodic-jobs")
        .env("EMBER_DATABASE__URL", &db.url)
        .env("EMBER_DATABASE__MAX_CONNECTIONS", &connections)
        .env("EMBER_AMQP__PREFIX", &broker.prefix)
        .env("EMBER_AMQP__PREFETCH", &prefetch)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Measure from the first committed event to the last, so start-up is not counted.
    let mut first = None;
    let mut samples = Vec::new();
    loop {
        let done = processed_count(&db.pool, 1).await.unwrap();
        let total = {
            let mut n = 0;
            for p in 1..=PORTALS {
                n += processed_count(&db.pool, p).await.unwrap();
            }
            n
        };
        let _ = done;
        if total > 0 && first.is_none() {
            first = Some((Instant::now(), total));
        }
        if let Some((at, _)) = first {
            samples.push((at.elapsed().as_secs_f64(), total));
        }
        if total >= events {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (start, at_start) = first.unwrap();
    let secs = start.elapsed().as_secs_f64();
    let rate = (events - at_start) as f64 / secs;
    worker.kill().unwrap();
    worker.wait().unwrap();

    let requests: i64 = sqlx::query_scalar("SELECT count(*) FROM context_requests")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let contacts: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM score_outbox")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    // Batch reads of up to 100 ids per portal: at most ceil(requests_p / 100) calls per portal.
    let per_portal: Vec<i64> =
        sqlx::query_scalar("SELECT count(*) FROM context_requests GROUP BY portal_id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let calls: i64 = per_portal.iter().map(|n| (n + 99) / 100).sum();
    let mid: Vec<String> = samples
        .iter()
        .step_by((samples.len() / 8).max(1))
        .map(|(t, n)| format!("{t:.1}s:{n}"))
        .collect();
    eprintln!("progress samples: {}", mid.join(" "));
    eprintln!(
        "WORKER BENCH: {events} events in {messages} messages of 100 (prefetch {prefetch}, {connections} db connections): \
         {rate:.0} events/s ({:.0} messages/s) over {secs:.1} s",
        rate / 100.0
    );
    eprintln!(
        "contacts {contacts}, outbox rows {outbox}, context requests {requests} ({:.4} per event); \
         batch-read calls if drained once: {calls} ({:.5} per event)",
        requests as f64 / events as f64,
        calls as f64 / events as f64
    );
}

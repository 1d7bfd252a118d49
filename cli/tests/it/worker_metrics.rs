//! The worker's `/metrics`: the counters of what it did (events applied and dropped as
//! duplicates) and the portals-by-status gauge that pages someone when a portal needs re-auth.
//! An `ember worker` OS process of its own, because the Prometheus recorder is process-wide:
//! no other test's events can reach its counters.

use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use ember_tests::worker::{batch, processed_count, property_event, publish, publisher};
use ember_tests::{TestBroker, TestDb, reserve_port, test_settings};

use crate::e2e_support::wait_until;

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_applied_and_duplicate_events_and_portals_needing_reauth() {
    let db = TestDb::new().await.unwrap();
    let broker = TestBroker::new();
    let settings = test_settings(&db, &broker, "s").unwrap();
    let (healthy, revoked) = (5201, 5202);
    db.add_portal(healthy).await.unwrap();
    db.add_portal(revoked).await.unwrap();
    sqlx::query("UPDATE portals SET status = 'needs_reauth' WHERE portal_id = $1")
        .bind(revoked)
        .execute(&db.pool)
        .await
        .unwrap();

    let port = reserve_port();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_ember"))
        .env("EMBER_DATABASE__URL", &db.url)
        .env("EMBER_AMQP__PREFIX", &broker.prefix)
        .env("RUST_LOG", "warn")
        .args(["worker", "--no-writeback", "--no-context-fetch"])
        .args(["--metrics-port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let client = reqwest::Client::new();
    let scrape = || async { anyhow::Ok(client.get(&url).send().await?.text().await?) };
    // The worker is up once it serves its metrics and consumes from its queue.
    wait_until(
        Duration::from_secs(30),
        "the worker's metrics listener",
        || async {
            Ok(scrape().await.is_ok()
                && broker.depth(&broker.topology.events_queue()).await.is_ok())
        },
    )
    .await
    .unwrap();

    let t = Utc::now().timestamp_millis();
    let events: Vec<_> = (1..=4)
        .map(|c| property_event(healthy, c, "jobtitle", "CEO", 10 + c, t))
        .collect();
    let publisher = publisher(&settings).await.unwrap();
    // The same request twice: four events applied, four dropped as duplicates.
    publish(
        &publisher,
        &[batch(healthy, events.clone()), batch(healthy, events)],
    )
    .await
    .unwrap();
    wait_until(
        Duration::from_secs(30),
        "both messages processed",
        || async {
            Ok(broker.depth(&broker.topology.events_queue()).await? == 0
                && processed_count(&db.pool, healthy).await? == 4)
        },
    )
    .await
    .unwrap();
    wait_until(
        Duration::from_secs(30),
        "the duplicates counted",
        || async {
            let text = scrape().await?;
            Ok(sample(&text, "ember_worker_events_total{result=\"duplicate\"}") == Some(4.0))
        },
    )
    .await
    .unwrap();
    // The portals gauge is refreshed periodically: wait for it to show both portals.
    wait_until(Duration::from_secs(30), "the portals gauge", || async {
        let text = scrape().await?;
        Ok(sample(&text, "ember_portals{status=\"needs_reauth\"}") == Some(1.0))
    })
    .await
    .unwrap();
    let text = scrape().await.unwrap();
    assert_eq!(
        sample(&text, "ember_worker_events_total{result=\"applied\"}"),
        Some(4.0),
        "{text}"
    );
    assert_eq!(sample(&text, "ember_portals{status=\"active\"}"), Some(1.0));
    assert_eq!(
        sample(&text, "ember_portals{status=\"uninstalled\"}"),
        Some(0.0)
    );
    let health = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // SIGTERM: the worker stops, and its metrics listener with it.
    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || worker.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "the worker exits cleanly on SIGTERM: {status}"
    );
    assert!(
        client.get(&url).send().await.is_err(),
        "the metrics listener stops with the worker"
    );
}

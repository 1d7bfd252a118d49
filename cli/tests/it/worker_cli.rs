//! `ember worker` stops gracefully on SIGTERM; `ember dlq list|replay` show and replay dead letters.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use ember_tests::worker::{
    batch, processed_count, property_event, publish, publish_raw, publisher,
};
use ember_tests::{TestBroker, TestDb, test_settings};

fn ember(db: &TestDb, broker: &TestBroker) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ember"));
    c.env("EMBER_DATABASE__URL", &db.url)
        .env("EMBER_AMQP__PREFIX", &broker.prefix)
        .env("RUST_LOG", "warn");
    c
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_worker_and_dlq_lists_and_replays() {
    let db = TestDb::new().await.unwrap();
    let broker = TestBroker::new();
    let settings = test_settings(&db, &broker, "s").unwrap();
    let portal = 5101;
    db.add_portal(portal).await.unwrap();
    let mut worker = ember(&db, &broker)
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let publisher = publisher(&settings).await.unwrap();
    // Wait for the worker's consumer.
    let start = Instant::now();
    while broker.depth(&broker.topology.events_queue()).await.is_err()
        && start.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    publish_raw(&publisher, portal, b"garbage").await.unwrap();
    let start = Instant::now();
    while processed_count(&db.pool, portal).await.unwrap() < 1
        || broker
            .depth(&broker.topology.dead_letter_queue())
            .await
            .unwrap_or(0)
            < 1
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the worker did not process the messages"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let term = Command::new("kill")
        .arg("-TERM")
        .arg(worker.id().to_string())
        .status()
        .unwrap();
    assert!(term.success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the worker did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "graceful stop exits 0, got {status:?}");

    let list = ember(&db, &broker).args(["dlq", "list"]).output().unwrap();
    assert!(list.status.success());
    let text = stdout(&list);
    assert!(text.contains("1 dead letter(s)"), "{text}");
    assert!(text.contains("not an event batch"), "{text}");
    assert!(
        text.contains(&format!("routing_key=portal.{portal}")),
        "{text}"
    );
    let json = ember(&db, &broker)
        .args(["dlq", "list", "--json"])
        .output()
        .unwrap();
    let letter: serde_json::Value =
        serde_json::from_str(stdout(&json).lines().next().unwrap()).unwrap();
    assert_eq!(letter["attempts"], 0);

    let replay = ember(&db, &broker)
        .args(["dlq", "replay"])
        .output()
        .unwrap();
    assert!(
        stdout(&replay).contains("replayed 1 dead letter(s)"),
        "{}",
        stdout(&replay)
    );
    assert_eq!(
        broker
            .depth(&broker.topology.dead_letter_queue())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        broker.depth(&broker.topology.events_queue()).await.unwrap(),
        1,
        "back on the events queue"
    );
}

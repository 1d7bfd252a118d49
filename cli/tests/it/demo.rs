//! `ember demo` as a person runs it, off a terminal: the built binary against the local
//! PostgreSQL, RabbitMQ and Redis. A short run must print its plain log lines, a summary in which
//! every portal received events and got scores written back, and "consistency: OK", exit 0, and
//! leave no database, queue or Redis key behind. A missing service is named, with how to start
//! it, before anything starts: exit code 2, no panic.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use ember_tests::{AMQP_URL, POSTGRES_ADMIN_URL, REDIS_URL, reserve_port};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

fn ember(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(args)
        // The demo chooses its own names and secrets; none may come from the test's environment.
        .env_remove("EMBER_DATABASE__URL")
        .env_remove("EMBER_AMQP__PREFIX")
        .env_remove("EMBER_REDIS__PREFIX")
        .env_remove("RUST_LOG")
        .output()
        .expect("the ember binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The text between `start` and the next `end` on the line that contains `start`.
fn between<'a>(stdout: &'a str, start: &str, end: &str) -> &'a str {
    let from = stdout
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{stdout}"))
        + start.len();
    let rest = &stdout[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// The summary table: one map of column → value per portal row.
fn summary_rows(stdout: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("Summary:"));
    lines.next().expect("a summary");
    let header: Vec<String> = lines
        .next()
        .expect("a header")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(header.first().map(String::as_str), Some("portal"));
    lines
        .take_while(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split_whitespace().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn number(row: &BTreeMap<String, String>, column: &str) -> u64 {
    row.get(column)
        .unwrap_or_else(|| panic!("no {column} in {row:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{column} is not a number in {row:?}"))
}

#[tokio::test]
async fn a_short_demo_installs_scores_writes_back_checks_and_removes_what_it_created() {
    let output = ember(&[
        "demo",
        "--duration",
        "8",
        "--portals",
        "2",
        "--contacts",
        "300",
        "--exit",
    ]);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Two portals installed through OAuth.
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("Installed Ember into portal "))
            .count(),
        2,
        "{stdout}"
    );

    // Off a terminal: plain log lines, per portal and for the pipeline.
    let portal_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with('[') && l.contains("] portal ") && l.contains(": events "))
        .collect();
    assert!(
        portal_lines.len() >= 2,
        "no per-portal log lines:\n{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.contains("] pipeline: queue ")),
        "{stdout}"
    );

    // The summary: every portal received events and got scores written back, every unique
    // event was processed, HubSpot never answered 429.
    let rows = summary_rows(&stdout);
    assert_eq!(rows.len(), 2, "{stdout}");
    for row in &rows {
        assert!(number(row, "events") > 0, "{row:?}");
        assert!(number(row, "written") > 0, "{row:?}");
        assert_eq!(number(row, "processed"), number(row, "unique"), "{row:?}");
        assert_eq!(number(row, "429s"), 0, "{row:?}");
    }
    assert_eq!(
        stdout.matches("Top leads of portal ").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("consistency: OK"), "{stdout}");
    assert!(stdout.contains("legacy HubSpot paths: 0 calls"), "{stdout}");
    assert!(stdout.contains("Console: http://127.0.0.1:"), "{stdout}");

    // Nothing left behind: database, queues, Redis keys.
    let database = between(&stdout, "Database ", " (").to_owned();
    let prefix = between(&stdout, "queues and Redis keys under ", " (").to_owned();
    assert!(database.starts_with("ember_demo_"), "{database}");
    assert!(
        stdout.contains(&format!("Dropped database {database}.")),
        "{stdout}"
    );

    let admin = sqlx::PgPool::connect(POSTGRES_ADMIN_URL).await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&database)
            .fetch_one(&admin)
            .await
            .unwrap();
    assert!(!exists, "database {database} still exists");

    let broker = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .unwrap();
    for queue in ember_tests::queues_with_prefix(&prefix) {
        // A passive declare of a missing queue fails (and closes its channel).
        let channel = broker.create_channel().await.unwrap();
        let declared = channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        assert!(declared.is_err(), "queue {queue} still exists");
    }
    let _ = broker.close(200, "done".into()).await;

    let redis = deadpool_redis::Config::from_url(REDIS_URL)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let mut conn = redis.get().await.unwrap();
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(keys.is_empty(), "Redis keys left: {keys:?}");
}

#[test]
fn without_rabbitmq_the_demo_says_how_to_start_it_and_exits_2_before_starting_anything() {
    let port = reserve_port();
    let amqp_url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let output = ember(&["demo", "--amqp-url", &amqp_url, "--exit"]);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "RabbitMQ at 127.0.0.1:{port} refused the connection; start it with `rabbitmq-server -detached`"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
    // Nothing was started or created.
    assert!(!stdout.contains("Database "), "{stdout}");
    assert!(!stdout.contains("Started"), "{stdout}");
}

#[test]
fn every_missing_service_is_named_at_once() {
    let (postgres, redis) = (reserve_port(), reserve_port());
    let output = ember(&[
        "demo",
        "--database-url",
        &format!("postgres://postgres@127.0.0.1:{postgres}/ember_demo_missing"),
        "--redis-url",
        &format!("redis://127.0.0.1:{redis}"),
        "--exit",
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "PostgreSQL at 127.0.0.1:{postgres} refused the connection; start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "Redis at 127.0.0.1:{redis} refused the connection; start it with `redis-server"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("RabbitMQ"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_arguments_are_refused_with_the_flag_named() {
    let output = ember(&["demo", "--portals", "0"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--portals"), "{stderr}");

    let output = ember(&["demo", "--database-url", "not a url", "--exit"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("database"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

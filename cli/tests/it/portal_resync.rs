//! `ember portal resync` as an operator runs it: a Service Key portal in the simulator is
//! resynced with a progress line per page and a summary, `ember portal list` then shows
//! `done N`; an unknown or uninstalled portal exits with code 2 and a message, with nothing
//! written.

use std::process::{Command, Output};

use base64::Engine;
use ember_tests::{TestBroker, TestDb};
use hubspot_sim::{AppType, PortalSpec, SimConfig, SimServer};

const KEY: [u8; 32] = [4; 32];

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn resync_rows(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM portal_resyncs")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_is_resynced_with_progress_and_bad_portals_exit_2() {
    let db = TestDb::new().await.unwrap();
    // Owns the Redis prefix of the limiter's keys.
    let broker = TestBroker::new();
    let sim = SimServer::start(SimConfig::default()).await.unwrap();
    let app = sim.app();
    let ember = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ember"))
            .env("EMBER_DATABASE__URL", &db.url)
            .env("EMBER_REDIS__PREFIX", &broker.prefix)
            .env("EMBER_HUBSPOT__API_BASE_URL", sim.base_url())
            .env("EMBER_HUBSPOT__AUTH_BASE_URL", sim.base_url())
            .env("EMBER_HUBSPOT__CLIENT_ID", &app.client_id)
            .env("EMBER_HUBSPOT__CLIENT_SECRET", &app.client_secret)
            .env(
                "EMBER_ENCRYPTION_KEY",
                base64::engine::general_purpose::STANDARD.encode(KEY),
            )
            .env("RUST_LOG", "warn")
            .args(args)
            .output()
            .unwrap()
    };

    let unknown = ember(&["portal", "resync", "424242"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("portal 424242 is not known"),
        "{}",
        text(&unknown)
    );
    let not_a_number = ember(&["portal", "resync", "abc"]);
    assert_eq!(not_a_number.status.code(), Some(2), "clap refuses it");
    assert!(text(&not_a_number).contains("invalid value 'abc'"));

    let info = sim.control().create_portal(PortalSpec {
        contacts: 130,
        app_type: AppType::private_tier(190),
        ..PortalSpec::default()
    });
    let key = sim.control().issue_service_key(info.id).unwrap();
    let dir = std::env::temp_dir().join(ember_tests::unique_name("portal-resync"));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("service-key");
    std::fs::write(&key_file, &key).unwrap();
    let portal = info.id.to_string();
    let add = ember(&[
        "portal",
        "add",
        "--portal-id",
        &portal,
        "--service-key",
        key_file.to_str().unwrap(),
        "--tier",
        "190",
    ]);
    assert!(add.status.success(), "{}", text(&add));

    let before = ember(&["portal", "list"]);
    assert!(text(&before).contains("resync"), "{}", text(&before));

    let run = ember(&["portal", "resync", &portal]);
    assert!(run.status.success(), "{}", text(&run));
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        out.contains("page 1: 100 read, 100 scored, 100 outbox rows written"),
        "{out}"
    );
    assert!(
        out.contains("page 2: 130 read, 130 scored, 130 outbox rows written"),
        "{out}"
    );
    assert!(
        out.contains("done: 2 pages, 130 contacts read, 130 scored, 130 outbox rows written"),
        "{out}"
    );
    let scored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM contacts WHERE portal_id = $1 AND score_values IS NOT NULL",
    )
    .bind(info.id as i64)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(scored, 130);
    let list = ember(&["portal", "list"]);
    let line = String::from_utf8_lossy(&list.stdout)
        .lines()
        .find(|l| l.starts_with(&portal))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(line.contains("done 130"), "{}", text(&list));

    // Uninstalled: refused, nothing started.
    sqlx::query("UPDATE portals SET status = 'uninstalled' WHERE portal_id = $1")
        .bind(info.id as i64)
        .execute(&db.pool)
        .await
        .unwrap();
    let rows = resync_rows(&db).await;
    let refused = ember(&["portal", "resync", &portal, "--restart"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("has uninstalled Ember"),
        "{}",
        text(&refused)
    );
    assert_eq!(resync_rows(&db).await, rows, "nothing written");

    std::fs::remove_dir_all(&dir).unwrap();
    sim.shutdown().await;
}

//! `ember portal add` as an operator runs it: a Service Key portal registered from a key file
//! against the simulator, and the inputs it refuses without storing anything.

use std::process::{Command, Output};

use base64::Engine;
use ember_tests::TestDb;
use hubspot_sim::{AppType, PortalSpec, SimConfig, SimServer};

const KEY: [u8; 32] = [3; 32];

fn ember(db: &TestDb, sim_url: &str, client_id: &str, secret: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ember"));
    c.env("EMBER_DATABASE__URL", &db.url)
        .env("EMBER_HUBSPOT__API_BASE_URL", sim_url)
        .env("EMBER_HUBSPOT__AUTH_BASE_URL", sim_url)
        .env("EMBER_HUBSPOT__CLIENT_ID", client_id)
        .env("EMBER_HUBSPOT__CLIENT_SECRET", secret)
        .env(
            "EMBER_ENCRYPTION_KEY",
            base64::engine::general_purpose::STANDARD.encode(KEY),
        )
        .env("RUST_LOG", "warn");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn portal_rows(db: &TestDb, portal: u64) -> Vec<(String, Option<i32>)> {
    sqlx::query_as("SELECT app_kind, private_tier FROM portals WHERE portal_id = $1")
        .bind(portal as i64)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_key_portal_is_added_from_its_key_file_and_bad_inputs_store_nothing() {
    let db = TestDb::new().await.unwrap();
    let sim = SimServer::start(SimConfig::default()).await.unwrap();
    let app = sim.app();
    let info = sim.control().create_portal(PortalSpec {
        app_type: AppType::private_tier(190),
        ..PortalSpec::default()
    });
    let key = sim.control().issue_service_key(info.id).unwrap();
    let dir = std::env::temp_dir().join(ember_tests::unique_name("portal-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("service-key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let empty_file = dir.join("empty");
    std::fs::write(&empty_file, "  \n").unwrap();
    let portal = info.id.to_string();
    let run = |args: &[&str]| {
        ember(&db, &sim.base_url(), &app.client_id, &app.client_secret)
            .args(["portal", "add", "--portal-id", &portal])
            .args(args)
            .output()
            .unwrap()
    };
    let key_path = key_file.to_str().unwrap();

    let refusals: [(&[&str], &str); 4] = [
        (&["--service-key", key_path, "--tier", "150"], "100 or 190"),
        (
            &[
                "--service-key",
                empty_file.to_str().unwrap(),
                "--tier",
                "190",
            ],
            "is empty",
        ),
        (
            &[
                "--service-key",
                key_path,
                "--private-token-file",
                key_path,
                "--tier",
                "190",
            ],
            "cannot be used with",
        ),
        (&["--tier", "190"], "required"),
    ];
    for (args, says) in refusals {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
        assert!(portal_rows(&db, info.id).await.is_empty(), "{args:?}");
    }

    let out = run(&["--service-key", key_path, "--tier", "190"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("(service key, 190 calls per 10 s)"),
        "{}",
        text(&out)
    );
    assert_eq!(
        portal_rows(&db, info.id).await,
        vec![("service_key".to_owned(), Some(190))]
    );
    // The key is stored sealed, never in the clear.
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT access_token FROM portal_tokens WHERE portal_id = $1")
            .bind(info.id as i64)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(!sealed.windows(key.len()).any(|w| w == key.as_bytes()));
    // The score properties were provisioned through the key.
    assert!(
        sim.control()
            .property_names(info.id)
            .iter()
            .any(|p| p == "ember_score")
    );
    std::fs::remove_dir_all(&dir).unwrap();
    sim.shutdown().await;
}

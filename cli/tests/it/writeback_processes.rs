//! Four `ember worker` OS processes write back one portal's scores: they share HubSpot's limit
//! only through the Redis limiter, and the simulator's call log shows they never exceed 110
//! calls in any rolling 10 s window while together keeping at least 90% of that rate.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use ember_core::domain::{ObjectId, PortalId};
use ember_core::store::outbox::{self, OutboxRow};
use ember_core::tenancy::TokenCipher;
use ember_core::tenancy::install::{AgencyChoice, complete_oauth_install};
use ember_hubspot::{HubSpot, HubSpotConfig, TokenSet};
use ember_tests::{TestBroker, TestDb, init};
use hubspot_sim::{CallRecord, PortalSpec, SimConfig, SimServer};
use secrecy::SecretString;

const KEY: [u8; 32] = [5; 32];
const BATCH_UPDATE: &str = "/crm/objects/2026-09/contacts/batch/update";
/// 360 full batches: more than three rolling windows of work at 110 calls per 10 s.
const CONTACTS: usize = 36_000;

/// A worker process, killed when dropped (also when an assertion fails).
struct WorkerProcess(Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn score_of(id: u64) -> (String, String) {
    let score = (id * 7) % 100;
    let grade = ["C", "B", "A", "A"][(score / 25) as usize];
    (score.to_string(), grade.to_owned())
}

/// The most calls any rolling 10 s window held, by the simulator's clock.
fn max_in_rolling_window(at: &[i64]) -> usize {
    at.iter()
        .enumerate()
        .map(|(i, t)| i + 1 - at.partition_point(|x| *x <= t - 10_000))
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_worker_processes_on_one_portal_stay_under_110_per_rolling_10s_and_keep_90_percent() {
    init();
    let db = TestDb::new().await.unwrap();
    let broker = TestBroker::new();
    let sim = SimServer::start(SimConfig::default()).await.unwrap();
    let app = sim.app();
    let info = sim.control().create_portal(PortalSpec {
        contacts: CONTACTS,
        ..PortalSpec::default()
    });
    let install = sim.control().install(info.id).unwrap();

    // Ember's side of the install: sealed tokens, provisioned properties.
    let hubspot = HubSpot::new(HubSpotConfig {
        api_base_url: sim.base_url().parse().unwrap(),
        auth_base_url: sim.base_url().parse().unwrap(),
        client_id: app.client_id.clone(),
        client_secret: Some(SecretString::from(app.client_secret.clone())),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let tokens = TokenSet {
        access_token: SecretString::from(install.access_token.clone()),
        refresh_token: Some(SecretString::from(install.refresh_token.clone())),
        expires_in: Duration::from_secs(1800),
        hub_id: Some(info.id),
        user_id: None,
        scopes: Vec::new(),
    };
    let token_info = hubspot
        .introspect_access_token(&tokens.access_token)
        .await
        .unwrap()
        .expect("an active token");
    let installed = complete_oauth_install(
        &db.pool,
        &hubspot,
        &TokenCipher::new(KEY, &[]),
        &tokens,
        &token_info,
        AgencyChoice::Default,
    )
    .await
    .unwrap();
    let portal: PortalId = installed.portal;

    let mut ids = sim.control().contact_ids(info.id);
    ids.sort_unstable();
    // The generator merges a few of them (a realistic portal), so slightly fewer than asked.
    assert!(ids.len() > CONTACTS - 100, "{} contacts", ids.len());
    for chunk in ids.chunks(2_000) {
        let rows: Vec<OutboxRow> = chunk
            .iter()
            .map(|id| {
                let (score, grade) = score_of(*id);
                OutboxRow {
                    contact_id: ObjectId::new(*id as i64).unwrap(),
                    properties: [
                        ("ember_score".to_owned(), score),
                        ("ember_grade".to_owned(), grade),
                    ]
                    .into(),
                    version: 1,
                }
            })
            .collect();
        let mut conn = db.pool.acquire().await.unwrap();
        outbox::upsert(&mut conn, portal, &rows).await.unwrap();
    }
    // The install's own calls are in an earlier window: start from a fresh one.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    sim.control().clear_calls();

    let key = base64::engine::general_purpose::STANDARD.encode(KEY);
    let workers: Vec<WorkerProcess> = (0..4)
        .map(|_| {
            WorkerProcess(
                Command::new(env!("CARGO_BIN_EXE_ember"))
                    .args(["worker", "--no-periodic-jobs"])
                    .env("EMBER_DATABASE__URL", &db.url)
                    .env("EMBER_AMQP__PREFIX", &broker.prefix)
                    .env("EMBER_REDIS__PREFIX", &broker.prefix)
                    .env("EMBER_HUBSPOT__API_BASE_URL", sim.base_url())
                    .env("EMBER_HUBSPOT__AUTH_BASE_URL", sim.base_url())
                    .env("EMBER_HUBSPOT__CLIENT_ID", &app.client_id)
                    .env("EMBER_HUBSPOT__CLIENT_SECRET", &app.client_secret)
                    .env("EMBER_ENCRYPTION_KEY", &key)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("ember worker starts"),
            )
        })
        .collect();

    let started = Instant::now();
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM score_outbox WHERE portal_id = $1")
                .bind(portal.get())
                .fetch_one(&db.pool)
                .await
                .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "outbox not drained after 240 s: {pending} rows left"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(workers);

    let calls: Vec<CallRecord> = sim.control().calls_for(info.id);
    let updates = calls.iter().filter(|c| c.endpoint == BATCH_UPDATE).count();
    let mut at: Vec<i64> = calls
        .iter()
        .filter(|c| c.status != 0)
        .map(|c| c.at_ms)
        .collect();
    at.sort_unstable();
    let max = max_in_rolling_window(&at);
    // Rate while work is pending: the calls in the whole 10 s windows from the first call that
    // end before the last one, against the 110 per window HubSpot allows.
    let windows = ((at[at.len() - 1] - at[0]) / 10_000).max(1);
    let in_windows = at.partition_point(|x| *x < at[0] + windows * 10_000);
    let steady = in_windows as f64 / (windows as f64 * 110.0);
    let rate_limited = calls.iter().filter(|c| c.status == 429).count();
    println!(
        "4 worker processes: {} calls ({updates} batch updates) in {:?}; max {max} in any rolling 10 s; \
         {windows} windows at {:.1}% of 110/10 s; 429s: {rate_limited}",
        calls.len(),
        started.elapsed(),
        steady * 100.0
    );
    assert!(max <= 110, "{max} calls in one rolling 10 s window");
    assert_eq!(rate_limited, 0, "no 429");
    assert!(steady >= 0.90, "steady rate {:.1}%", steady * 100.0);
    assert_eq!(updates, ids.len().div_ceil(100), "full batches of 100");

    let mut wrong = 0;
    for id in &ids {
        let contact = sim.control().contact(info.id, *id).unwrap();
        let (score, grade) = score_of(*id);
        if contact.properties.get("ember_score") != Some(&score)
            || contact.properties.get("ember_grade") != Some(&grade)
        {
            wrong += 1;
        }
    }
    assert_eq!(wrong, 0, "every contact holds its score in HubSpot");
    sim.shutdown().await;
}

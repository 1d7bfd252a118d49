//! Tokens against `hubspot-sim` over real HTTP and a real Postgres: sealed at rest, one refresh
//! for 50 concurrent callers in two processes (two token managers with separate connection
//! pools in this process, and again in two child OS processes of this test binary), a 401
//! forcing one refresh and one retry,
//! `invalid_grant` leading to `needs_reauth` with no further HubSpot writes, and both uninstall
//! paths (uninstalled in HubSpot; `ember portal uninstall`, which revokes the refresh token),
//! then purge. Every call is on HubSpot's 2026-03 OAuth and dated CRM paths: the simulator
//! counts no legacy call.

use std::sync::Arc;
use std::time::Duration;

use ember_core::domain::PortalId;
use ember_core::store::portals::PortalStatus;
use ember_core::tenancy::crypto::{CryptoError, Purpose};
use ember_core::tenancy::install::{
    AgencyChoice, complete_oauth_install, mark_uninstalled, uninstall,
};
use ember_core::tenancy::tokens::RetryPolicy;
use ember_core::tenancy::{TokenCipher, TokenError, TokenManager};
use ember_hubspot::crm::{UpdateRow, property_inputs};
use ember_hubspot::{HubSpot, HubSpotConfig, TokenSet};
use ember_tests::TestDb;
use hubspot_sim::{PortalSpec, SimConfig, SimHandle, SimServer};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgPoolOptions;

const KEY: [u8; 32] = [9; 32];

struct World {
    sim: SimHandle,
    db: TestDb,
    hubspot: HubSpot,
    cipher: Arc<TokenCipher>,
}

impl World {
    async fn new() -> Self {
        let db = TestDb::new().await.expect("test database");
        let sim = SimServer::start(SimConfig {
            clock_speed: 0.0,
            ..SimConfig::default()
        })
        .await
        .expect("sim");
        let app = sim.app();
        let hubspot = HubSpot::new(HubSpotConfig {
            api_base_url: sim.base_url().parse().unwrap(),
            auth_base_url: sim.base_url().parse().unwrap(),
            client_id: app.client_id,
            client_secret: Some(SecretString::from(app.client_secret)),
            timeout: Duration::from_secs(10),
        })
        .unwrap();
        Self {
            sim,
            db,
            hubspot,
            cipher: Arc::new(TokenCipher::new(KEY, &[])),
        }
    }

    /// A manager with its own connection pool (a separate "process" for locking purposes).
    async fn manager(&self) -> TokenManager {
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect(&self.db.url)
            .await
            .expect("pool");
        TokenManager::new(
            pool,
            self.hubspot.clone(),
            self.cipher.clone(),
            Duration::from_secs(300),
        )
        .with_retry(RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(10),
        })
    }

    /// Installs the app in a new sim portal and completes Ember's install with those tokens.
    async fn installed_portal(&self) -> (PortalId, String) {
        let info = self.sim.control().create_portal(PortalSpec {
            contacts: 2,
            ..PortalSpec::default()
        });
        let t = self.sim.control().install(info.id).unwrap();
        let set = TokenSet {
            access_token: SecretString::from(t.access_token.clone()),
            refresh_token: Some(SecretString::from(t.refresh_token.clone())),
            expires_in: Duration::from_secs(1800),
            hub_id: Some(info.id),
            user_id: None,
            scopes: Vec::new(),
        };
        let token_info = self
            .hubspot
            .introspect_access_token(&set.access_token)
            .await
            .expect("introspect")
            .expect("an active token");
        let installed = complete_oauth_install(
            &self.db.pool,
            &self.hubspot,
            &self.cipher,
            &set,
            &token_info,
            AgencyChoice::Default,
        )
        .await
        .expect("install");
        assert!(
            installed
                .provision
                .as_ref()
                .expect("provisioned")
                .conflicts
                .is_empty()
        );
        (installed.portal, t.access_token)
    }

    /// Makes the stored access token look like it expires in `secs` (inside the 5-minute margin).
    async fn expire_in(&self, portal: PortalId, secs: i64) {
        sqlx::query("UPDATE portal_tokens SET expires_at = now() + make_interval(secs => $2) WHERE portal_id = $1")
            .bind(portal.get())
            .bind(secs as f64)
            .execute(&self.db.pool)
            .await
            .unwrap();
    }

    /// Calls on HubSpot's legacy paths (`/oauth/v1`, `/crm/v3`, ...), which Ember never makes.
    fn legacy_calls(&self) -> u64 {
        self.sim.control().legacy_calls()
    }

    fn token_calls(&self) -> usize {
        self.sim
            .control()
            .calls()
            .iter()
            .filter(|c| c.path == "/oauth/2026-03/token")
            .count()
    }
}

#[tokio::test]
async fn tokens_are_unreadable_in_the_database_without_the_key() {
    let w = World::new().await;
    let (portal, access) = w.installed_portal().await;
    let (sealed_access, sealed_refresh, key_id): (Vec<u8>, Vec<u8>, String) = sqlx::query_as(
        "SELECT access_token, refresh_token, key_id FROM portal_tokens WHERE portal_id = $1",
    )
    .bind(portal.get())
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert!(
        !sealed_access
            .windows(access.len())
            .any(|win| win == access.as_bytes()),
        "access token stored in the clear"
    );
    let as_text = String::from_utf8_lossy(&sealed_access).to_string()
        + &String::from_utf8_lossy(&sealed_refresh);
    assert!(!as_text.contains(&access));
    assert_eq!(key_id, w.cipher.key_id());
    // Another key cannot open it; the right key can.
    let other = TokenCipher::new([1; 32], &[]);
    assert!(matches!(
        other.open(portal, Purpose::AccessToken, &sealed_access),
        Err(CryptoError::UnknownKey(_))
    ));
    let same_id_wrong_portal = w.cipher.open(
        PortalId::new(portal.get() + 1).unwrap(),
        Purpose::AccessToken,
        &sealed_access,
    );
    assert_eq!(
        same_id_wrong_portal.unwrap_err(),
        CryptoError::Authentication
    );
    assert_eq!(
        w.cipher
            .open(portal, Purpose::AccessToken, &sealed_access)
            .unwrap()
            .expose_secret(),
        access
    );
    // After a rotation the old rows still open.
    let rotated = TokenCipher::new([2; 32], &[KEY]);
    assert_eq!(
        rotated
            .open(portal, Purpose::AccessToken, &sealed_access)
            .unwrap()
            .expose_secret(),
        access
    );
}

#[tokio::test]
async fn fifty_concurrent_callers_on_two_connection_pools_at_expiry_cause_exactly_one_refresh() {
    let w = World::new().await;
    let (portal, old_access) = w.installed_portal().await;
    let a = Arc::new(w.manager().await);
    let b = Arc::new(w.manager().await);
    // A fresh token is served without calling HubSpot.
    assert_eq!(
        a.access_token(portal).await.unwrap().expose_secret(),
        old_access
    );
    assert_eq!(w.token_calls(), 0);

    w.expire_in(portal, 60).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let m = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            m.access_token(portal)
                .await
                .map(|t| t.expose_secret().to_owned())
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap().expect("token"));
    }
    assert_eq!(
        w.token_calls(),
        1,
        "exactly one refresh call for 50 callers in two processes"
    );
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "every caller got the same new token"
    );
    assert_ne!(tokens[0], old_access);
    assert_eq!(w.legacy_calls(), 0);
    let count: i64 =
        sqlx::query_scalar("SELECT refresh_count FROM portal_tokens WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(count, 1);
}

/// Environment of [`token_refresh_child_process`]: set only by the parent test below.
const CHILD_DB: &str = "EMBER_TOKEN_CHILD_DB_URL";
const CHILD_SIM: &str = "EMBER_TOKEN_CHILD_SIM_URL";
const CHILD_CLIENT_ID: &str = "EMBER_TOKEN_CHILD_CLIENT_ID";
const CHILD_CLIENT_SECRET: &str = "EMBER_TOKEN_CHILD_CLIENT_SECRET";
const CHILD_PORTAL: &str = "EMBER_TOKEN_CHILD_PORTAL";
const CHILD_START_AT_MS: &str = "EMBER_TOKEN_CHILD_START_AT_MS";

/// A child OS process of the test below (this test binary run again with `--ignored --exact`):
/// 25 concurrent callers ask for the portal's token at the agreed moment; prints a digest of
/// each token it got (never the token).
#[tokio::test]
#[ignore = "child process of fifty_concurrent_callers_in_two_os_processes_cause_exactly_one_refresh"]
async fn token_refresh_child_process() {
    let Ok(db_url) = std::env::var(CHILD_DB) else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set by the parent"));
    let sim_url = var(CHILD_SIM);
    let hubspot = HubSpot::new(HubSpotConfig {
        api_base_url: sim_url.parse().unwrap(),
        auth_base_url: sim_url.parse().unwrap(),
        client_id: var(CHILD_CLIENT_ID),
        client_secret: Some(SecretString::from(var(CHILD_CLIENT_SECRET))),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .connect(&db_url)
        .await
        .expect("pool");
    let manager = Arc::new(TokenManager::new(
        pool,
        hubspot,
        Arc::new(TokenCipher::new(KEY, &[])),
        Duration::from_secs(300),
    ));
    let portal = PortalId::new(var(CHILD_PORTAL).parse().unwrap()).unwrap();
    let start_at: i64 = var(CHILD_START_AT_MS).parse().unwrap();
    let wait = start_at - chrono::Utc::now().timestamp_millis();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    let callers: Vec<_> = (0..25)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.access_token(portal).await })
        })
        .collect();
    for caller in callers {
        let token = caller.await.unwrap().expect("token");
        println!("TOKEN_DIGEST={}", digest(token.expose_secret()));
    }
}

fn digest(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn fifty_concurrent_callers_in_two_os_processes_cause_exactly_one_refresh() {
    let w = World::new().await;
    let (portal, old_access) = w.installed_portal().await;
    w.expire_in(portal, 60).await;
    let app = w.sim.app();
    // Both children start calling at the same moment, well after they have started.
    let start_at = chrono::Utc::now().timestamp_millis() + 3_000;
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "tenancy_tokens::token_refresh_child_process",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DB, &w.db.url)
                .env(CHILD_SIM, w.sim.base_url())
                .env(CHILD_CLIENT_ID, &app.client_id)
                .env(CHILD_CLIENT_SECRET, &app.client_secret)
                .env(CHILD_PORTAL, portal.get().to_string())
                .env(CHILD_START_AT_MS, start_at.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("child process")
        })
        .collect();
    let mut digests = Vec::new();
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mine: Vec<String> = stdout
            .lines()
            .filter_map(|l| {
                l.split_once("TOKEN_DIGEST=")
                    .map(|(_, d)| d.trim().to_owned())
            })
            .collect();
        assert_eq!(
            mine.len(),
            25,
            "each child reports its 25 callers: {stdout}"
        );
        digests.extend(mine);
    }
    assert_eq!(
        w.token_calls(),
        1,
        "exactly one refresh call for 50 callers in two OS processes"
    );
    assert!(
        digests.iter().all(|d| d == &digests[0]),
        "one token for all"
    );
    assert_ne!(digests[0], digest(&old_access), "a new token");
}

#[tokio::test]
async fn a_401_forces_one_refresh_and_one_retry() {
    let w = World::new().await;
    let (portal, _) = w.installed_portal().await;
    let m = w.manager().await;
    // The stored token is not expired by our clock, but HubSpot no longer accepts it.
    let bogus = w
        .cipher
        .seal(portal, Purpose::AccessToken, "CN-revoked-token")
        .unwrap();
    sqlx::query("UPDATE portal_tokens SET access_token = $2 WHERE portal_id = $1")
        .bind(portal.get())
        .bind(bogus)
        .execute(&w.db.pool)
        .await
        .unwrap();
    let hs = w.hubspot.clone();
    let details = m
        .with_token(portal, |token| {
            let hs = hs.clone();
            async move { hs.account_details(portal.get(), &token).await }
        })
        .await
        .expect("retried after one refresh");
    assert_eq!(details.value.portal_id, portal.get() as u64);
    assert_eq!(w.token_calls(), 1);
    let statuses: Vec<u16> = w
        .sim
        .control()
        .calls()
        .iter()
        .filter(|c| c.path == "/account-info/2026-09/details")
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![401, 200]);
}

#[tokio::test]
async fn invalid_grant_marks_the_portal_needs_reauth_and_no_further_writes_happen() {
    let w = World::new().await;
    let (portal, _) = w.installed_portal().await;
    let m = w.manager().await;
    // Uninstalled (or revoked) in HubSpot: this app gets no uninstall webhook (docs/hubspot.md A.6).
    w.sim.control().uninstall(portal.get() as u64);
    w.expire_in(portal, 10).await;
    let err = m.access_token(portal).await.unwrap_err();
    assert!(matches!(err, TokenError::NeedsReauth(_)), "{err:?}");
    assert_eq!(
        ember_core::store::portals::status(&w.db.pool, portal)
            .await
            .unwrap(),
        Some(PortalStatus::NeedsReauth)
    );
    let tokens_left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM portal_tokens WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(tokens_left, 0);

    // A write-back attempt gets no token: nothing reaches HubSpot, not even a refresh.
    let calls_before = w.sim.control().call_count();
    let hs = w.hubspot.clone();
    let write = m
        .with_token(portal, |token| {
            let hs = hs.clone();
            async move {
                let rows = vec![UpdateRow {
                    id: "1".into(),
                    properties: property_inputs([("ember_score", "5")]),
                }];
                hs.batch_update_contacts(portal.get(), &token, &rows).await
            }
        })
        .await;
    assert!(matches!(write, Err(TokenError::NeedsReauth(_))));
    assert_eq!(w.sim.control().call_count(), calls_before);
    assert!(
        !w.sim
            .control()
            .calls()
            .iter()
            .any(|c| c.path.ends_with("/batch/update"))
    );
}

#[tokio::test]
async fn operator_uninstall_revokes_the_refresh_token_and_uninstalls_the_app_then_purge_removes_everything()
 {
    let w = World::new().await;
    let (portal, _) = w.installed_portal().await;
    let m = Arc::new(w.manager().await);
    let done = uninstall(&w.db.pool, &m, portal).await.expect("uninstall");
    assert!(done.refresh_token_deleted && done.app_uninstalled);
    let calls = w.sim.control().calls();
    let revoked = calls
        .iter()
        .find(|c| c.method == "POST" && c.path == "/oauth/2026-03/token/revoke")
        .expect("refresh token revoked");
    let uninstalled = calls
        .iter()
        .find(|c| c.method == "DELETE" && c.path == "/appinstalls/2026-09/external-install")
        .expect("self-uninstall");
    assert_eq!((revoked.status, uninstalled.status), (200, 204));
    assert!(revoked.seq < uninstalled.seq);
    assert_eq!(w.legacy_calls(), 0);
    assert!(
        !w.sim
            .control()
            .portal(portal.get() as u64)
            .unwrap()
            .installed
    );
    assert_eq!(
        ember_core::store::portals::status(&w.db.pool, portal)
            .await
            .unwrap(),
        Some(PortalStatus::Uninstalled)
    );
    assert!(matches!(
        m.access_token(portal).await,
        Err(TokenError::Uninstalled(_))
    ));
    // Idempotent locally.
    mark_uninstalled(&w.db.pool, portal, "again").await.unwrap();

    let deleted = ember_core::store::portals::purge(&w.db.pool, portal)
        .await
        .expect("purge");
    assert!(
        deleted
            .iter()
            .any(|(t, n)| t == "scoring_models" && *n == 1),
        "{deleted:?}"
    );
    assert!(
        deleted.iter().any(|(t, n)| t == "portals" && *n == 1),
        "{deleted:?}"
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM portals WHERE portal_id = $1")
        .bind(portal.get())
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_private_app_portal_is_checked_stored_sealed_and_served_without_refresh() {
    use ember_core::tenancy::install::StaticCredential;
    let w = World::new().await;
    let spec = PortalSpec {
        app_type: hubspot_sim::AppType::private_tier(150),
        ..PortalSpec::default()
    };
    let info = w.sim.control().create_portal(spec);
    let other = w.sim.control().create_portal(PortalSpec::default());
    let token = SecretString::from(info.private_token.clone().unwrap());
    let portal = PortalId::new(info.id as i64).unwrap();

    // The token must belong to the portal it is registered for.
    let wrong = PortalId::new(other.id as i64).unwrap();
    let err = ember_core::tenancy::install::add_static_token_portal(
        &w.db.pool,
        &w.hubspot,
        &w.cipher,
        wrong,
        StaticCredential::PrivateApp,
        &token,
        150,
        None,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            ember_core::tenancy::install::InstallError::WrongPortal { .. }
        ),
        "{err:?}"
    );

    let report = ember_core::tenancy::install::add_static_token_portal(
        &w.db.pool,
        &w.hubspot,
        &w.cipher,
        portal,
        StaticCredential::PrivateApp,
        &token,
        150,
        None,
    )
    .await
    .expect("added");
    assert_eq!(report.created.len(), 6);
    let summary = ember_core::store::portals::summary(&w.db.pool, portal)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.private_tier, Some(150));
    let m = w.manager().await;
    assert_eq!(
        m.access_token(portal).await.unwrap().expose_secret(),
        token.expose_secret()
    );
    assert_eq!(w.token_calls(), 0);
}

#[tokio::test]
async fn a_transient_refresh_failure_is_retried_and_leaves_the_portal_active() {
    let w = World::new().await;
    let (portal, _) = w.installed_portal().await;
    w.expire_in(portal, 10).await;
    // HubSpot unreachable: a port nothing listens on.
    let unreachable = HubSpot::new(HubSpotConfig {
        api_base_url: "http://127.0.0.1:9".parse().unwrap(),
        auth_base_url: "http://127.0.0.1:9".parse().unwrap(),
        client_id: "x".into(),
        client_secret: Some(SecretString::from("y".to_owned())),
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    let m = TokenManager::new(
        w.db.pool.clone(),
        unreachable,
        w.cipher.clone(),
        Duration::from_secs(300),
    )
    .with_retry(RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(20),
    });
    let started = std::time::Instant::now();
    let err = m.access_token(portal).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "two backoffs of 20 and 40 ms"
    );
    assert_eq!(
        ember_core::store::portals::status(&w.db.pool, portal)
            .await
            .unwrap(),
        Some(PortalStatus::Active)
    );
    // Once HubSpot is back, the same portal refreshes normally.
    let fresh = w
        .manager()
        .await
        .access_token(portal)
        .await
        .expect("refreshed");
    assert!(!fresh.expose_secret().is_empty());
    assert_eq!(w.token_calls(), 1);
}

#[tokio::test]
async fn after_a_key_rotation_tokens_are_resealed_and_the_old_key_can_go() {
    let w = World::new().await;
    let (portal, access) = w.installed_portal().await;
    let rotated = TokenCipher::new([2; 32], &[KEY]);
    let stale = ember_core::tenancy::tokens::stale_portals(&w.db.pool, &rotated)
        .await
        .unwrap();
    assert_eq!(stale, vec![portal]);
    assert!(
        ember_core::tenancy::tokens::reseal(&w.db.pool, &rotated, portal)
            .await
            .unwrap()
    );
    assert!(
        !ember_core::tenancy::tokens::reseal(&w.db.pool, &rotated, portal)
            .await
            .unwrap()
    );
    let new_only = Arc::new(TokenCipher::new([2; 32], &[]));
    let m = TokenManager::new(
        w.db.pool.clone(),
        w.hubspot.clone(),
        new_only,
        Duration::from_secs(300),
    );
    assert_eq!(
        m.access_token(portal).await.unwrap().expose_secret(),
        access
    );
    let old_only = Arc::new(TokenCipher::new(KEY, &[]));
    let m_old = TokenManager::new(
        w.db.pool.clone(),
        w.hubspot.clone(),
        old_only,
        Duration::from_secs(300),
    );
    assert!(matches!(
        m_old.access_token(portal).await,
        Err(TokenError::Crypto { .. })
    ));
}

#[tokio::test]
async fn refresh_introspect_and_revoke_use_the_2026_03_endpoints_and_a_revoked_token_needs_reauth()
{
    let w = World::new().await;
    // HubSpot refuses the legacy paths to a project app: so does the simulator here.
    w.sim.control().set_refuse_legacy_paths(true);
    let (portal, old_access) = w.installed_portal().await;
    let m = w.manager().await;

    // Refresh on the 2026-03 token endpoint: a new access token that introspects to this portal.
    w.expire_in(portal, 10).await;
    let fresh = m.access_token(portal).await.expect("refreshed");
    assert_ne!(fresh.expose_secret(), old_access);
    let info = w
        .hubspot
        .introspect_access_token(&fresh)
        .await
        .expect("introspect")
        .expect("the refreshed token is active");
    assert_eq!(info.hub_id, portal.get() as u64);
    assert!(
        info.scopes
            .iter()
            .any(|s| s == "crm.objects.contacts.write")
    );

    // Revoked at HubSpot (as `uninstall` does): the next refresh is invalid_grant, so the
    // portal needs re-authorization and its tokens are gone.
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT refresh_token FROM portal_tokens WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    let refresh = w
        .cipher
        .open(portal, Purpose::RefreshToken, &sealed)
        .expect("sealed with the test key");
    w.hubspot
        .revoke_refresh_token(&refresh)
        .await
        .expect("revoke");
    w.expire_in(portal, 10).await;
    let err = m.access_token(portal).await.unwrap_err();
    assert!(matches!(err, TokenError::NeedsReauth(_)), "{err:?}");
    assert_eq!(
        ember_core::store::portals::status(&w.db.pool, portal)
            .await
            .unwrap(),
        Some(PortalStatus::NeedsReauth)
    );

    let calls: Vec<(String, u16)> = w
        .sim
        .control()
        .calls()
        .iter()
        .filter(|c| c.path.starts_with("/oauth/"))
        .map(|c| (c.path.clone(), c.status))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("/oauth/2026-03/token/introspect".to_owned(), 200),
            ("/oauth/2026-03/token".to_owned(), 200),
            ("/oauth/2026-03/token/introspect".to_owned(), 200),
            ("/oauth/2026-03/token/revoke".to_owned(), 200),
            ("/oauth/2026-03/token".to_owned(), 400),
        ]
    );
    assert_eq!(w.legacy_calls(), 0);
}

//! The install flow and the scoped admin API, over real HTTP: a browser-like client follows the
//! redirects from `GET /oauth/install` through `hubspot-sim`'s authorize page to Ember's
//! callback; state tampering, cookie mismatch, reuse and expiry are refused; denied consent shows
//! a clear page; a person of agency A gets 404 for every admin route of agency B's portals.

use std::collections::HashMap;
use std::time::Duration;

use ember_core::domain::PortalId;
use ember_core::store::portals::PortalStatus;
use ember_tests::TestApi;
use hubspot_sim::{AppConfig, PortalSpec, SimConfig, SimHandle, SimServer};
use reqwest::StatusCode;
use secrecy::SecretString;

const PUBLIC: &str = "http://ember.test";
const SECRET: &str = "test-client-secret-0000";

struct Env {
    sim: SimHandle,
    api: TestApi,
}

async fn env() -> Env {
    ember_tests::init();
    let app = AppConfig {
        client_secret: SECRET.into(),
        redirect_uris: vec![format!("{PUBLIC}/oauth/callback")],
        ..AppConfig::default()
    };
    let sim = SimServer::start(SimConfig {
        clock_speed: 0.0,
        app: app.clone(),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let base = sim.base_url();
    let api = TestApi::spawn_with(|s| {
        s.hubspot.api_base_url = base.clone();
        s.hubspot.auth_base_url = base.clone();
        s.hubspot.client_id = app.client_id.clone();
        s.encryption_key = Some(SecretString::from(
            "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=".to_owned(),
        ));
    })
    .await
    .expect("api");
    Env { sim, api }
}

/// A minimal browser: keeps cookies per name, follows redirects itself, maps Ember's public
/// host to the test api.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
    api: String,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new(api: &str) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            http,
            cookies: HashMap::new(),
            api: api.to_owned(),
        }
    }

    fn real_url(&self, url: &str) -> String {
        if let Some(rest) = url.strip_prefix(PUBLIC) {
            format!("{}{rest}", self.api)
        } else if url.starts_with('/') {
            format!("{}{url}", self.api)
        } else {
            url.to_owned()
        }
    }

    async fn request(
        &mut self,
        method: reqwest::Method,
        url: &str,
        json: Option<serde_json::Value>,
    ) -> Page {
        let real = self.real_url(url);
        let mut req = self.http.request(method.clone(), &real);
        if real.starts_with(&self.api) && !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", header.join("; "));
        }
        if method != reqwest::Method::GET
            && real.starts_with(&self.api)
            && let Some(token) = self.csrf_token()
        {
            req = req.header("x-csrf-token", token);
        }
        if let Some(body) = json {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        if real.starts_with(&self.api) {
            for value in resp.headers().get_all("set-cookie") {
                let text = value.to_str().unwrap();
                let pair = text.split(';').next().unwrap();
                let (name, val) = pair.split_once('=').unwrap();
                if val.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), val.to_owned());
                }
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        Page {
            status,
            location,
            body: resp.text().await.unwrap_or_default(),
        }
    }

    /// The CSRF token of the signed-in session, as `GET /admin/me` reports it (computed here with
    /// the app's secret, so every change can carry it like the console does).
    fn csrf_token(&self) -> Option<String> {
        let signer =
            ember_api::session::Signer::new(&SecretString::from(SECRET.to_owned()), 600, 600, true)
                .unwrap();
        let claims = signer.verify_session(self.cookies.get("ember_session")?)?;
        Some(signer.csrf_token(claims.sid))
    }

    async fn get(&mut self, url: &str) -> Page {
        self.request(reqwest::Method::GET, url, None).await
    }

    /// Follows redirects until a non-redirect answer or a URL under `/app/`; returns every URL
    /// visited and the last page.
    async fn follow(&mut self, start: &str) -> (Vec<String>, Page) {
        let mut url = start.to_owned();
        let mut visited = vec![url.clone()];
        loop {
            let page = self.get(&url).await;
            match (&page.status, &page.location) {
                (s, Some(next)) if s.is_redirection() => {
                    url = next.clone();
                    visited.push(url.clone());
                    if url.starts_with("/app/") {
                        return (visited, page);
                    }
                }
                _ => return (visited, page),
            }
        }
    }
}

fn portal_of(path: &str) -> i64 {
    path.trim_start_matches("/app/portals/")
        .parse()
        .expect("portal id in the final URL")
}

/// Installs into `portal` as its admin, returning the browser (signed in) and the final URL.
async fn install(env: &Env, portal: u64, link: &str) -> (Browser, String) {
    env.sim.control().set_authorize(false, Some(portal));
    let mut browser = Browser::new(&env.api.address);
    let (visited, _) = browser.follow(link).await;
    let last = visited.last().unwrap().clone();
    assert!(
        last.starts_with("/app/portals/"),
        "install ended at {visited:?}"
    );
    (browser, last)
}

#[tokio::test]
async fn the_whole_install_flow_creates_the_tenant_and_lands_on_its_page_signed_in() {
    let env = env().await;
    let sim_portal = env.sim.control().create_portal(PortalSpec {
        contacts: 2,
        ..PortalSpec::default()
    });
    let (mut browser, last) = install(&env, sim_portal.id, "/oauth/install").await;
    assert_eq!(portal_of(&last), sim_portal.id as i64);
    assert!(browser.cookies.contains_key("ember_session"));
    assert!(
        !browser.cookies.contains_key("ember_oauth"),
        "state cookie cleared"
    );

    let pool = &env.api.db.pool;
    let portal = PortalId::new(sim_portal.id as i64).unwrap();
    assert_eq!(
        ember_core::store::portals::status(pool, portal)
            .await
            .unwrap(),
        Some(PortalStatus::Active)
    );
    let (agency, role): (i64, String) = sqlx::query_as(
        "SELECT p.agency_id, m.role FROM portals p JOIN agency_members m USING (agency_id) WHERE p.portal_id = $1",
    )
    .bind(portal.get())
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(role, "owner");
    let model: (i32,) =
        sqlx::query_as("SELECT version FROM scoring_model_active WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(model.0, 1);
    let kind: String = sqlx::query_scalar("SELECT kind FROM portal_tokens WHERE portal_id = $1")
        .bind(portal.get())
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(kind, "oauth");
    // The score properties exist in the portal, in Ember's group.
    let names: Vec<String> = env
        .sim
        .control()
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == "/crm/v3/properties/contacts")
        .map(|c| c.path.clone())
        .collect();
    assert_eq!(names.len(), 6, "six score properties created");

    // Signed in: the admin API answers for this portal.
    let me = browser.get("/admin/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let page = browser
        .get(&format!("/admin/portals/{}", portal.get()))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let json: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(json["status"], "active");
    assert_eq!(json["agency_id"], agency);

    // A portal that needs re-authorization (refresh token rejected) is re-activated by
    // installing again, keeps its agency, and nothing is provisioned twice.
    sqlx::query("UPDATE portals SET status = 'needs_reauth' WHERE portal_id = $1")
        .bind(portal.get())
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM portal_tokens WHERE portal_id = $1")
        .bind(portal.get())
        .execute(pool)
        .await
        .unwrap();
    let before = env
        .sim
        .control()
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == "/crm/v3/properties/contacts")
        .count();
    let (_, again) = install(&env, sim_portal.id, "/oauth/install").await;
    assert_eq!(again, last);
    let after = env
        .sim
        .control()
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == "/crm/v3/properties/contacts")
        .count();
    assert_eq!(before, after);
    assert_eq!(
        ember_core::store::portals::status(pool, portal)
            .await
            .unwrap(),
        Some(PortalStatus::Active)
    );
    let agency_after: i64 =
        sqlx::query_scalar("SELECT agency_id FROM portals WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(agency_after, agency);
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM portal_tokens WHERE portal_id = $1")
        .bind(portal.get())
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(tokens, 1);

    // Signing out needs the session's CSRF token: without it, 403 and the session lives on.
    let cookie = browser.cookies["ember_session"].clone();
    let forged = browser
        .http
        .post(browser.real_url("/oauth/logout"))
        .header("cookie", format!("ember_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/admin/me").await.status, StatusCode::OK);
    // Signing out ends the session on the server: the old cookie no longer works.
    let out = browser
        .request(reqwest::Method::POST, "/oauth/logout", None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    browser.cookies.insert("ember_session".into(), cookie);
    assert_eq!(
        browser.get("/admin/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Starts an install and stops at HubSpot's redirect back: returns the callback URL.
async fn callback_url(env: &Env, browser: &mut Browser, portal: u64) -> String {
    env.sim.control().set_authorize(false, Some(portal));
    let start = browser.get("/oauth/install").await;
    assert_eq!(start.status, StatusCode::FOUND);
    let authorize = browser.get(start.location.as_deref().unwrap()).await;
    assert_eq!(authorize.status, StatusCode::FOUND);
    authorize.location.unwrap()
}

fn with_state(url: &str, f: impl Fn(&str) -> String) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            if k == "state" {
                (k.into_owned(), f(&v))
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

#[tokio::test]
async fn a_tampered_foreign_reused_or_expired_state_is_refused_with_a_clear_page() {
    let env = env().await;
    let portal = env.sim.control().create_portal(PortalSpec::default()).id;

    // Tampered: one character of the signed payload changed.
    let mut browser = Browser::new(&env.api.address);
    let url = callback_url(&env, &mut browser, portal).await;
    let tampered = with_state(&url, |s| {
        let mut parts: Vec<String> = s.split('.').map(String::from).collect();
        let c = parts[1].pop().unwrap();
        parts[1].push(if c == 'A' { 'B' } else { 'A' });
        parts.join(".")
    });
    let page = browser.get(&tampered).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("invalid_state") && page.body.contains("start the installation again"),
        "{}",
        page.body
    );

    // Another browser (no matching cookie) cannot use it.
    let mut other = Browser::new(&env.api.address);
    let page = other.get(&url).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("state_cookie_mismatch"), "{}", page.body);

    // The right browser can, once; a replay is refused.
    let first = browser.get(&url).await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.body);
    let mut replay = Browser::new(&env.api.address);
    replay.cookies = browser.cookies.clone();
    let url2 = callback_url(&env, &mut replay, portal).await;
    let nonce = replay.cookies["ember_oauth"].clone();
    replay.get(&url2).await;
    replay.cookies.insert("ember_oauth".into(), nonce);
    let again = replay.get(&url2).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("state_reused"), "{}", again.body);

    // Expired: a state signed with the api's key but already past its lifetime.
    let mut signer =
        ember_api::session::Signer::new(&SecretString::from(SECRET.to_owned()), 600, 600, true)
            .unwrap();
    signer.state_lifetime_secs = -1;
    let (expired, nonce) = signer.new_state(None).unwrap();
    let mut late = Browser::new(&env.api.address);
    late.cookies.insert("ember_oauth".into(), nonce);
    let page = late.get(&with_state(&url, |_| expired.clone())).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("expired_state"), "{}", page.body);

    // No state at all.
    let page = late.get("/oauth/callback?code=abc").await;
    assert!(page.body.contains("missing_state"), "{}", page.body);
}

#[tokio::test]
async fn denied_consent_shows_a_clear_page_and_installs_nothing() {
    let env = env().await;
    let portal = env.sim.control().create_portal(PortalSpec::default()).id;
    env.sim.control().set_authorize(true, Some(portal));
    let mut browser = Browser::new(&env.api.address);
    let (_, page) = browser.follow("/oauth/install").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("did not grant Ember access"),
        "{}",
        page.body
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM portals")
        .fetch_one(&env.api.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    assert!(!browser.cookies.contains_key("ember_session"));
}

#[tokio::test]
async fn a_person_of_agency_a_gets_404_for_every_route_of_agency_b_portals() {
    let env = env().await;
    let a_portal = env.sim.control().create_portal(PortalSpec::default()).id;
    let b_portal = env.sim.control().create_portal(PortalSpec::default()).id;
    let (mut a, _) = install(&env, a_portal, "/oauth/install").await;
    let (mut b, _) = install(&env, b_portal, "/oauth/install").await;
    let agency_of = |body: &str| -> i64 {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["agencies"][0]["agency_id"].as_i64().unwrap()
    };
    let a_agency = agency_of(&a.get("/admin/me").await.body);
    let b_agency = agency_of(&b.get("/admin/me").await.body);
    assert_ne!(a_agency, b_agency);

    use reqwest::Method;
    let private = serde_json::json!({"portal_id": 123456, "token": "pat-na1-x", "tier": 100});
    let routes = |portal: u64, agency: i64| {
        vec![
            (Method::GET, format!("/admin/portals/{portal}"), None),
            (
                Method::POST,
                format!("/admin/portals/{portal}/uninstall"),
                None,
            ),
            (
                Method::GET,
                format!("/admin/agencies/{agency}/portals"),
                None,
            ),
            (
                Method::POST,
                format!("/admin/agencies/{agency}/invites"),
                Some(serde_json::json!({"role": "viewer"})),
            ),
            (
                Method::POST,
                format!("/admin/agencies/{agency}/portals"),
                Some(private.clone()),
            ),
        ]
    };
    for (method, path, body) in routes(b_portal, b_agency) {
        let page = a.request(method.clone(), &path, body).await;
        assert_eq!(
            page.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            page.body
        );
    }
    // A nonexistent portal looks the same.
    assert_eq!(
        a.get("/admin/portals/999999999").await.status,
        StatusCode::NOT_FOUND
    );
    // A's list has only A's portal.
    let list: serde_json::Value =
        serde_json::from_str(&a.get("/admin/portals").await.body).unwrap();
    let ids: Vec<i64> = list["portals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["portal_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![a_portal as i64]);
    // B's portal is untouched; without a session everything is 401.
    assert_eq!(
        b.get(&format!("/admin/portals/{b_portal}")).await.status,
        StatusCode::OK
    );
    let mut anonymous = Browser::new(&env.api.address);
    for (method, path, body) in routes(a_portal, a_agency) {
        assert_eq!(
            anonymous.request(method, &path, body).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    assert!(
        env.sim
            .control()
            .calls()
            .iter()
            .all(|c| c.path != "/appinstalls/v3/external-install")
    );
}

#[tokio::test]
async fn an_invite_link_puts_the_installer_and_the_portal_in_the_inviting_agency() {
    let env = env().await;
    let owner_portal = env.sim.control().create_portal(PortalSpec::default()).id;
    let (mut owner, _) = install(&env, owner_portal, "/oauth/install").await;
    let me: serde_json::Value = serde_json::from_str(&owner.get("/admin/me").await.body).unwrap();
    let agency = me["agencies"][0]["agency_id"].as_i64().unwrap();
    let invite = owner
        .request(
            reqwest::Method::POST,
            &format!("/admin/agencies/{agency}/invites"),
            Some(serde_json::json!({"role": "editor"})),
        )
        .await;
    assert_eq!(invite.status, StatusCode::CREATED, "{}", invite.body);
    let link: serde_json::Value = serde_json::from_str(&invite.body).unwrap();
    let link = link["install_url"].as_str().unwrap().to_owned();

    let client_portal = env.sim.control().create_portal(PortalSpec::default()).id;
    let (mut editor, _) = install(&env, client_portal, &link).await;
    let me: serde_json::Value = serde_json::from_str(&editor.get("/admin/me").await.body).unwrap();
    assert_eq!(me["agencies"][0]["agency_id"], agency);
    assert_eq!(me["agencies"][0]["role"], "editor");
    // The owner sees both portals; the editor may not create invites.
    let list: serde_json::Value = serde_json::from_str(
        &owner
            .get(&format!("/admin/agencies/{agency}/portals"))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(list["portals"].as_array().unwrap().len(), 2);
    let refused = editor
        .request(
            reqwest::Method::POST,
            &format!("/admin/agencies/{agency}/invites"),
            Some(serde_json::json!({"role": "owner"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let _ = Duration::ZERO;
}

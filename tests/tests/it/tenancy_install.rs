//! The install flow and the scoped admin API, over real HTTP: a browser-like client follows the
//! redirects from `GET /oauth/install` through `hubspot-sim`'s authorize page to Ember's
//! callback; state tampering, cookie mismatch, reuse and expiry are refused; denied consent, a
//! HubSpot error, a missing code and a code HubSpot refuses each show a clear page; a person of
//! agency A gets 404 for every admin route of agency B's portals.

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

/// Starts an install into `portal` with `link` and follows it to its end, success or not.
async fn try_install(env: &Env, portal: u64, link: &str) -> (Browser, Vec<String>, Page) {
    env.sim.control().set_authorize(false, Some(portal));
    let mut browser = Browser::new(&env.api.address);
    let (visited, page) = browser.follow(link).await;
    (browser, visited, page)
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
        .filter(|c| c.method == "POST" && c.path == "/crm/properties/2026-09/contacts")
        .map(|c| c.path.clone())
        .collect();
    assert_eq!(names.len(), 6, "six score properties created");
    // The install spoke OAuth 2026-03 only: one code exchange, one introspection of the new
    // access token, and not one call on a legacy path.
    let oauth_calls: Vec<(String, u16)> = env
        .sim
        .control()
        .calls()
        .iter()
        .filter(|c| c.path.starts_with("/oauth/") && !c.path.ends_with("/authorize"))
        .map(|c| (c.path.clone(), c.status))
        .collect();
    assert_eq!(
        oauth_calls,
        vec![
            ("/oauth/2026-03/token".to_owned(), 200),
            ("/oauth/2026-03/token/introspect".to_owned(), 200)
        ]
    );
    assert_eq!(env.sim.control().legacy_calls(), 0);

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
        .filter(|c| c.method == "POST" && c.path == "/crm/properties/2026-09/contacts")
        .count();
    let (_, again) = install(&env, sim_portal.id, "/oauth/install").await;
    assert_eq!(again, last);
    let after = env
        .sim
        .control()
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path == "/crm/properties/2026-09/contacts")
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
    with_query(url, |pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| if k == "state" { (k, f(&v)) } else { (k, v) })
            .collect()
    })
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

/// `url` with its query rewritten by `f` (pairs in order).
fn with_query(url: &str, f: impl Fn(Vec<(String, String)>) -> Vec<(String, String)>) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs = f(parsed.query_pairs().into_owned().collect());
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

#[tokio::test]
async fn a_callback_without_a_usable_code_shows_a_clear_page_and_installs_nothing() {
    let env = env().await;
    let portal = env.sim.control().create_portal(PortalSpec::default()).id;
    let mut browser = Browser::new(&env.api.address);
    let token_calls = || {
        env.sim
            .control()
            .calls()
            .iter()
            .filter(|c| c.method == "POST" && c.path == "/oauth/2026-03/token")
            .count()
    };

    // A valid state, but no code.
    let url = callback_url(&env, &mut browser, portal).await;
    let no_code = with_query(&url, |q| {
        q.into_iter().filter(|(k, _)| k != "code").collect()
    });
    let page = browser.get(&no_code).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("missing_code")
            && page
                .body
                .contains("HubSpot did not send an authorization code."),
        "{}",
        page.body
    );

    // HubSpot sent an error other than a denied consent: it is named on the page.
    let url = callback_url(&env, &mut browser, portal).await;
    let errored = with_query(&url, |q| {
        let mut q: Vec<_> = q.into_iter().filter(|(k, _)| k != "code").collect();
        q.push(("error".into(), "invalid_scope".into()));
        q
    });
    let page = browser.get(&errored).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("consent_denied")
            && page
                .body
                .contains("HubSpot did not authorize the installation (invalid_scope)."),
        "{}",
        page.body
    );
    assert_eq!(token_calls(), 0, "no exchange without a code");

    // A code HubSpot does not know: the exchange is tried once and refused.
    let url = callback_url(&env, &mut browser, portal).await;
    let unknown = with_query(&url, |q| {
        q.into_iter()
            .map(|(k, v)| {
                if k == "code" {
                    (k, "not-a-code".into())
                } else {
                    (k, v)
                }
            })
            .collect()
    });
    let page = browser.get(&unknown).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(
        page.body.contains("exchange_failed")
            && page
                .body
                .contains("HubSpot did not accept the authorization."),
        "{}",
        page.body
    );
    assert_eq!(token_calls(), 1);

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
            .all(|c| c.path != "/appinstalls/2026-09/external-install")
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

// ---- Invites: rows in Postgres, single use by default, revocable, never undoing a team change.

/// The first agency of a signed-in person.
async fn first_agency(browser: &mut Browser) -> i64 {
    let me: serde_json::Value = serde_json::from_str(&browser.get("/admin/me").await.body).unwrap();
    me["agencies"][0]["agency_id"].as_i64().unwrap()
}

/// An owner (the admin of a freshly installed portal) and their agency.
async fn owner_of_new_agency(env: &Env) -> (Browser, i64) {
    let portal = env.sim.control().create_portal(PortalSpec::default()).id;
    let (mut owner, _) = install(env, portal, "/oauth/install").await;
    let agency = first_agency(&mut owner).await;
    (owner, agency)
}

/// Creates an invite as `owner`; returns the answer's JSON (201 asserted).
async fn create_invite(
    owner: &mut Browser,
    agency: i64,
    body: serde_json::Value,
) -> serde_json::Value {
    let page = owner
        .request(
            reqwest::Method::POST,
            &format!("/admin/agencies/{agency}/invites"),
            Some(body),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

fn link_of(created: &serde_json::Value) -> String {
    created["install_url"].as_str().unwrap().to_owned()
}

/// The role in `agency` of the simulator's admin user of `portal`, from Postgres.
async fn role_in(env: &Env, agency: i64, portal: u64) -> Option<String> {
    sqlx::query_scalar(
        "SELECT m.role FROM agency_members m JOIN people p USING (person_id) \
         WHERE m.agency_id = $1 AND p.email = $2",
    )
    .bind(agency)
    .bind(format!("admin@portal-{portal}.example.com"))
    .fetch_optional(&env.api.db.pool)
    .await
    .unwrap()
}

async fn person_of(env: &Env, portal: u64) -> i64 {
    sqlx::query_scalar("SELECT person_id FROM people WHERE email = $1")
        .bind(format!("admin@portal-{portal}.example.com"))
        .fetch_one(&env.api.db.pool)
        .await
        .unwrap()
}

async fn invite_uses(env: &Env, created: &serde_json::Value) -> i32 {
    sqlx::query_scalar("SELECT uses FROM invites WHERE invite_id = $1")
        .bind(created["invite"]["invite_id"].as_i64().unwrap())
        .fetch_one(&env.api.db.pool)
        .await
        .unwrap()
}

async fn has_tokens(env: &Env, portal: u64) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM portal_tokens WHERE portal_id = $1)")
        .bind(portal as i64)
        .fetch_one(&env.api.db.pool)
        .await
        .unwrap()
}

/// Asserts a refusal page with this status and reason code.
fn assert_refused(page: &Page, status: StatusCode, code: &str) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(
        page.body.contains(&format!("<code>{code}</code>")),
        "expected {code}: {}",
        page.body
    );
}

#[tokio::test]
async fn a_single_use_link_admits_one_person_and_is_refused_the_second_time() {
    let env = env().await;
    let (mut owner, agency) = owner_of_new_agency(&env).await;
    let created = create_invite(&mut owner, agency, serde_json::json!({"role": "editor"})).await;
    assert_eq!(created["invite"]["max_uses"], 1, "single use by default");
    assert_eq!(created["invite"]["uses"], 0);
    let link = link_of(&created);
    // Only the hash of the link's token is stored.
    let token = link.split("invite=").nth(1).unwrap().to_owned();
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_sha256 FROM invites WHERE invite_id = $1")
            .bind(created["invite"]["invite_id"].as_i64().unwrap())
            .fetch_one(&env.api.db.pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&token));

    let first = env.sim.control().create_portal(PortalSpec::default()).id;
    install(&env, first, &link).await;
    assert_eq!(
        role_in(&env, agency, first).await.as_deref(),
        Some("editor")
    );
    assert_eq!(invite_uses(&env, &created).await, 1);

    // A second person with the same link: refused before HubSpot is even asked.
    let second = env.sim.control().create_portal(PortalSpec::default()).id;
    let (_, visited, page) = try_install(&env, second, &link).await;
    assert_eq!(visited.len(), 1, "no redirect to HubSpot: {visited:?}");
    assert_refused(&page, StatusCode::GONE, "invite_used");
    assert_eq!(role_in(&env, agency, second).await, None);
    assert!(!has_tokens(&env, second).await, "nothing installed");
    assert_eq!(invite_uses(&env, &created).await, 1);
    // A used-up invite is no longer pending.
    let list = owner
        .get(&format!("/admin/agencies/{agency}/invites"))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let list: serde_json::Value = serde_json::from_str(&list.body).unwrap();
    assert_eq!(list["invites"], serde_json::json!([]));
}

#[tokio::test]
async fn a_demoted_editor_cannot_regain_the_role_through_the_old_link() {
    let env = env().await;
    let (mut owner, agency) = owner_of_new_agency(&env).await;
    // Several uses, so only the demotion can stop it.
    let created = create_invite(
        &mut owner,
        agency,
        serde_json::json!({"role": "editor", "max_uses": 5}),
    )
    .await;
    let link = link_of(&created);
    let portal = env.sim.control().create_portal(PortalSpec::default()).id;
    install(&env, portal, &link).await;
    assert_eq!(
        role_in(&env, agency, portal).await.as_deref(),
        Some("editor")
    );
    let editor = person_of(&env, portal).await;

    let demoted = owner
        .request(
            reqwest::Method::PUT,
            &format!("/admin/agencies/{agency}/members/{editor}"),
            Some(serde_json::json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);

    let (_, _, page) = try_install(&env, portal, &link).await;
    assert_refused(&page, StatusCode::FORBIDDEN, "invite_superseded");
    assert_eq!(
        role_in(&env, agency, portal).await.as_deref(),
        Some("viewer")
    );
    assert_eq!(
        invite_uses(&env, &created).await,
        1,
        "the refused use is not counted"
    );
    let changes: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT kind, old_role, new_role FROM agency_member_changes \
         WHERE agency_id = $1 AND person_id = $2 ORDER BY change_id",
    )
    .bind(agency)
    .bind(editor)
    .fetch_all(&env.api.db.pool)
    .await
    .unwrap();
    assert_eq!(
        changes,
        vec![
            ("joined".into(), None, Some("editor".into())),
            (
                "demoted".into(),
                Some("editor".into()),
                Some("viewer".into())
            ),
        ]
    );
}

#[tokio::test]
async fn a_removed_member_cannot_rejoin_through_the_old_link_but_a_new_one_works() {
    let env = env().await;
    let (mut owner, agency) = owner_of_new_agency(&env).await;
    let created = create_invite(
        &mut owner,
        agency,
        serde_json::json!({"role": "editor", "max_uses": 5}),
    )
    .await;
    let link = link_of(&created);
    let portal = env.sim.control().create_portal(PortalSpec::default()).id;
    install(&env, portal, &link).await;
    let member = person_of(&env, portal).await;
    let removed = owner
        .request(
            reqwest::Method::DELETE,
            &format!("/admin/agencies/{agency}/members/{member}"),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);

    let (browser, _, page) = try_install(&env, portal, &link).await;
    assert_refused(&page, StatusCode::FORBIDDEN, "invite_superseded");
    assert_eq!(role_in(&env, agency, portal).await, None, "still removed");
    assert!(!browser.cookies.contains_key("ember_session"));

    // The owner changes their mind: an invite made after the removal works.
    let again = create_invite(&mut owner, agency, serde_json::json!({"role": "viewer"})).await;
    install(&env, portal, &link_of(&again)).await;
    assert_eq!(
        role_in(&env, agency, portal).await.as_deref(),
        Some("viewer")
    );
}

#[tokio::test]
async fn an_expired_link_is_refused_at_install_and_at_the_callback() {
    let env = env().await;
    let (mut owner, agency) = owner_of_new_agency(&env).await;
    // Out of range is a 400 with the reason.
    for hours in [0, 721] {
        let page = owner
            .request(
                reqwest::Method::POST,
                &format!("/admin/agencies/{agency}/invites"),
                Some(serde_json::json!({"role": "viewer", "expires_in_hours": hours})),
            )
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
        assert!(page.body.contains("invalid_expiry"), "{}", page.body);
    }
    let created = create_invite(
        &mut owner,
        agency,
        serde_json::json!({"role": "viewer", "expires_in_hours": 1}),
    )
    .await;
    let expires: chrono::DateTime<chrono::Utc> = created["invite"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let left = expires - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(59) && left <= chrono::Duration::hours(1),
        "{left}"
    );
    let link = link_of(&created);
    let id = created["invite"]["invite_id"].as_i64().unwrap();
    let expire = || async {
        sqlx::query(
            "UPDATE invites SET created_at = now() - interval '2 hours', \
             expires_at = now() - interval '1 second' WHERE invite_id = $1",
        )
        .bind(id)
        .execute(&env.api.db.pool)
        .await
        .unwrap();
    };

    // It expires while the person is at HubSpot's consent page: the callback refuses it.
    let portal = env.sim.control().create_portal(PortalSpec::default()).id;
    env.sim.control().set_authorize(false, Some(portal));
    let mut browser = Browser::new(&env.api.address);
    let start = browser.get(&link).await;
    assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
    let authorize = browser.get(start.location.as_deref().unwrap()).await;
    expire().await;
    let page = browser.get(authorize.location.as_deref().unwrap()).await;
    assert_refused(&page, StatusCode::GONE, "invite_expired");
    assert_eq!(role_in(&env, agency, portal).await, None);
    assert!(!has_tokens(&env, portal).await, "nothing installed");

    // Opened after it expired: refused before HubSpot.
    let (_, visited, page) = try_install(&env, portal, &link).await;
    assert_eq!(visited.len(), 1, "{visited:?}");
    assert_refused(&page, StatusCode::GONE, "invite_expired");
    assert_eq!(invite_uses(&env, &created).await, 0);
}

#[tokio::test]
async fn a_revoked_link_stops_working_and_only_its_agencys_owner_can_revoke_it() {
    let env = env().await;
    let (mut owner, agency) = owner_of_new_agency(&env).await;
    let (mut stranger, other_agency) = owner_of_new_agency(&env).await;
    let created = create_invite(&mut owner, agency, serde_json::json!({"role": "editor"})).await;
    let id = created["invite"]["invite_id"].as_i64().unwrap();
    let link = link_of(&created);
    let path = format!("/admin/agencies/{agency}/invites/{id}");

    // Listed as pending, without its link.
    let list = owner
        .get(&format!("/admin/agencies/{agency}/invites"))
        .await;
    let list: serde_json::Value = serde_json::from_str(&list.body).unwrap();
    assert_eq!(list["invites"][0]["invite_id"], id);
    assert!(
        !list
            .to_string()
            .contains(link.split("invite=").nth(1).unwrap())
    );

    // Another agency's owner: 404 under their agency and under ours; nothing revoked.
    for path in [
        format!("/admin/agencies/{other_agency}/invites/{id}"),
        path.clone(),
    ] {
        let page = stranger.request(reqwest::Method::DELETE, &path, None).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
    }
    let revoked: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT revoked_at FROM invites WHERE invite_id = $1")
            .bind(id)
            .fetch_one(&env.api.db.pool)
            .await
            .unwrap();
    assert_eq!(revoked, None);

    // The person opens the link, then the owner revokes it before they come back from HubSpot.
    let portal = env.sim.control().create_portal(PortalSpec::default()).id;
    env.sim.control().set_authorize(false, Some(portal));
    let mut browser = Browser::new(&env.api.address);
    let start = browser.get(&link).await;
    assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
    let authorize = browser.get(start.location.as_deref().unwrap()).await;
    for _ in 0..2 {
        let page = owner.request(reqwest::Method::DELETE, &path, None).await;
        assert_eq!(
            page.status,
            StatusCode::NO_CONTENT,
            "idempotent: {}",
            page.body
        );
    }
    let page = browser.get(authorize.location.as_deref().unwrap()).await;
    assert_refused(&page, StatusCode::GONE, "invite_revoked");
    assert_eq!(role_in(&env, agency, portal).await, None);
    let (revoked_by, owner_id): (Option<i64>, i64) = sqlx::query_as(
        "SELECT i.revoked_by, m.person_id FROM invites i \
         JOIN agency_members m ON m.agency_id = i.agency_id AND m.role = 'owner' \
         WHERE i.invite_id = $1",
    )
    .bind(id)
    .fetch_one(&env.api.db.pool)
    .await
    .unwrap();
    assert_eq!(revoked_by, Some(owner_id));
    let (_, _, page) = try_install(&env, portal, &link).await;
    assert_refused(&page, StatusCode::GONE, "invite_revoked");
    let list = owner
        .get(&format!("/admin/agencies/{agency}/invites"))
        .await;
    let list: serde_json::Value = serde_json::from_str(&list.body).unwrap();
    assert_eq!(list["invites"], serde_json::json!([]));
}

#[tokio::test]
async fn a_link_bound_to_an_email_admits_only_the_hubspot_user_with_that_email() {
    let env = env().await;
    let (mut owner, agency) = owner_of_new_agency(&env).await;
    let bad = owner
        .request(
            reqwest::Method::POST,
            &format!("/admin/agencies/{agency}/invites"),
            Some(serde_json::json!({"role": "viewer", "email": "not an address"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("invalid_email"), "{}", bad.body);

    let intended = env.sim.control().create_portal(PortalSpec::default()).id;
    let other = env.sim.control().create_portal(PortalSpec::default()).id;
    // Case differs from what HubSpot reports: still the same address.
    let email = format!("Admin@Portal-{intended}.example.com");
    let created = create_invite(
        &mut owner,
        agency,
        serde_json::json!({"role": "editor", "email": email}),
    )
    .await;
    assert_eq!(
        created["invite"]["email"],
        format!("admin@portal-{intended}.example.com")
    );
    let link = link_of(&created);

    let (browser, _, page) = try_install(&env, other, &link).await;
    assert_refused(&page, StatusCode::FORBIDDEN, "invite_wrong_email");
    assert_eq!(role_in(&env, agency, other).await, None);
    assert!(!has_tokens(&env, other).await, "nothing installed");
    assert!(!browser.cookies.contains_key("ember_session"));
    assert_eq!(
        invite_uses(&env, &created).await,
        0,
        "still usable by its person"
    );

    install(&env, intended, &link).await;
    assert_eq!(
        role_in(&env, agency, intended).await.as_deref(),
        Some("editor")
    );
    assert_eq!(invite_uses(&env, &created).await, 1);
}

#[tokio::test]
async fn two_concurrent_installs_cannot_both_use_a_single_use_link() {
    let env = env().await;
    let (mut owner, agency) = owner_of_new_agency(&env).await;
    let created = create_invite(&mut owner, agency, serde_json::json!({"role": "editor"})).await;
    let link = link_of(&created);
    // Both people pass the check at /oauth/install and come back from HubSpot with a code.
    let mut people = Vec::new();
    for _ in 0..2 {
        let portal = env.sim.control().create_portal(PortalSpec::default()).id;
        env.sim.control().set_authorize(false, Some(portal));
        let mut browser = Browser::new(&env.api.address);
        let start = browser.get(&link).await;
        assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
        let authorize = browser.get(start.location.as_deref().unwrap()).await;
        let callback = authorize.location.unwrap();
        people.push((portal, browser, callback));
    }
    let (a, b) = people.split_at_mut(1);
    let (pa, ba, ca) = &mut a[0];
    let (pb, bb, cb) = &mut b[0];
    let (ra, rb) = tokio::join!(ba.get(ca), bb.get(cb));
    let outcomes = [(&ra, *pa), (&rb, *pb)];
    let won: Vec<u64> = outcomes
        .iter()
        .filter(|(r, _)| r.status == StatusCode::FOUND)
        .map(|(_, p)| *p)
        .collect();
    assert_eq!(
        won.len(),
        1,
        "exactly one install wins: {} / {}",
        ra.body,
        rb.body
    );
    let (lost, lost_portal) = outcomes
        .iter()
        .find(|(r, _)| r.status != StatusCode::FOUND)
        .unwrap();
    assert_refused(lost, StatusCode::GONE, "invite_used");
    assert_eq!(invite_uses(&env, &created).await, 1);
    assert_eq!(
        role_in(&env, agency, won[0]).await.as_deref(),
        Some("editor")
    );
    assert_eq!(role_in(&env, agency, *lost_portal).await, None);
    let members: i64 =
        sqlx::query_scalar("SELECT count(*) FROM agency_members WHERE agency_id = $1")
            .bind(agency)
            .fetch_one(&env.api.db.pool)
            .await
            .unwrap();
    assert_eq!(members, 2, "the owner and one editor");
}

#[tokio::test]
async fn an_owner_link_used_by_an_existing_editor_does_not_make_them_owner() {
    let env = env().await;
    let (mut owner, agency) = owner_of_new_agency(&env).await;
    let editor_link =
        link_of(&create_invite(&mut owner, agency, serde_json::json!({"role": "editor"})).await);
    let portal = env.sim.control().create_portal(PortalSpec::default()).id;
    install(&env, portal, &editor_link).await;
    assert_eq!(
        role_in(&env, agency, portal).await.as_deref(),
        Some("editor")
    );

    // An owner link meant for someone else reaches the editor.
    let owner_invite =
        create_invite(&mut owner, agency, serde_json::json!({"role": "owner"})).await;
    let (mut editor, _) = install(&env, portal, &link_of(&owner_invite)).await;
    assert_eq!(
        role_in(&env, agency, portal).await.as_deref(),
        Some("editor")
    );
    let me: serde_json::Value = serde_json::from_str(&editor.get("/admin/me").await.body).unwrap();
    assert_eq!(me["agencies"][0]["role"], "editor");
    let owners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM agency_members WHERE agency_id = $1 AND role = 'owner'",
    )
    .bind(agency)
    .fetch_one(&env.api.db.pool)
    .await
    .unwrap();
    assert_eq!(owners, 1);
    // The editor may still not make invites.
    let refused = editor
        .request(
            reqwest::Method::POST,
            &format!("/admin/agencies/{agency}/invites"),
            Some(serde_json::json!({"role": "owner"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

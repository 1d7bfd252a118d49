//! The console in headless Chromium, driven over the DevTools protocol (chromiumoxide): a person
//! signs in through the simulator's OAuth, sees their portal with its scores, breaks a model rule
//! and sees the message at that field, fixes it, previews, saves, and watches the distribution
//! move once the rescore has run. A viewer gets the editor read-only and the API refuses their
//! save; another agency's portal is the 404 page. A screenshot of each page goes to
//! `target/console-screenshots/`.
//!
//! Chromium must be installed (`apt-get install -y chromium`); without it the test fails and
//! says so rather than skipping.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::emulation::{
    ClearDeviceMetricsOverrideParams, SetDeviceMetricsOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::network::CookieParam;
use chromiumoxide::page::{Page, ScreenshotParams};
use ember_core::domain::PortalId;
use ember_core::domain::Role;
use ember_core::store::portals::AppKind;
use ember_tests::TestApi;
use ember_tests::worker::{
    TestWorker, batch, property_event, publish, publisher, test_options, wait_for,
};
use futures_util::StreamExt;
use hubspot_sim::{AppConfig, PortalSpec, SimConfig, SimHandle, SimServer};
use secrecy::SecretString;
use serde_json::Value;

const SECRET: &str = "test-client-secret-0000";
const ENCRYPTION_KEY: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
/// How long a page may take to show what a step waits for (a bound, not a measurement).
const PAGE_WAIT: Duration = Duration::from_secs(20);
const CHROMIUM: &str = "/usr/bin/chromium";

/// The simulator as HubSpot, and the api on a port known before it binds: the OAuth redirect
/// URI (public base URL + callback) must be registered with the simulator's app first, and the
/// browser must reach the api at that URL.
struct Env {
    sim: SimHandle,
    api: TestApi,
    public: String,
}

async fn env() -> Env {
    ember_tests::init();
    let port = ember_tests::reserve_port();
    let public = format!("http://127.0.0.1:{port}");
    let app = AppConfig {
        client_secret: SECRET.into(),
        redirect_uris: vec![format!("{public}/oauth/callback")],
        ..AppConfig::default()
    };
    let sim = SimServer::start(SimConfig {
        app: app.clone(),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let base = sim.base_url();
    let public_url = public.clone();
    let api = TestApi::spawn_with(move |s| {
        s.server.port = port;
        s.public_base_url = public_url;
        s.hubspot.api_base_url = base.clone();
        s.hubspot.auth_base_url = base;
        s.hubspot.client_id = app.client_id.clone();
        // The console is served over plain http here.
        s.oauth.secure_cookies = false;
        s.encryption_key = Some(SecretString::from(ENCRYPTION_KEY.to_owned()));
    })
    .await
    .expect("api");
    Env { sim, api, public }
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// Starts Chromium with its profile in `profile` (which must outlive the browser: declare it
/// first, so it is dropped after).
async fn launch_browser(profile: &tempdir::Dir) -> (Browser, tokio::task::JoinHandle<()>) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "Chromium is not installed at {CHROMIUM}: the console browser tests need it. \
         Install it with `apt-get install -y chromium chromium-driver` (.ci/run does this)."
    );
    let config = BrowserConfig::builder()
        .chrome_executable(CHROMIUM)
        .no_sandbox()
        .new_headless_mode()
        .user_data_dir(profile.path())
        // A laptop's window; no emulated viewport, so the page lays out at the window's width.
        .window_size(1280, 900)
        .viewport(None)
        .arg("disable-gpu")
        .arg("disable-component-update")
        .arg("disable-quic")
        .build()
        .expect("browser config");
    let (browser, mut handler) = Browser::launch(config).await.expect("launch Chromium");
    let driver = tokio::spawn(async move { while handler.next().await.is_some() {} });
    (browser, driver)
}

/// A fresh, empty folder for Chromium's profile, removed afterwards.
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(ember_tests::unique_name("ember_chromium"));
            std::fs::create_dir_all(&path).expect("profile folder");
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A screenshot of the whole page.
async fn shot(page: &Page, name: &str) {
    save_shot(page, name, true).await;
}

/// A screenshot of what the window shows (long pages, at the part a step is about).
async fn shot_window(page: &Page, name: &str) {
    save_shot(page, name, false).await;
}

async fn save_shot(page: &Page, name: &str, full_page: bool) {
    let path = screenshot_dir().join(format!("{name}.png"));
    page.save_screenshot(
        ScreenshotParams::builder().full_page(full_page).build(),
        &path,
    )
    .await
    .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
}

/// Evaluates a JS expression and returns its JSON value.
async fn js(page: &Page, expression: &str) -> Value {
    page.evaluate(expression)
        .await
        .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
        .into_value::<Value>()
        .unwrap_or(Value::Null)
}

/// Waits (bounded) until a JS expression is true on the page.
async fn until(page: &Page, expression: &str, what: &str) {
    let check = format!(
        "(() => {{ try {{ return Boolean({expression}); }} catch (e) {{ return false; }} }})()"
    );
    let deadline = tokio::time::Instant::now() + PAGE_WAIT;
    loop {
        // While the page navigates, its execution context may be gone: not yet, try again.
        let done = match page.evaluate(check.as_str()).await {
            Ok(result) => result.into_value::<Value>().ok() == Some(Value::Bool(true)),
            Err(_) => false,
        };
        if done {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let url = page.url().await.ok().flatten().unwrap_or_default();
            let text = js(
                page,
                "document.body ? document.body.innerText.slice(0, 2000) : ''",
            )
            .await;
            panic!("timed out waiting for {what} at {url}; the page says:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn open(page: &Page, url: &str, ready: &str) {
    page.goto(url)
        .await
        .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    until(page, ready, url).await;
}

async fn text_of(page: &Page, selector: &str) -> String {
    js(
        page,
        &format!(
            "(() => {{ const n = document.querySelector({}); return n ? n.innerText : null; }})()",
            serde_json::to_string(selector).unwrap()
        ),
    )
    .await
    .as_str()
    .unwrap_or_else(|| panic!("no element {selector}"))
    .to_owned()
}

/// Types into the editor field at `path` as a person would: clears it, types, and the input
/// event updates the draft.
async fn set_field(page: &Page, path: &str, value: &str) {
    let selector = format!(r#"[data-path="{path}"]"#);
    let element = page
        .find_element(selector.as_str())
        .await
        .unwrap_or_else(|e| panic!("no field {path}: {e}"));
    element.scroll_into_view().await.expect("scroll");
    js(
        page,
        &format!(
            "(() => {{ const n = document.querySelector({}); n.focus(); n.select(); return true; }})()",
            serde_json::to_string(&selector).unwrap()
        ),
    )
    .await;
    element.press_key("Backspace").await.expect("clear");
    element.type_str(value).await.expect("type");
}

async fn click(page: &Page, selector: &str) {
    let element = page
        .find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("no element {selector}: {e}"));
    element.scroll_into_view().await.expect("scroll");
    element.click().await.expect("click");
}

/// Property changes that give the contacts names, varied job titles, company sizes and
/// industries (so their scores spread over the histogram), and engagement for every third one
/// (demo requests and e-mail clicks this week, so some contacts are rising).
async fn seed_contacts(api: &TestApi, portal: PortalId, ids: &[u64]) {
    let titles = [
        "CEO",
        "VP Sales",
        "Marketing Manager",
        "Student",
        "Engineer",
    ];
    let industries = ["SaaS", "Retail", "Software", "Education"];
    let first_names = [
        "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances",
    ];
    let last_names = [
        "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen",
    ];
    let domains = [
        "acme.io",
        "gmail.com",
        "initech.com",
        "stanford.edu",
        "globex.net",
    ];
    let now = chrono::Utc::now().timestamp_millis();
    let occurred = now - 60_000;
    let mut event = 10_000;
    let mut events = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let id = *id as i64;
        let p = portal.get();
        let employees = ((i * 37) % 400).to_string();
        let first = first_names[i % first_names.len()];
        let last = last_names[(i / first_names.len() + i) % last_names.len()];
        let email = format!(
            "{}.{}{i}@{}",
            first.to_lowercase(),
            last.to_lowercase(),
            domains[i % domains.len()]
        );
        for (property, value) in [
            ("firstname", first),
            ("lastname", last),
            ("email", email.as_str()),
            ("jobtitle", titles[i % titles.len()]),
            ("numberofemployees", employees.as_str()),
            ("industry", industries[i % industries.len()]),
        ] {
            event += 1;
            events.push(property_event(p, id, property, value, event, occurred));
        }
        if i % 3 == 0 {
            let days_ago = (i % 6) as i64;
            let at = now - days_ago * 86_400_000 - 120_000;
            event += 1;
            events.push(property_event(
                p,
                id,
                "recent_conversion_event_name",
                "Demo request",
                event,
                at,
            ));
            event += 1;
            events.push(property_event(
                p,
                id,
                "hs_email_last_click_date",
                &at.to_string(),
                event,
                at,
            ));
        }
    }
    let publisher = publisher(&api.settings).await.expect("publisher");
    let batches: Vec<_> = events
        .chunks(60)
        .map(|chunk| batch(portal.get(), chunk.to_vec()))
        .collect();
    publish(&publisher, &batches).await.expect("publish");
}

async fn scored(pool: &sqlx::PgPool, portal: PortalId) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM contacts WHERE portal_id = $1 AND score_total IS NOT NULL",
    )
    .bind(portal.get())
    .fetch_one(pool)
    .await
    .expect("count scored contacts")
}

/// A signed-in person: their id, the session cookie's value and the session's CSRF token.
struct Person {
    id: i64,
    cookie: String,
    csrf: String,
}

/// A person with `role` in `agency` and a live session: the cookie value that signs them in.
async fn session_for(api: &TestApi, agency: i64, hub_user: i64, email: &str, role: Role) -> String {
    person_in(api, agency, hub_user, email, role).await.cookie
}

async fn person_in(api: &TestApi, agency: i64, hub_user: i64, email: &str, role: Role) -> Person {
    let pool = &api.db.pool;
    let mut conn = pool.acquire().await.expect("connection");
    let person = ember_core::store::agencies::upsert_person(&mut conn, hub_user, Some(email))
        .await
        .expect("person");
    ember_core::store::agencies::add_member(&mut conn, agency, person, role)
        .await
        .expect("membership");
    let expires = chrono::Utc::now() + chrono::Duration::hours(1);
    let session = ember_core::store::sessions::create(pool, person, expires)
        .await
        .expect("session");
    let signer =
        ember_api::session::Signer::new(&SecretString::from(SECRET.to_owned()), 600, 3600, false)
            .expect("signer");
    Person {
        id: person,
        cookie: signer.new_session(session, person).expect("session token"),
        csrf: signer.csrf_token(session),
    }
}

async fn use_session(page: &Page, public: &str, token: &str) {
    page.set_cookie(
        CookieParam::builder()
            .name(ember_api::session::SESSION_COOKIE)
            .value(token)
            .url(public)
            .path("/")
            .http_only(true)
            .build()
            .expect("cookie"),
    )
    .await
    .expect("set the session cookie");
}

/// The mean score the portal page shows.
async fn shown_mean(page: &Page) -> f64 {
    let text = text_of(page, "[data-figure=mean]").await;
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("mean {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_tunes_a_portal_model_in_the_browser() {
    let env = env().await;
    let sim_portal = env.sim.control().create_portal(PortalSpec {
        contacts: 30,
        ..PortalSpec::default()
    });
    env.sim.control().set_authorize(false, Some(sim_portal.id));
    let portal = PortalId::new(sim_portal.id as i64).unwrap();
    let profile = tempdir::Dir::new();
    let (mut browser, driver) = launch_browser(&profile).await;
    let page = browser.new_page("about:blank").await.expect("page");
    let public = env.public.as_str();

    // Signed out: the sign-in page, which sends the person through HubSpot's OAuth and back.
    open(
        &page,
        &format!("{public}/app"),
        "document.querySelector('.signin')",
    )
    .await;
    assert!(
        text_of(&page, "main")
            .await
            .contains("Sign in with HubSpot")
    );
    shot(&page, "01-sign-in").await;
    click(&page, "a.btn-hubspot").await;
    until(
        &page,
        &format!("location.pathname === '/app/portals/{}'", portal.get()),
        "the portal page after sign-in",
    )
    .await;

    // Scores for the portal's contacts, through the real pipeline.
    let mut ids = env.sim.control().contact_ids(sim_portal.id);
    ids.sort_unstable();
    seed_contacts(&env.api, portal, &ids).await;
    let worker = TestWorker::spawn(&env.api.settings, test_options())
        .await
        .expect("worker");
    let pool = env.api.db.pool.clone();
    wait_for(Duration::from_secs(60), "every contact scored", || {
        let pool = pool.clone();
        let expected = ids.len() as i64;
        async move { Ok(scored(&pool, portal).await == expected) }
    })
    .await
    .expect("contacts scored");

    // Home: the portal with its health.
    open(
        &page,
        &format!("{public}/app"),
        "document.querySelector('.portal-card')",
    )
    .await;
    let home = text_of(&page, "main").await;
    assert!(
        home.contains(&format!("Portal {}", portal.get())),
        "home page: {home}"
    );
    assert!(home.contains("Installed"), "home page: {home}");
    shot(&page, "02-home").await;

    // The portal page: histogram, grades, top and rising contacts.
    open(
        &page,
        &format!("{public}/app/portals/{}", portal.get()),
        "document.querySelector('svg.chart rect.bar')",
    )
    .await;
    let contacts_shown = text_of(&page, "[data-figure=contacts]").await;
    assert_eq!(contacts_shown.trim(), ids.len().to_string());
    let mean_before = shown_mean(&page).await;
    let bars = js(
        &page,
        "document.querySelectorAll('svg.chart rect.bar').length",
    )
    .await;
    assert!(bars.as_u64().unwrap() >= 5, "histogram bars: {bars}");
    shot(&page, "03-portal").await;

    // A contact's explanation.
    click(&page, "section[data-list=top] td a").await;
    until(
        &page,
        "document.querySelector('#rules-title')",
        "the contact page",
    )
    .await;
    let explanation = text_of(&page, "main").await;
    assert!(explanation.contains("How the score is made"));
    assert!(
        js(
            &page,
            "document.querySelectorAll('.explain tbody tr').length"
        )
        .await
        .as_u64()
        .unwrap()
            >= 1,
        "rules listed: {explanation}"
    );
    shot(&page, "04-contact").await;

    // The model editor: a deliberate mistake is shown at its field.
    open(
        &page,
        &format!("{public}/app/portals/{}/model", portal.get()),
        "document.getElementById('model-editor').dataset.ready === 'true'",
    )
    .await;
    let property = "fit[0].when.gt.property";
    click(&page, r#"[data-path="fit[0]"] > summary"#).await;
    set_field(&page, property, "Number of employees!").await;
    click(&page, "#check-model").await;
    until(
        &page,
        &format!("document.querySelector('.field-error[data-for=\"{property}\"]')"),
        "the error at the property field",
    )
    .await;
    let message = text_of(&page, &format!(".field-error[data-for=\"{property}\"]")).await;
    assert!(!message.is_empty());
    assert_eq!(
        js(
            &page,
            &format!(
                "document.querySelector('[data-path=\"{property}\"]').getAttribute('aria-invalid')"
            )
        )
        .await,
        Value::String("true".into())
    );
    shot_window(&page, "05-model-error").await;

    // Rules move, and a new one is checked like the others, then removed again.
    click(&page, r#"[data-path="fit[1]"] > summary"#).await;
    click(
        &page,
        r#"[data-path="fit[1]"] button[aria-label="Move rule up"]"#,
    )
    .await;
    assert_eq!(
        js(
            &page,
            r#"document.querySelector('[data-path="fit[0].id"]').value"#
        )
        .await,
        Value::String("employees_20_to_100".into())
    );
    click(
        &page,
        r#"[data-path="fit[0]"] button[aria-label="Move rule down"]"#,
    )
    .await;
    assert_eq!(
        js(
            &page,
            r#"document.querySelector('[data-path="fit[1].id"]').value"#
        )
        .await,
        Value::String("employees_20_to_100".into())
    );
    let rules = js(
        &page,
        "JSON.parse(document.getElementById('model-document').textContent).fit.length",
    )
    .await
    .as_u64()
    .unwrap();
    click(&page, "#sec-negative button").await;
    click(&page, "#check-model").await;
    let added = format!("fit[{rules}].when.known.property");
    until(
        &page,
        &format!("document.querySelector('.field-error[data-for=\"{added}\"]')"),
        "the error at the new rule's property",
    )
    .await;
    click(
        &page,
        &format!(r#"[data-path="fit[{rules}]"] button[aria-label="Remove rule"]"#),
    )
    .await;
    assert_eq!(
        js(
            &page,
            &format!(r#"document.querySelector('[data-path="fit[{rules}]"]') === null"#)
        )
        .await,
        Value::Bool(true)
    );

    // Fixed, and the biggest fit rule weighs much more: preview, then save.
    set_field(&page, property, "numberofemployees").await;
    set_field(&page, "fit[0].points", "60").await;
    click(&page, "#check-model").await;
    until(
        &page,
        "document.getElementById('editor-status').innerText.includes('valid')",
        "the model to be valid",
    )
    .await;
    assert_eq!(
        js(&page, "document.querySelectorAll('.field-error').length").await,
        Value::from(0)
    );
    click(&page, "#preview-model").await;
    until(
        &page,
        "document.querySelector('#preview-result svg.chart rect.bar-draft')",
        "the preview histograms",
    )
    .await;
    let preview = text_of(&page, "#preview-result").await;
    assert!(preview.contains("Up"), "preview: {preview}");
    shot_window(&page, "06-model-preview").await;
    click(&page, "#save-model").await;
    until(
        &page,
        "location.pathname.endsWith('/model/versions')",
        "the versions page after saving",
    )
    .await;
    until(
        &page,
        "document.querySelector('tr.is-active')",
        "the versions",
    )
    .await;
    let active = js(
        &page,
        "document.querySelector('tr.is-active').dataset.version",
    )
    .await;
    let saved: i64 = active.as_str().unwrap().parse().unwrap();
    assert!(saved >= 1, "active version {active}");
    assert!(
        text_of(&page, "main")
            .await
            .contains("Saved as a new version")
    );
    shot(&page, "07-versions").await;

    // The rescore moves the distribution.
    wait_for(Duration::from_secs(60), "the rescore to finish", || {
        let pool = pool.clone();
        async move {
            let status =
                ember_core::store::models::rescore_status(&pool, portal, saved as i32).await?;
            Ok(matches!(status, Some((_, _, Some(_)))))
        }
    })
    .await
    .expect("rescore");
    open(
        &page,
        &format!("{public}/app/portals/{}", portal.get()),
        "document.querySelector('svg.chart')",
    )
    .await;
    let mean_after = shown_mean(&page).await;
    assert!(
        mean_after > mean_before,
        "the mean score moved from {mean_before} to {mean_after}"
    );
    assert!(
        text_of(&page, "[data-figure=model]")
            .await
            .contains(&format!("v{saved}"))
    );
    shot(&page, "08-portal-rescored").await;

    // At a tablet's width the same page stacks its cards; nothing overflows the window.
    page.execute(
        SetDeviceMetricsOverrideParams::builder()
            .width(820)
            .height(1180)
            .device_scale_factor(1.0)
            .mobile(false)
            .build()
            .expect("tablet metrics"),
    )
    .await
    .expect("tablet width");
    until(&page, "window.innerWidth === 820", "the tablet width").await;
    assert_eq!(
        js(
            &page,
            "document.documentElement.scrollWidth <= window.innerWidth"
        )
        .await,
        Value::Bool(true),
        "the portal page fits a tablet's width"
    );
    shot(&page, "08b-portal-tablet").await;
    page.execute(ClearDeviceMetricsOverrideParams::default())
        .await
        .expect("laptop width");

    // The team page and the dead letters page.
    let agency: i64 = sqlx::query_scalar("SELECT agency_id FROM portals WHERE portal_id = $1")
        .bind(portal.get())
        .fetch_one(&pool)
        .await
        .expect("agency");
    open(
        &page,
        &format!("{public}/app/agencies/{agency}/team"),
        "document.querySelector('#members-title')",
    )
    .await;
    assert!(
        js(
            &page,
            "document.querySelectorAll('select[name=role]').length"
        )
        .await
        .as_u64()
        .unwrap()
            >= 1,
        "the owner can change roles"
    );
    shot(&page, "09-team").await;
    // A write-back HubSpot refused (as the worker records one) and a refused webhook request:
    // both listed; the write-back is replayed from its button.
    let contact = ids[0] as i64;
    let dead_id: i64 = sqlx::query_scalar(
        "INSERT INTO writeback_dead_letters (portal_id, contact_id, version, properties, category, reason) \
         SELECT portal_id, contact_id, score_version, score_values, 'VALIDATION_ERROR', \
                'Property values were not valid' \
         FROM contacts WHERE portal_id = $1 AND contact_id = $2 RETURNING id",
    )
    .bind(portal.get())
    .bind(contact)
    .fetch_one(&pool)
    .await
    .expect("a dead letter");
    let unsigned = reqwest::Client::new()
        .post(format!("{public}/webhooks/workflow/{}", portal.get()))
        .json(&serde_json::json!({ "objectId": contact }))
        .send()
        .await
        .expect("an unsigned workflow call");
    assert!(unsigned.status().is_client_error());
    open(
        &page,
        &format!("{public}/app/portals/{}/dead-letters", portal.get()),
        "document.querySelector('#dead-title')",
    )
    .await;
    let listed = text_of(&page, "main").await;
    assert!(
        listed.contains("VALIDATION_ERROR"),
        "dead letters: {listed}"
    );
    assert!(
        js(
            &page,
            "document.querySelectorAll('#rejections-title ~ .table-wrap tbody tr').length"
        )
        .await
        .as_u64()
        .unwrap()
            >= 1,
        "rejections: {listed}"
    );
    shot(&page, "10-dead-letters").await;
    click(
        &page,
        &format!(r#"tr[data-id="writeback-{dead_id}"] button[type=submit]"#),
    )
    .await;
    until(
        &page,
        "location.search.includes('done=replayed')",
        "the replay's redirect",
    )
    .await;
    assert!(text_of(&page, "main").await.contains("sent again"));
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM writeback_dead_letters WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 0, "the replayed dead letter is gone");

    // Another agency's portal is the 404 page.
    let other_portal = PortalId::new(sim_portal.id as i64 + 1_000_000).unwrap();
    {
        let mut conn = pool.acquire().await.unwrap();
        let stranger = ember_core::store::agencies::upsert_person(&mut conn, 990_001, None)
            .await
            .unwrap();
        let other_agency = ember_core::store::agencies::create(&mut conn, "Other agency", stranger)
            .await
            .unwrap();
        ember_core::store::portals::register(
            &mut conn,
            other_portal,
            Some(other_agency),
            AppKind::Private,
            Some(100),
            None,
        )
        .await
        .unwrap();
    }
    open(
        &page,
        &format!("{public}/app/portals/{}", other_portal.get()),
        "document.querySelector('.error-page')",
    )
    .await;
    assert_eq!(text_of(&page, ".error-page .code").await.trim(), "404");
    shot(&page, "11-other-agency-404").await;

    // A viewer: the editor is read-only without a save button, and the API refuses a save.
    let viewer = session_for(
        &env.api,
        agency,
        990_002,
        "viewer@example.com",
        Role::Viewer,
    )
    .await;
    use_session(&page, public, &viewer).await;
    open(
        &page,
        &format!("{public}/app/portals/{}/model", portal.get()),
        "document.getElementById('model-editor').dataset.ready === 'true'",
    )
    .await;
    assert_eq!(
        js(&page, "document.getElementById('save-model') === null").await,
        Value::Bool(true)
    );
    assert_eq!(
        js(
            &page,
            "document.querySelector('[data-path=\"fit[0].points\"]').disabled"
        )
        .await,
        Value::Bool(true)
    );
    let refused = js(
        &page,
        &format!(
            "(async () => {{
                const csrf = document.querySelector('meta[name=csrf-token]').content;
                const doc = JSON.parse(document.getElementById('model-document').textContent);
                const r = await fetch('/admin/portals/{}/models', {{
                    method: 'POST',
                    headers: {{ 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }},
                    body: JSON.stringify(doc),
                }});
                return r.status;
            }})()",
            portal.get()
        ),
    )
    .await;
    assert_eq!(refused, Value::from(403), "a viewer's save");
    shot_window(&page, "12-model-viewer").await;
    let versions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scoring_models WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(versions, saved, "the viewer's save stored nothing");

    worker.stop().await.expect("worker stops");
    browser.close().await.expect("close Chromium");
    browser.wait().await.expect("Chromium exits");
    driver.abort();
}

/// A plain HTTP client of the console (no redirects followed), signed in as `person` if given.
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(api: &TestApi) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: api.address.clone(),
        }
    }

    async fn get(&self, path: &str, person: Option<&Person>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(p) = person {
            req = req.header("cookie", format!("ember_session={}", p.cookie));
        }
        req.send().await.expect("GET")
    }

    async fn post_form(
        &self,
        path: &str,
        person: &Person,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", format!("ember_session={}", person.cookie))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }
}

async fn role_of(pool: &sqlx::PgPool, agency: i64, person: i64) -> Option<Role> {
    ember_core::store::agencies::role(pool, agency, person)
        .await
        .expect("role")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_and_forms_refuse_what_they_must() {
    let env = env().await;
    let api = &env.api;
    let pool = api.db.pool.clone();
    let client = Client::new(api);

    // An agency with a portal and a stored model version, its owner and a viewer, and another
    // agency with its own portal.
    let portal = PortalId::new(4_242).unwrap();
    let (agency, other_portal) = {
        let mut conn = pool.acquire().await.unwrap();
        let founder = ember_core::store::agencies::upsert_person(&mut conn, 880_001, None)
            .await
            .unwrap();
        let agency = ember_core::store::agencies::create(&mut conn, "Northwind", founder)
            .await
            .unwrap();
        ember_core::store::portals::register(
            &mut conn,
            portal,
            Some(agency),
            AppKind::Private,
            Some(100),
            Some("northwind.example"),
        )
        .await
        .unwrap();
        let stranger = ember_core::store::agencies::upsert_person(&mut conn, 880_002, None)
            .await
            .unwrap();
        let other = ember_core::store::agencies::create(&mut conn, "Elsewhere", stranger)
            .await
            .unwrap();
        let other_portal = PortalId::new(4_343).unwrap();
        ember_core::store::portals::register(
            &mut conn,
            other_portal,
            Some(other),
            AppKind::Private,
            Some(100),
            None,
        )
        .await
        .unwrap();
        sqlx::query("DELETE FROM agency_members WHERE agency_id = $1 AND person_id = $2")
            .bind(agency)
            .bind(founder)
            .execute(&mut *conn)
            .await
            .unwrap();
        (agency, other_portal)
    };
    ember_tests::worker::use_model(
        &pool,
        portal.get(),
        &ember_core::scoring::Model::default_model(),
    )
    .await
    .unwrap();
    let owner = person_in(api, agency, 880_010, "owner@northwind.example", Role::Owner).await;
    let viewer = person_in(
        api,
        agency,
        880_011,
        "viewer@northwind.example",
        Role::Viewer,
    )
    .await;

    // Signed out: the sign-in page, under the console's security headers.
    let page = client.get("/app", None).await;
    assert_eq!(page.status(), 401);
    assert_eq!(
        page.headers()["content-security-policy"],
        ember_api::console::CONTENT_SECURITY_POLICY
    );
    assert!(page.text().await.unwrap().contains("Sign in with HubSpot"));

    // Assets: served with an ETag, revalidated, unknown ones 404.
    let css = client.get("/assets/console.css", None).await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let etag = css.headers()["etag"].to_str().unwrap().to_owned();
    let again = client
        .http
        .get(format!("{}/assets/console.css", client.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(client.get("/assets/secrets.txt", None).await.status(), 404);

    // Scoping: another agency's portal, an unknown one, an unknown contact and page: 404 pages.
    for path in [
        format!("/app/portals/{}", other_portal.get()),
        format!("/app/portals/{}/model", other_portal.get()),
        "/app/portals/999999".to_owned(),
        format!("/app/portals/{}/contacts/12345", portal.get()),
        "/app/agencies/999999/team".to_owned(),
        "/app/nowhere".to_owned(),
    ] {
        let page = client.get(&path, Some(&owner)).await;
        assert_eq!(page.status(), 404, "{path}");
        let body = page.text().await.unwrap();
        assert!(body.contains("Page not found"), "{path}: {body}");
    }
    let portal_page = client
        .get(&format!("/app/portals/{}", portal.get()), Some(&owner))
        .await;
    assert_eq!(portal_page.status(), 200);
    let html = portal_page.text().await.unwrap();
    assert!(html.contains("northwind.example") && html.contains("No contacts yet."));
    assert!(html.contains(&format!(
        r#"<meta name="csrf-token" content="{}">"#,
        owner.csrf
    )));

    // The team page: owners get role forms, viewers a read-only list.
    let team = format!("/app/agencies/{agency}/team");
    let owner_view = client.get(&team, Some(&owner)).await.text().await.unwrap();
    assert!(
        owner_view.contains(r#"name="role""#) && owner_view.contains("viewer@northwind.example")
    );
    let viewer_view = client.get(&team, Some(&viewer)).await.text().await.unwrap();
    assert!(!viewer_view.contains(r#"name="role""#) && !viewer_view.contains("Remove"));

    // A form without its CSRF token, or with another session's: 403, nothing changes.
    let change = format!("/app/agencies/{agency}/team/{}/role", viewer.id);
    let refused = client
        .post_form(&change, &owner, &[("role", "editor")])
        .await;
    assert_eq!(refused.status(), 403);
    let refused = client
        .post_form(
            &change,
            &owner,
            &[("_csrf", &viewer.csrf), ("role", "editor")],
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(role_of(&pool, agency, viewer.id).await, Some(Role::Viewer));

    // A viewer may not change roles; a role that does not exist is a 400.
    let refused = client
        .post_form(
            &format!("/app/agencies/{agency}/team/{}/role", owner.id),
            &viewer,
            &[("_csrf", &viewer.csrf), ("role", "viewer")],
        )
        .await;
    assert_eq!(refused.status(), 403);
    let bad = client
        .post_form(
            &change,
            &owner,
            &[("_csrf", &owner.csrf), ("role", "admin")],
        )
        .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("is not a role"));
    assert_eq!(role_of(&pool, agency, owner.id).await, Some(Role::Owner));

    // The owner promotes the viewer, then cannot demote themselves while the only owner.
    let done = client
        .post_form(
            &change,
            &owner,
            &[("_csrf", &owner.csrf), ("role", "editor")],
        )
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(
        done.headers()["location"],
        format!("/app/agencies/{agency}/team?done=role_changed").as_str()
    );
    assert_eq!(role_of(&pool, agency, viewer.id).await, Some(Role::Editor));
    let last_owner = client
        .post_form(
            &format!("/app/agencies/{agency}/team/{}/remove", owner.id),
            &owner,
            &[("_csrf", &owner.csrf)],
        )
        .await;
    assert_eq!(last_owner.status(), 409);
    assert!(last_owner.text().await.unwrap().contains("last owner"));
    assert_eq!(role_of(&pool, agency, owner.id).await, Some(Role::Owner));

    // Versions: an unknown version is 404 and the active one stays.
    let activate = format!("/app/portals/{}/model/versions/77/activate", portal.get());
    let unknown = client
        .post_form(&activate, &owner, &[("_csrf", &owner.csrf)])
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        ember_core::store::models::active_version(&pool, portal)
            .await
            .unwrap(),
        Some(1)
    );

    // Signing out ends the session: the next page is the sign-in page.
    let out = client
        .post_form("/app/sign-out", &owner, &[("_csrf", &owner.csrf)])
        .await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/app/sign-in");
    assert_eq!(client.get("/app", Some(&owner)).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_create_and_revoke_invites_on_the_team_page_and_the_link_shows_once() {
    let env = env().await;
    let api = &env.api;
    let pool = api.db.pool.clone();
    let client = Client::new(api);
    let agency = {
        let mut conn = pool.acquire().await.unwrap();
        let founder = ember_core::store::agencies::upsert_person(&mut conn, 890_001, None)
            .await
            .unwrap();
        ember_core::store::agencies::create(&mut conn, "Contoso", founder)
            .await
            .unwrap()
    };
    let owner = person_in(api, agency, 890_010, "owner@contoso.example", Role::Owner).await;
    let viewer = person_in(api, agency, 890_011, "viewer@contoso.example", Role::Viewer).await;
    let team = format!("/app/agencies/{agency}/team");
    let create = format!("{team}/invites");

    let owner_view = client.get(&team, Some(&owner)).await.text().await.unwrap();
    assert!(owner_view.contains("Pending invites") && owner_view.contains("No pending invites."));
    assert!(owner_view.contains(&format!(r#"action="{create}""#)));
    let viewer_view = client.get(&team, Some(&viewer)).await.text().await.unwrap();
    assert!(!viewer_view.contains("Pending invites") && !viewer_view.contains("Invite someone"));

    // A viewer's form, a form without its token, and bad input change nothing.
    let fields = |csrf: &str, max_uses: &str| {
        vec![
            ("_csrf", csrf.to_owned()),
            ("role", "editor".to_owned()),
            ("email", "Ana@Client.example".to_owned()),
            ("expires_in_hours", "48".to_owned()),
            ("max_uses", max_uses.to_owned()),
        ]
    };
    let post = |person: &Person, fields: Vec<(&'static str, String)>| {
        let pairs: Vec<(&'static str, String)> = fields;
        let (client, path, cookie) = (&client, create.clone(), person.cookie.clone());
        async move {
            client
                .http
                .post(format!("{}{path}", client.base))
                .header("cookie", format!("ember_session={cookie}"))
                .form(&pairs)
                .send()
                .await
                .expect("POST")
        }
    };
    assert_eq!(post(&viewer, fields(&viewer.csrf, "2")).await.status(), 403);
    assert_eq!(post(&owner, fields("", "2")).await.status(), 403);
    let refused = post(&owner, fields(&owner.csrf, "0")).await;
    assert_eq!(refused.status(), 400);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("max_uses must be between 1 and 100")
    );
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM invites WHERE agency_id = $1")
            .bind(agency)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(count().await, 0);

    // Created: the page shows the link this once, and lists the invite.
    let made = post(&owner, fields(&owner.csrf, "2")).await;
    assert_eq!(made.status(), 200);
    let html = made.text().await.unwrap();
    let start = html
        .find("/oauth/install?invite=")
        .expect("the link is shown");
    let token: String = html[start + "/oauth/install?invite=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "{token}");
    assert!(html.contains("ana@client.example") && html.contains("0 of 2"));
    let (id, role, hours): (i64, String, f64) = sqlx::query_as(
        "SELECT invite_id, role, extract(epoch FROM expires_at - created_at)::float8 / 3600 \
         FROM invites WHERE agency_id = $1",
    )
    .bind(agency)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(role, "editor");
    assert!((hours - 48.0).abs() < 0.01, "{hours}");
    let again = client.get(&team, Some(&owner)).await.text().await.unwrap();
    assert!(again.contains(&format!(r#"data-invite="{id}""#)));
    assert!(!again.contains(&token), "the link is never shown again");

    // Revoked from its button: gone from the list, revoked in Postgres.
    let revoke = format!("{team}/invites/{id}/revoke");
    let done = client
        .post_form(&revoke, &owner, &[("_csrf", &owner.csrf)])
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(
        done.headers()["location"],
        format!("{team}?done=invite_revoked").as_str()
    );
    let revoked: bool =
        sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM invites WHERE invite_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(revoked);
    let after = client
        .get(&format!("{team}?done=invite_revoked"), Some(&owner))
        .await
        .text()
        .await
        .unwrap();
    assert!(after.contains("No pending invites.") && after.contains("The invite was revoked"));
    let unknown = client
        .post_form(
            &format!("{team}/invites/999999/revoke"),
            &owner,
            &[("_csrf", &owner.csrf)],
        )
        .await;
    assert_eq!(unknown.status(), 404);
}

//! `ember hubspot-app render`: the committed `deploy/hubspot/` is exactly what it writes, the
//! project agrees with the routes and settings of a running api, bad input exits 2 and leaves
//! nothing behind, the portals' models add their properties, and the console names a property
//! the latest render does not subscribe to.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::Duration;
use ember_api::session::Signer;
use ember_core::config::Settings;
use ember_core::scoring::{Condition, FitRule, Model, PropertyOnly, RuleId};
use ember_core::store;
use ember_tests::{TestApi, TestDb};
use secrecy::SecretString;
use serde_json::Value;

const PUBLIC_URL: &str = "https://ember.example.com";
const ENCRYPTION_KEY: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
/// A property no part of the built-in model reads.
const NEW_PROPERTY: &str = "ember_test_region";

/// `ember` with none of this process's EMBER_* variables: only what the test sets.
fn ember() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ember"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("EMBER_")) {
        command.env_remove(key);
    }
    command.env("RUST_LOG", "warn");
    command
}

fn render(command: &mut Command, public_url: &str, out: &Path, extra: &[&str]) -> Output {
    command
        .args(["hubspot-app", "render", "--public-url", public_url, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("ember runs")
}

/// A directory under the system's temp dir, removed with the guard.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("ember-hubspot-app-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).expect("scratch dir");
        Self(dir)
    }

    /// Every entry directly inside, by name.
    fn entries(&self) -> BTreeSet<String> {
        std::fs::read_dir(&self.0)
            .expect("scratch dir readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every file under `root`, by path relative to it, with its bytes.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("readable dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let relative = path.strip_prefix(root).expect("under root");
                files.push((
                    relative.to_string_lossy().into_owned(),
                    std::fs::read(&path).expect("readable file"),
                ));
            }
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files.sort();
    files
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("file written")).expect("valid JSON")
}

fn committed_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/hubspot")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `contact.propertyChange` properties of a rendered webhooks file.
fn subscribed_properties(webhooks: &Value) -> BTreeSet<String> {
    webhooks["config"]["subscriptions"]["legacyCrmObjects"]
        .as_array()
        .expect("legacyCrmObjects")
        .iter()
        .filter(|s| s["subscriptionType"] == "contact.propertyChange")
        .map(|s| s["propertyName"].as_str().expect("propertyName").to_owned())
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn the_committed_project_is_byte_for_byte_what_render_writes_for_its_url() {
    let scratch = Scratch::new();
    let out = scratch.0.join("hubspot");
    let output = render(&mut ember(), PUBLIC_URL, &out, &["--no-database"]);
    assert!(
        output.status.success(),
        "render failed: {}",
        stderr(&output)
    );

    let rendered = tree(&out);
    let committed = tree(&committed_project());
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&rendered), names(&committed), "the same files");
    for ((name, ours), (_, theirs)) in rendered.iter().zip(&committed) {
        assert!(
            ours == theirs,
            "{name} differs from deploy/hubspot/{name}; re-render with the command in deploy/hubspot/README.md"
        );
    }
    // Rendering again over the earlier render replaces it, leaving nothing beside it.
    let again = render(&mut ember(), PUBLIC_URL, &out, &["--no-database"]);
    assert!(
        again.status.success(),
        "second render failed: {}",
        stderr(&again)
    );
    assert_eq!(tree(&out), rendered);
    assert_eq!(scratch.entries(), BTreeSet::from(["hubspot".to_owned()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_agrees_with_the_routes_scopes_and_settings_of_a_running_api() {
    let settings =
        Settings::load_from(None, Vec::<(String, String)>::new()).expect("default settings");
    let project = committed_project();
    let hsproject = read_json(&project.join("hsproject.json"));
    let app = read_json(&project.join("src/app/app-hsmeta.json"));
    let webhooks = read_json(&project.join("src/app/webhooks/webhooks-hsmeta.json"));
    assert_eq!(hsproject["platformVersion"], "2026.09");
    assert_eq!(hsproject["srcDir"], "src");
    assert_eq!(app["type"], "app");
    assert_eq!(app["config"]["distribution"], "marketplace");
    assert_eq!(app["config"]["auth"]["type"], "oauth");
    assert_eq!(webhooks["type"], "webhooks");
    assert_eq!(
        webhooks["config"]["settings"]["maxConcurrentRequests"],
        settings.hubspot.webhook_max_concurrent_requests
    );

    // An api serving this URL, as the project's reader (HubSpot) would call it.
    let api = TestApi::spawn_with(|s| {
        s.public_base_url = PUBLIC_URL.to_owned();
        s.encryption_key = Some(SecretString::from(ENCRYPTION_KEY.to_owned()));
    })
    .await
    .expect("api");

    // The install sends HubSpot exactly the redirect and scopes the project declares.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let install = client
        .get(format!("{}/oauth/install", api.address))
        .send()
        .await
        .unwrap();
    assert_eq!(install.status(), 302);
    let location = url::Url::parse(install.headers()["location"].to_str().unwrap()).unwrap();
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(
        strings(&app["config"]["auth"]["redirectUrls"]),
        [param("redirect_uri").expect("redirect_uri")]
    );
    let asked: BTreeSet<String> = param("scope")
        .expect("scope")
        .split(' ')
        .map(str::to_owned)
        .collect();
    let required: BTreeSet<String> = strings(&app["config"]["auth"]["requiredScopes"])
        .into_iter()
        .collect();
    assert_eq!(required, asked);
    let optional: BTreeSet<String> = param("optional_scope")
        .map(|s| s.split(' ').map(str::to_owned).collect())
        .unwrap_or_default();
    let declared_optional: BTreeSet<String> = strings(&app["config"]["auth"]["optionalScopes"])
        .into_iter()
        .collect();
    assert_eq!(declared_optional, optional);

    // A webhook signed for the declared target URL is accepted at that path; one signed for
    // another URL is refused, so the acceptance proves the URL is the one the intake verifies.
    let target = webhooks["config"]["settings"]["targetUrl"]
        .as_str()
        .expect("targetUrl")
        .to_owned();
    let path = target
        .strip_prefix(PUBLIC_URL)
        .expect("targetUrl under the public URL");
    let now = chrono::Utc::now().timestamp_millis();
    let body = ember_tests::property_change_events(987_654, 1, 1, now).to_string();
    let post = |signed_uri: String| {
        let ts = now.to_string();
        let signature = ember_core::signature::v3_signature(
            &api.secret,
            "POST",
            &signed_uri,
            body.as_bytes(),
            &ts,
        );
        client
            .post(format!("{}{path}", api.address))
            .header("content-type", "application/json")
            .header("x-hubspot-signature-v3", signature)
            .header("x-hubspot-request-timestamp", ts)
            .body(body.clone())
            .send()
    };
    let accepted = post(target.clone()).await.unwrap();
    assert!(accepted.status().is_success(), "{}", accepted.status());
    let refused = post(format!("{PUBLIC_URL}/elsewhere")).await.unwrap();
    assert_eq!(refused.status(), 401);

    // Every property the built-in model reads has its subscription, and every contact event
    // Ember handles is subscribed.
    let subscribed = subscribed_properties(&webhooks);
    let reads = Model::default_model().read_properties();
    let unsubscribed: Vec<_> = reads.difference(&subscribed).collect();
    assert!(unsubscribed.is_empty(), "not subscribed: {unsubscribed:?}");
    let types: BTreeSet<String> = webhooks["config"]["subscriptions"]["legacyCrmObjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["active"], true);
            s["subscriptionType"].as_str().unwrap().to_owned()
        })
        .collect();
    for wanted in [
        "contact.creation",
        "contact.deletion",
        "contact.merge",
        "contact.restore",
        "contact.propertyChange",
    ] {
        assert!(types.contains(wanted), "{wanted} missing");
    }
    assert_eq!(
        webhooks["config"]["subscriptions"]["hubEvents"],
        serde_json::json!([{ "active": true, "subscriptionType": "contact.privacyDeletion" }])
    );
}

#[test]
fn bad_input_exits_2_with_a_reason_and_writes_nothing() {
    let scratch = Scratch::new();
    let out = scratch.0.join("hubspot");
    for (url, says) in [
        ("ember.example.com", "is not an absolute URL"),
        ("http://ember.example.com", "must use https"),
        ("https://ember.example.com/?x=1", "has a query"),
        ("https://ember.example.com/#top", "has a fragment"),
    ] {
        let output = render(&mut ember(), url, &out, &["--no-database"]);
        assert_eq!(output.status.code(), Some(2), "{url}: {}", stderr(&output));
        assert!(stderr(&output).contains(says), "{url}: {}", stderr(&output));
    }

    // An output directory whose parent is a file, so it cannot be written.
    let file = scratch.0.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let output = render(
        &mut ember(),
        PUBLIC_URL,
        &file.join("hubspot"),
        &["--no-database"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("does not exist"),
        "{}",
        stderr(&output)
    );

    // A directory that is not an earlier render is never replaced.
    let foreign = scratch.0.join("notes");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "mine").unwrap();
    let output = render(&mut ember(), PUBLIC_URL, &foreign, &["--no-database"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is not an earlier render"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("keep.txt")).unwrap(),
        "mine"
    );

    // PostgreSQL unreachable, and the database was not waived.
    let output = render(
        ember()
            .env(
                "EMBER_DATABASE__URL",
                "postgres://postgres@127.0.0.1:1/ember?sslmode=disable",
            )
            .env("EMBER_DATABASE__ACQUIRE_TIMEOUT_SECS", "2"),
        PUBLIC_URL,
        &out,
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot read the portals' models from PostgreSQL"),
        "{}",
        stderr(&output)
    );

    // Nothing was written anywhere: no project, no staging directory.
    assert_eq!(
        scratch.entries(),
        BTreeSet::from(["a-file".to_owned(), "notes".to_owned()])
    );
    assert_eq!(tree(&foreign).len(), 1);
}

/// The built-in model plus a fit rule on [`NEW_PROPERTY`].
fn model_reading_the_new_property() -> Model {
    let mut model = Model::default_model();
    model.fit.push(FitRule {
        id: RuleId::parse("region_known").unwrap(),
        label: None,
        points: 2.0,
        when: Condition::Known(PropertyOnly {
            property: NEW_PROPERTY.to_owned(),
        }),
    });
    model.validate().expect("valid model");
    model
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_portals_models_add_subscriptions_and_the_render_is_recorded() {
    let db = TestDb::new().await.unwrap();
    let installed = db.add_portal(7101).await.unwrap();
    let uninstalled = db.add_portal(7102).await.unwrap();
    // It also reads a property HubSpot offers no subscription for (docs/hubspot.md A.3).
    let mut installed_model = model_reading_the_new_property();
    installed_model.fit.push(FitRule {
        id: RuleId::parse("recently_modified").unwrap(),
        label: None,
        points: 1.0,
        when: Condition::Known(PropertyOnly {
            property: "hs_lastmodifieddate".to_owned(),
        }),
    });
    store::models::insert_and_activate(&db.pool, installed, &installed_model, "test")
        .await
        .unwrap()
        .expect("portal exists");
    let mut gone = Model::default_model();
    gone.fit.push(FitRule {
        id: RuleId::parse("gone").unwrap(),
        label: None,
        points: 1.0,
        when: Condition::Known(PropertyOnly {
            property: "ember_test_uninstalled_only".to_owned(),
        }),
    });
    store::models::insert_and_activate(&db.pool, uninstalled, &gone, "test")
        .await
        .unwrap()
        .expect("portal exists");
    sqlx::query("UPDATE portals SET status = 'uninstalled' WHERE portal_id = $1")
        .bind(uninstalled.get())
        .execute(&db.pool)
        .await
        .unwrap();

    let scratch = Scratch::new();
    let out = scratch.0.join("hubspot");
    let output = render(
        ember().env("EMBER_DATABASE__URL", &db.url),
        PUBLIC_URL,
        &out,
        &[],
    );
    assert!(
        output.status.success(),
        "render failed: {}",
        stderr(&output)
    );

    let subscribed = subscribed_properties(&read_json(
        &out.join("src/app/webhooks/webhooks-hsmeta.json"),
    ));
    assert!(subscribed.contains(NEW_PROPERTY), "{subscribed:?}");
    assert!(
        !subscribed.contains("hs_lastmodifieddate"),
        "{subscribed:?}"
    );
    assert!(
        stderr(&output).contains("no propertyChange subscription for hs_lastmodifieddate"),
        "{}",
        stderr(&output)
    );
    assert!(
        !subscribed.contains("ember_test_uninstalled_only"),
        "{subscribed:?}"
    );
    assert!(
        Model::default_model()
            .read_properties()
            .is_subset(&subscribed)
    );

    let recorded = store::hubspot_app::latest(&db.pool)
        .await
        .unwrap()
        .expect("the render is recorded");
    assert_eq!(recorded.public_url, PUBLIC_URL);
    assert_eq!(
        recorded.properties,
        subscribed.into_iter().collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_page_names_a_read_property_the_latest_render_does_not_subscribe() {
    let api = TestApi::spawn_with(|s| {
        s.encryption_key = Some(SecretString::from(ENCRYPTION_KEY.to_owned()));
    })
    .await
    .expect("api");
    let pool = &api.db.pool;
    let mut conn = pool.acquire().await.unwrap();
    let person = store::agencies::upsert_person(&mut conn, 4242, Some("owner@example.com"))
        .await
        .unwrap();
    let agency = store::agencies::create(&mut conn, "Agency", person)
        .await
        .unwrap();
    drop(conn);
    let portal = api.db.add_portal(7201).await.unwrap();
    sqlx::query("UPDATE portals SET agency_id = $1 WHERE portal_id = $2")
        .bind(agency)
        .bind(portal.get())
        .execute(pool)
        .await
        .unwrap();
    let session = store::sessions::create(pool, person, chrono::Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    let signer = Signer::new(&SecretString::from(api.secret.clone()), 600, 3600, false).unwrap();
    let cookie = signer.new_session(session, person).unwrap();
    let page = || async {
        let response = api
            .client
            .get(format!("{}/app/portals/{}", api.address, portal.get()))
            .header("cookie", format!("ember_session={cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    let notice = |property: &str| {
        format!(
            "The model reads {property} but the HubSpot app does not subscribe to \
             contact.propertyChange for {property}; run <code>ember hubspot-app render</code> \
             and <code>hs project upload</code>."
        )
    };
    let no_render_hint = "No HubSpot app render is recorded";

    // No render recorded: a one-line hint, no notice.
    let html = page().await;
    assert!(html.contains(no_render_hint), "{html}");
    assert!(!html.contains("The model reads"), "{html}");

    // A render for the built-in model, then a model that reads one more property.
    let output = render(
        ember().env("EMBER_DATABASE__URL", &api.db.url),
        PUBLIC_URL,
        &Scratch::new().0.join("hubspot"),
        &[],
    );
    assert!(
        output.status.success(),
        "render failed: {}",
        stderr(&output)
    );
    let html = page().await;
    assert!(
        !html.contains(no_render_hint) && !html.contains("The model reads"),
        "{html}"
    );
    store::models::insert_and_activate(pool, portal, &model_reading_the_new_property(), "test")
        .await
        .unwrap()
        .expect("portal exists");
    let html = page().await;
    assert!(html.contains(&notice(NEW_PROPERTY)), "{html}");
    assert_eq!(
        html.matches("The model reads").count(),
        1,
        "only the new property: {html}"
    );

    // Rendering again subscribes to it, and the notice goes.
    let scratch = Scratch::new();
    let output = render(
        ember().env("EMBER_DATABASE__URL", &api.db.url),
        PUBLIC_URL,
        &scratch.0.join("hubspot"),
        &[],
    );
    assert!(
        output.status.success(),
        "render failed: {}",
        stderr(&output)
    );
    let html = page().await;
    assert!(
        !html.contains("The model reads") && !html.contains(no_render_hint),
        "{html}"
    );
}

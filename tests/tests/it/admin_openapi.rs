//! The OpenAPI document of the admin API: public at `/api/openapi.json`, and true. Every
//! documented operation is called once, as the agency's owner, with the sample below; none may
//! answer "no such route" (a 404 that is not the API's JSON error), 405 or 5xx, and each answers
//! with a status its documentation lists. Without a session every one is 401.
//!
//! Adding a route: document it with `#[utoipa::path]`, list it in `api/src/openapi.rs`, and add a
//! row for its operationId to [`samples`] (its path parameters default to [`Fixture::params`]).

use crate::admin_support;

use std::collections::BTreeMap;

use admin_support::{Admin, SeedContact, default_model_json, strong_fit};
use chrono::Utc;
use ember_core::domain::Role;
use ember_core::scoring::Model;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What exists when the operations are called.
struct Fixture {
    /// Path parameter name → value, for every operation that does not override it.
    params: BTreeMap<&'static str, String>,
    /// A second portal of the agency, for operations that end a portal.
    spare_portal: i64,
}

/// How to call one operation.
#[derive(Default)]
struct Sample {
    /// Path parameters that differ from the fixture's.
    params: Vec<(&'static str, String)>,
    /// The query string, without `?`.
    query: &'static str,
    body: Option<Value>,
    /// The exact status expected, when the fixture makes it certain.
    expect: Option<u16>,
}

/// The sample of every documented operation, by operationId.
fn samples(f: &Fixture) -> BTreeMap<&'static str, Sample> {
    let ok = |status| Sample {
        expect: Some(status),
        ..Sample::default()
    };
    let with_body = |body: Value, status| Sample {
        body: Some(body),
        expect: Some(status),
        ..Sample::default()
    };
    BTreeMap::from([
        // Me, agencies and portals.
        ("get_me", ok(200)),
        ("list_agency_portals", ok(200)),
        (
            "add_private_portal",
            // The simulator does not know this token: refused with a reason, never a 5xx.
            Sample {
                body: Some(json!({"portal_id": 777001, "token": "pat-na1-unknown", "tier": 100})),
                ..Sample::default()
            },
        ),
        ("create_invite", with_body(json!({"role": "viewer"}), 201)),
        ("list_invites", ok(200)),
        ("revoke_invite", ok(204)),
        ("list_portals", ok(200)),
        ("get_portal", ok(200)),
        (
            "uninstall_portal",
            Sample {
                params: vec![("portal", f.spare_portal.to_string())],
                expect: Some(200),
                ..Sample::default()
            },
        ),
        ("rotate_webhook_secret", ok(200)),
        // Scoring models.
        ("list_model_versions", ok(200)),
        ("save_model", with_body(default_model_json(), 201)),
        ("get_active_model", ok(200)),
        ("get_model_version", ok(200)),
        ("validate_model", with_body(default_model_json(), 200)),
        ("preview_model", with_body(default_model_json(), 200)),
        ("activate_model_version", ok(200)),
        // Scores.
        ("get_scores", ok(200)),
        (
            "list_contacts",
            Sample {
                query: "sort=rising&limit=5",
                expect: Some(200),
                ..Sample::default()
            },
        ),
        ("explain_contact", ok(200)),
        // Operations and team.
        ("portal_health", ok(200)),
        ("list_dead_letters", ok(200)),
        (
            "replay_dead_letter",
            // The fixture has no dead letters: a well-formed id of none is the API's 404.
            Sample {
                params: vec![("id", "writeback-999999".to_owned())],
                expect: Some(404),
                ..Sample::default()
            },
        ),
        ("list_rejections", ok(200)),
        ("list_members", ok(200)),
        ("set_member_role", with_body(json!({"role": "viewer"}), 200)),
        ("remove_member", ok(204)),
    ])
}

async fn fixture(admin: &Admin) -> (Fixture, admin_support::Session) {
    let owner = admin.person(21, "owner@agency.example").await;
    let member = admin.person(22, "member@agency.example").await;
    let agency = admin.agency("Agency", owner).await;
    admin.member(agency, member, Role::Editor).await;
    let portal = admin.portal(6001, agency).await;
    let spare = admin.portal(6002, agency).await;
    admin
        .seed_contacts(
            portal,
            &Model::default_model(),
            0,
            &[SeedContact {
                id: 101,
                properties: strong_fit(),
                engagement: vec![("pricing_page", chrono::Duration::hours(2))],
            }],
            Utc::now(),
        )
        .await;
    ember_core::store::models::insert_and_activate(
        admin.pool(),
        portal,
        &Model::default_model(),
        "fixture",
    )
    .await
    .unwrap();
    let invite = ember_core::store::invites::create(
        admin.pool(),
        agency,
        &ember_core::store::invites::NewInvite {
            role: Role::Viewer,
            email: None,
            created_by: owner,
            valid_for: chrono::Duration::hours(1),
            max_uses: 1,
        },
        &ember_core::domain::InviteToken::generate(),
    )
    .await
    .unwrap();
    let params = BTreeMap::from([
        ("invite", invite.invite_id.to_string()),
        ("portal", portal.get().to_string()),
        ("agency", agency.to_string()),
        ("version", "1".to_string()),
        ("contact", "101".to_string()),
        ("person", member.to_string()),
        ("id", "1".to_string()),
    ]);
    (
        Fixture {
            params,
            spare_portal: spare.get(),
        },
        admin.sign_in(owner).await,
    )
}

fn fill(template: &str, sample: &Sample, fixture: &Fixture) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closed parameter") + start;
        let name = &rest[start + 1..end];
        let value = sample
            .params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| fixture.params.get(name).cloned())
            .unwrap_or_else(|| {
                panic!("no value for path parameter {{{name}}}: add it to Fixture::params")
            });
        out.push_str(&rest[..start]);
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn the_document_is_public_and_describes_the_admin_api() {
    let admin = Admin::start().await;
    let resp = reqwest::get(format!("{}/api/openapi.json", admin.api.address))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "no session needed");
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/admin/me", "get"),
        ("/admin/portals", "get"),
        ("/admin/portals/{portal}", "get"),
        ("/admin/portals/{portal}/uninstall", "post"),
        ("/admin/agencies/{agency}/portals", "get"),
        ("/admin/agencies/{agency}/portals", "post"),
        ("/admin/agencies/{agency}/invites", "post"),
        ("/admin/agencies/{agency}/invites", "get"),
        ("/admin/agencies/{agency}/invites/{invite}", "delete"),
        ("/admin/portals/{portal}/models", "get"),
        ("/admin/portals/{portal}/models", "post"),
        ("/admin/portals/{portal}/model", "get"),
        ("/admin/portals/{portal}/models/{version}", "get"),
        ("/admin/portals/{portal}/models/validate", "post"),
        ("/admin/portals/{portal}/models/preview", "post"),
        ("/admin/portals/{portal}/models/{version}/activate", "post"),
        ("/admin/portals/{portal}/scores", "get"),
        ("/admin/portals/{portal}/contacts", "get"),
        ("/admin/portals/{portal}/contacts/{contact}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    // Credentials: the session cookie everywhere, the CSRF header on changes.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "ember_session");
    assert_eq!(schemes["csrf"]["in"], "header");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if method != "get" {
                assert_eq!(
                    op["security"],
                    json!([{"session": [], "csrf": []}]),
                    "{method} {path} needs the CSRF header"
                );
            }
        }
    }
    // Response shapes are described, e.g. the preview's distribution.
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Preview",
        "Distribution",
        "Bucket",
        "Explanation",
        "ContactSummary",
        "ErrorBody",
    ] {
        assert!(schemas.get(name).is_some(), "schema {name}");
    }
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let admin = Admin::start().await;
    let (fixture, owner) = fixture(&admin).await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", admin.api.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let samples = samples(&fixture);

    // Changes that remove things go last, so the others still find what they need.
    let mut operations: Vec<(String, Method, Value)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            operations.push((path.clone(), method, op.clone()));
        }
    }
    operations.sort_by_key(|(_, m, _)| *m == Method::DELETE);
    assert!(operations.len() >= 17, "{} operations", operations.len());

    let mut called = Vec::new();
    for (template, method, op) in operations {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {template} has an operationId"));
        let sample = samples.get(id).unwrap_or_else(|| {
            panic!("add a sample for operationId {id:?} ({method} {template}) to samples() in tests/tests/it/admin_openapi.rs")
        });
        let mut url = fill(&template, sample, &fixture);
        if !sample.query.is_empty() {
            url = format!("{url}?{}", sample.query);
        }
        let anonymous = admin
            .call(None, method.clone(), &url, sample.body.clone())
            .await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{id}: every admin route needs a session"
        );
        let reply = admin
            .call(Some(&owner), method.clone(), &url, sample.body.clone())
            .await;
        let status = reply.status.as_u16();
        let what = format!("{id}: {method} {url} answered {status} {}", reply.body);
        assert_ne!(status, 405, "{what}");
        assert!(status < 500, "{what}");
        if status == 404 {
            assert!(
                reply.body.get("error").is_some(),
                "a 404 from the router, not the API: {what}"
            );
        }
        if let Some(expected) = sample.expect {
            assert_eq!(status, expected, "{what}");
        }
        assert!(
            op["responses"].get(status.to_string()).is_some(),
            "the document lists every status an operation answers: {what}"
        );
        called.push(id.to_owned());
    }
    // Every sample is for a documented operation (none left over from a removed route).
    for id in samples.keys() {
        assert!(called.iter().any(|c| c == id), "{id} is not documented");
    }
}

/// Issue 13: schemathesis, driven by the published document, sends generated requests to every
/// operation as a signed-in owner of a throwaway agency (cookie and CSRF header), in a bounded
/// number of examples with a fixed seed: no answer may be a 5xx, and every answer must match
/// the schema and content type documented for its status. `.ci/run` installs schemathesis
/// (`pip install schemathesis`) when it is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_schema() {
    let admin = Admin::start().await;
    let (fixture, session) = fixture(&admin).await;
    let report = std::env::temp_dir().join(format!(
        "ember-schemathesis-{}",
        ember_tests::unique_name("r")
    ));
    std::fs::create_dir_all(&report).unwrap();
    // The fixture's identifiers, so that generated requests reach the handlers' logic instead
    // of stopping at 404; ending a portal uses the spare one.
    let mut config = String::from("[parameters]\n");
    for (name, value) in &fixture.params {
        config.push_str(&format!("\"path.{name}\" = {value}\n"));
    }
    config.push_str(&format!(
        "\n[[operations]]\ninclude-operation-id = \"uninstall_portal\"\nparameters = {{ \"path.portal\" = {} }}\n",
        fixture.spare_portal
    ));
    let config_file = report.join("schemathesis.toml");
    std::fs::write(&config_file, config).unwrap();
    let run = tokio::process::Command::new("schemathesis")
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(format!("{}/api/openapi.json", admin.api.address))
        .args([
            "--header",
            &format!("Cookie: ember_session={}", session.cookie),
        ])
        .args(["--header", &format!("X-CSRF-Token: {}", session.csrf)])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance",
            "--max-examples",
            "15",
            "--seed",
            "20261206",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--no-color",
            "--request-timeout",
            "10",
        ])
        .arg("--report-dir")
        .arg(&report)
        .env("SCHEMATHESIS_TELEMETRY", "false")
        // Its caches (.schemathesis, .hypothesis) go to the scratch directory, not the tree.
        .current_dir(&report)
        .kill_on_drop(true)
        .output()
        .await
        .expect("schemathesis runs (pip install schemathesis; .ci/run installs it)");
    let _ = std::fs::remove_dir_all(&report);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    // It really tested: the summary names the operations it ran.
    assert!(stdout.contains("passed"), "{stdout}");
    println!("{stdout}");
}

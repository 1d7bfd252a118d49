//! The admin API's model and score endpoints and its CSRF protection, over real HTTP against a
//! real Postgres: versions are saved with who and when, roll back and queue rescores; invalid
//! models are refused with every problem's path; viewers cannot change anything; another
//! agency's portal is 404; scores, top and rising contacts and explanations come from the stored
//! snapshots and ledgers.

use crate::admin_support;

use admin_support::{Admin, SeedContact, Session, default_model_json, strong_fit, totals};
use chrono::{Duration, Utc};
use ember_core::domain::PortalId;
use ember_core::domain::Role;
use ember_core::scoring::Model;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One agency (owner, editor, viewer) with a portal, and another agency with its own portal.
struct World {
    admin: Admin,
    portal: PortalId,
    other_portal: PortalId,
    owner: Session,
    editor: Session,
    viewer: Session,
    outsider: Session,
}

async fn world() -> World {
    let admin = Admin::start().await;
    let owner = admin.person(11, "owner@agency.example").await;
    let editor = admin.person(12, "editor@agency.example").await;
    let viewer = admin.person(13, "viewer@agency.example").await;
    let outsider = admin.person(14, "someone@rival.example").await;
    let agency = admin.agency("Agency", owner).await;
    admin.member(agency, editor, Role::Editor).await;
    admin.member(agency, viewer, Role::Viewer).await;
    let rival = admin.agency("Rival", outsider).await;
    let portal = admin.portal(5001, agency).await;
    let other_portal = admin.portal(5002, rival).await;
    World {
        owner: admin.sign_in(owner).await,
        editor: admin.sign_in(editor).await,
        viewer: admin.sign_in(viewer).await,
        outsider: admin.sign_in(outsider).await,
        admin,
        portal,
        other_portal,
    }
}

fn path(portal: PortalId, rest: &str) -> String {
    format!("/admin/portals/{}{rest}", portal.get())
}

/// The default model with one fit rule's points changed (a different, valid document).
fn model_with_phone_points(points: f64) -> Value {
    let mut m = default_model_json();
    let rule = m["fit"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["id"] == "phone_known")
        .unwrap();
    rule["points"] = json!(points);
    m
}

async fn rescore_rows(admin: &Admin, portal: PortalId) -> Vec<(i32, bool)> {
    sqlx::query_as(
        "SELECT version, finished_at IS NOT NULL FROM model_rescores WHERE portal_id = $1 ORDER BY version",
    )
    .bind(portal.get())
    .fetch_all(admin.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn changes_without_the_sessions_csrf_token_are_refused_with_403_and_change_nothing() {
    let w = world().await;
    let a = &w.admin;
    let me = a.get(&w.editor, "/admin/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["csrf_token"], w.editor.csrf.as_str());
    assert_ne!(
        w.editor.csrf, w.owner.csrf,
        "each session has its own token"
    );

    let save = path(w.portal, "/models");
    let body = Some(model_with_phone_points(7.0));
    let wrong_tokens = [
        None,
        Some(""),
        Some("0000"),
        Some(w.owner.csrf.as_str()), // another session's token
    ];
    for token in wrong_tokens {
        let reply = a
            .call_with_csrf(Some(&w.editor), Method::POST, &save, body.clone(), token)
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{token:?}");
        assert_eq!(
            reply.body,
            json!({"error": "csrf", "status": "error", "code": "csrf", "message": "missing or invalid CSRF token"}),
        );
    }
    // Other changes too: activate, uninstall, an invitation.
    for route in [
        path(w.portal, "/models/1/activate"),
        path(w.portal, "/uninstall"),
    ] {
        let reply = a
            .call_with_csrf(Some(&w.owner), Method::POST, &route, None, None)
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{route}");
    }
    // A form body without the header is refused too: only console form routes take `_csrf`.
    let form = reqwest::Client::new()
        .post(format!("{}{save}", a.api.address))
        .header("cookie", format!("ember_session={}", w.editor.cookie))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("_csrf={}", w.editor.csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);

    assert_eq!(a.count("scoring_models", w.portal).await, 0);
    assert_eq!(a.count("model_rescores", w.portal).await, 0);
    assert_eq!(
        ember_core::store::portals::status(a.pool(), w.portal)
            .await
            .unwrap(),
        Some(ember_core::store::portals::PortalStatus::Active),
        "the uninstall did not happen"
    );
    // Without a session it is 401 (authentication comes first), and GETs need no token.
    let anonymous = a.call(None, Method::POST, &save, body.clone()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let read = a
        .call_with_csrf(
            Some(&w.viewer),
            Method::GET,
            &path(w.portal, "/models"),
            None,
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);

    // With the token the same change goes through.
    let ok = a.post(&w.editor, &save, body).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    assert_eq!(a.count("scoring_models", w.portal).await, 1);
}

#[tokio::test]
async fn a_saved_version_is_listed_with_who_and_when_queues_a_rescore_and_rolls_back() {
    let w = world().await;
    let a = &w.admin;

    // A new portal has only the built-in model, version 0.
    let list = a.get(&w.viewer, &path(w.portal, "/models")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["active_version"], 0);
    assert_eq!(list.body["versions"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["versions"][0]["version"], 0);
    assert_eq!(list.body["versions"][0]["active"], true);
    let active = a.get(&w.viewer, &path(w.portal, "/model")).await;
    assert_eq!(active.body["version"], 0);
    assert_eq!(active.body["document"], default_model_json());

    // The editor saves two versions.
    let before = Utc::now();
    let first = a
        .post(
            &w.editor,
            &path(w.portal, "/models"),
            Some(model_with_phone_points(7.0)),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body, json!({"version": 1, "rescore": "queued"}));
    assert_eq!(rescore_rows(a, w.portal).await, vec![(1, false)]);
    let second = a
        .post(
            &w.editor,
            &path(w.portal, "/models"),
            Some(model_with_phone_points(9.0)),
        )
        .await;
    assert_eq!(second.body, json!({"version": 2, "rescore": "queued"}));

    let list = a.get(&w.viewer, &path(w.portal, "/models")).await;
    assert_eq!(list.body["active_version"], 2);
    let versions = list.body["versions"].as_array().unwrap();
    assert_eq!(
        versions.len(),
        2,
        "no built-in entry once a stored version is active"
    );
    let editor_label = format!("editor@agency.example (person {})", w.editor.person);
    for (v, (number, active)) in versions.iter().zip([(2, true), (1, false)]) {
        assert_eq!(v["version"], number);
        assert_eq!(v["active"], active);
        assert_eq!(v["created_by"], editor_label.as_str());
        let at: chrono::DateTime<Utc> = v["created_at"].as_str().unwrap().parse().unwrap();
        assert!(at >= before - Duration::seconds(5), "{at}");
    }
    let stored = a.get(&w.viewer, &path(w.portal, "/models/1")).await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(stored.body["active"], false);
    assert_eq!(stored.body["document"], model_with_phone_points(7.0));
    let active = a.get(&w.viewer, &path(w.portal, "/model")).await;
    assert_eq!(active.body["version"], 2);
    let mut saved = model_with_phone_points(9.0);
    saved["version"] = json!(2);
    assert_eq!(
        active.body["document"], saved,
        "stored as sent, numbered as the version it is"
    );

    // Roll back to 1 after its rescore finished: active again, and rescored again.
    sqlx::query("UPDATE model_rescores SET finished_at = now() WHERE portal_id = $1")
        .bind(w.portal.get())
        .execute(a.pool())
        .await
        .unwrap();
    let back = a
        .post(&w.editor, &path(w.portal, "/models/1/activate"), None)
        .await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
    assert_eq!(back.body, json!({"active_version": 1, "rescore": "queued"}));
    assert_eq!(rescore_rows(a, w.portal).await, vec![(1, false), (2, true)]);
    let active: Option<i32> = ember_core::store::models::active_version(a.pool(), w.portal)
        .await
        .unwrap();
    assert_eq!(active, Some(1));
    let list = a.get(&w.viewer, &path(w.portal, "/models")).await;
    assert_eq!(list.body["active_version"], 1);
    assert_eq!(list.body["versions"][1]["active"], true);
    let scores = a.get(&w.viewer, &path(w.portal, "/scores")).await;
    assert_eq!(scores.body["model_version"], 1);
    assert_eq!(scores.body["rescore"]["status"], "running");

    // Unknown versions are 404; version 0 is readable but not activatable.
    for route in ["/models/7", "/models/-1", "/models/abc"] {
        let r = a.get(&w.viewer, &path(w.portal, route)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{route}");
    }
    let missing = a.get(&w.viewer, &path(w.portal, "/models/7")).await;
    assert_eq!(missing.body["error"], "not_found");
    assert_eq!(
        missing.body["message"],
        "this portal has no model version 7"
    );
    let builtin = a.get(&w.viewer, &path(w.portal, "/models/0")).await;
    assert_eq!(builtin.status, StatusCode::OK);
    assert_eq!(builtin.body["active"], false);
    for v in [0, 7] {
        let r = a
            .post(
                &w.editor,
                &path(w.portal, &format!("/models/{v}/activate")),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "activate {v}");
    }
    assert_eq!(
        ember_core::store::models::active_version(a.pool(), w.portal)
            .await
            .unwrap(),
        Some(1)
    );
}

#[tokio::test]
async fn an_invalid_model_is_refused_with_422_and_every_problem_at_its_path() {
    let w = world().await;
    let a = &w.admin;

    // Two type errors: both reported, with their paths.
    let mut doc = default_model_json();
    doc["engagement"][3]["points"] = json!("lots");
    doc["fit"][1]["points"] = json!("ten");
    for route in ["/models/validate", "/models/preview", "/models"] {
        let r = a
            .post(&w.editor, &path(w.portal, route), Some(doc.clone()))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{route}");
        assert_eq!(r.body["error"], "invalid_model");
        assert_eq!(r.body["message"], "2 errors");
        assert_eq!(
            r.body["errors"],
            json!([
                {"path": "fit[1].points", "message": "expected a number (found string \"ten\")"},
                {"path": "engagement[3].points", "message": "expected a number (found string \"lots\")"},
            ]),
            "{route}"
        );
    }

    // A document that reads but does not validate: every rule problem at once.
    let mut doc = default_model_json();
    doc["decay"]["half_life_days"] = json!(-1);
    doc["fit"][1]["id"] = doc["fit"][0]["id"].clone();
    let r = a
        .post(&w.editor, &path(w.portal, "/models/validate"), Some(doc))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"decay.half_life_days"), "{paths:?}");
    assert!(paths.contains(&"fit[1].id"), "{paths:?}");
    assert!(r.body["warnings"].is_array());

    // Not JSON at all: one issue naming the line and column.
    let raw = reqwest::Client::new()
        .post(format!("{}{}", a.api.address, path(w.portal, "/models")))
        .header("cookie", format!("ember_session={}", w.editor.cookie))
        .header("x-csrf-token", &w.editor.csrf)
        .header("content-type", "application/json")
        .body("{\"version\": 1,\n  oops")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["message"], "1 error");
    assert_eq!(body["errors"].as_array().unwrap().len(), 1);
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("line 2"), "{message}");

    // A missing required field.
    let mut doc = default_model_json();
    doc.as_object_mut().unwrap().remove("output");
    let r = a
        .post(&w.editor, &path(w.portal, "/models/validate"), Some(doc))
        .await;
    assert_eq!(
        r.body["errors"],
        json!([{"path": "output", "message": "missing field"}])
    );

    // Nothing was stored.
    assert_eq!(a.count("scoring_models", w.portal).await, 0);
    assert_eq!(a.count("model_rescores", w.portal).await, 0);

    // A valid one validates, with its warnings listed.
    let ok = a
        .post(
            &w.viewer,
            &path(w.portal, "/models/validate"),
            Some(default_model_json()),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["valid"], true);
    assert!(ok.body["warnings"].is_array());
}

#[tokio::test]
async fn a_viewer_may_read_validate_and_preview_but_not_save_or_activate() {
    let w = world().await;
    let a = &w.admin;
    let v1 = a
        .post(
            &w.editor,
            &path(w.portal, "/models"),
            Some(model_with_phone_points(7.0)),
        )
        .await;
    assert_eq!(v1.status, StatusCode::CREATED);

    let save = a
        .post(
            &w.viewer,
            &path(w.portal, "/models"),
            Some(model_with_phone_points(9.0)),
        )
        .await;
    assert_eq!(save.status, StatusCode::FORBIDDEN);
    assert_eq!(save.body["error"], "forbidden");
    assert_eq!(save.body["message"], "this needs the editor role");
    // Even an invalid body is refused for the role first.
    let invalid = a
        .post(
            &w.viewer,
            &path(w.portal, "/models"),
            Some(json!({"version": "x"})),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::FORBIDDEN);
    let activate = a
        .post(&w.viewer, &path(w.portal, "/models/1/activate"), None)
        .await;
    assert_eq!(activate.status, StatusCode::FORBIDDEN);
    assert_eq!(a.count("scoring_models", w.portal).await, 1);

    for route in ["/models/validate", "/models/preview"] {
        let r = a
            .post(
                &w.viewer,
                &path(w.portal, route),
                Some(default_model_json()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{route}: {:?}", r.body);
    }
    // The owner may do what the editor may.
    let owner = a
        .post(&w.owner, &path(w.portal, "/models/1/activate"), None)
        .await;
    assert_eq!(owner.status, StatusCode::OK);
}

#[tokio::test]
async fn every_model_and_score_route_of_another_agencys_portal_is_404() {
    let w = world().await;
    let a = &w.admin;
    let theirs = w.other_portal;
    // The rival has a version and a contact, so a 404 cannot come from missing data.
    let saved = a
        .post(
            &w.outsider,
            &path(theirs, "/models"),
            Some(model_with_phone_points(7.0)),
        )
        .await;
    assert_eq!(saved.status, StatusCode::CREATED);
    a.seed_contacts(
        theirs,
        &Model::default_model(),
        0,
        &[SeedContact {
            id: 1,
            properties: strong_fit(),
            engagement: vec![],
        }],
        Utc::now(),
    )
    .await;
    let doc = Some(default_model_json());
    let routes = [
        (Method::GET, "/models", None),
        (Method::GET, "/model", None),
        (Method::GET, "/models/1", None),
        (Method::POST, "/models/validate", doc.clone()),
        (Method::POST, "/models/preview", doc.clone()),
        (Method::POST, "/models", doc.clone()),
        (Method::POST, "/models/1/activate", None),
        (Method::GET, "/scores", None),
        (Method::GET, "/contacts?sort=top", None),
        (Method::GET, "/contacts/1", None),
    ];
    for (method, route, body) in routes {
        let r = a
            .call(Some(&w.owner), method.clone(), &path(theirs, route), body)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {route}");
        assert_eq!(r.body["error"], "not_found", "{method} {route}");
    }
    assert_eq!(a.count("scoring_models", theirs).await, 1);
    // A portal that does not exist looks the same.
    let r = a.get(&w.owner, "/admin/portals/999999/models").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Five contacts scored with the built-in model (see each for its total).
fn seeded() -> Vec<SeedContact> {
    vec![
        // Fit 60 (capped) + a demo request 2 days ago and a pricing visit yesterday: 100, A1,
        // and +40 over the week.
        SeedContact {
            id: 101,
            properties: strong_fit(),
            engagement: vec![
                ("demo_request", Duration::days(2)),
                ("pricing_page", Duration::days(1)),
            ],
        },
        // Fit 60, no engagement: 60, grade B, cell A3.
        SeedContact {
            id: 102,
            properties: vec![
                ("email", "vp@bigco.example"),
                ("numberofemployees", "500"),
                ("industry", "SaaS"),
                ("jobtitle", "CEO"),
                ("phone", "+1 555 0101"),
            ],
            engagement: vec![],
        },
        // A student with a free address: fit −25, total capped at 0, grade D.
        SeedContact {
            id: 103,
            properties: vec![("email", "kid@gmail.com"), ("jobtitle", "Student")],
            engagement: vec![],
        },
        // Fit 13 + old engagement (decayed): 22, grade C; it fell over the week.
        SeedContact {
            id: 104,
            properties: vec![("numberofemployees", "50"), ("phone", "+1 555 0102")],
            engagement: vec![
                ("blog_post", Duration::days(30)),
                ("webinar_attended", Duration::days(10)),
            ],
        },
        // A product login an hour ago: 8, +8 over the week.
        SeedContact {
            id: 105,
            properties: vec![("email", "dev@startup.example")],
            engagement: vec![("product_login", Duration::hours(1))],
        },
    ]
}

#[tokio::test]
async fn scores_top_and_rising_contacts_and_an_explanation_come_from_the_stored_contacts() {
    let w = world().await;
    let a = &w.admin;
    a.seed_contacts(w.portal, &Model::default_model(), 0, &seeded(), Utc::now())
        .await;

    let scores = a.get(&w.viewer, &path(w.portal, "/scores")).await;
    assert_eq!(scores.status, StatusCode::OK, "{:?}", scores.body);
    let s = &scores.body;
    assert_eq!(s["contacts"], 5);
    assert_eq!(s["model_version"], 0);
    assert_eq!(
        s["rescore"],
        json!({"status": "idle", "done": 0, "total": 0})
    );
    let histogram = s["distribution"]["histogram"].as_array().unwrap();
    assert_eq!(histogram.len(), 10);
    assert_eq!(histogram[0], json!({"from": 0, "to": 10, "count": 2}));
    assert_eq!(histogram[2]["count"], 1);
    assert_eq!(histogram[6]["count"], 1);
    assert_eq!(histogram[9], json!({"from": 90, "to": 100, "count": 1}));
    assert_eq!(
        s["distribution"]["grades"],
        json!({"A": 1, "B": 1, "C": 1, "D": 2})
    );
    assert_eq!(s["matrix"], json!({"A1": 1, "A3": 1, "C3": 3}));
    let mean = s["distribution"]["mean"].as_f64().unwrap();
    assert!(
        (mean - (100.0 + 60.0 + 0.0 + 22.0 + 8.0) / 5.0).abs() < 1e-9,
        "{mean}"
    );

    // Top: by total.
    let top = a
        .get(&w.viewer, &path(w.portal, "/contacts?sort=top&limit=3"))
        .await;
    assert_eq!(top.status, StatusCode::OK, "{:?}", top.body);
    let ids: Vec<i64> = top.body["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contact_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![101, 102, 104]);
    let first = &top.body["contacts"][0];
    assert_eq!(first["email"], "cto@bigco.example");
    assert_eq!(first["name"], "Ada Lovelace");
    assert_eq!(first["total"], 100);
    assert_eq!(first["fit"], 60);
    assert_eq!(first["grade"], "A");
    assert_eq!(first["change_7d"], 40);
    let all = a.get(&w.viewer, &path(w.portal, "/contacts")).await;
    assert_eq!(
        totals(&all.body),
        [(101, 100), (102, 60), (103, 0), (104, 22), (105, 8)]
            .into_iter()
            .collect()
    );

    // Rising: only contacts whose total rose over the week, the largest rise first.
    let rising = a
        .get(&w.viewer, &path(w.portal, "/contacts?sort=rising"))
        .await;
    let rows: Vec<(i64, i64)> = rising.body["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["contact_id"].as_i64().unwrap(),
                c["change_7d"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, vec![(101, 40), (105, 8)]);

    // Bad queries are 400 with a reason.
    for (query, code) in [
        ("sort=best", "invalid_sort"),
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("sort=top&limit=-3", "invalid_limit"),
    ] {
        let r = a
            .get(&w.viewer, &path(w.portal, &format!("/contacts?{query}")))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(r.body["error"], code, "{query}");
    }
    let hundred = a
        .get(&w.viewer, &path(w.portal, "/contacts?limit=100"))
        .await;
    assert_eq!(hundred.status, StatusCode::OK);

    // One contact's explanation: every rule, raw and decayed.
    let explained = a.get(&w.viewer, &path(w.portal, "/contacts/101")).await;
    assert_eq!(explained.status, StatusCode::OK, "{:?}", explained.body);
    let e = &explained.body;
    assert_eq!(e["contact_id"], 101);
    assert_eq!(e["total"], 100);
    assert_eq!(e["fit"], 60);
    assert_eq!(e["grade"], "A");
    assert!(e["next_change_at"].is_string(), "decay will lower it: {e}");
    assert!(
        e["reasons"].as_str().unwrap().contains("Demo request"),
        "{e}"
    );
    let rule = |id: &str| {
        e["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == id)
            .unwrap_or_else(|| panic!("{id} in {e}"))
            .clone()
    };
    let employees = rule("employees_over_100");
    assert_eq!(employees["axis"], "fit");
    assert_eq!(employees["raw"], 25.0);
    assert_eq!(employees["decayed"], 25.0);
    assert_eq!(employees["count"], 1);
    let demo = rule("demo_request");
    assert_eq!(demo["axis"], "engagement");
    assert_eq!(demo["raw"], 30.0);
    let decayed = demo["decayed"].as_f64().unwrap();
    assert!(
        decayed < 30.0 && decayed > 28.0,
        "two days of a 30-day half-life: {decayed}"
    );
    assert_eq!(e["rules"].as_array().unwrap().len(), 6);

    // A contact without engagement never changes by decay.
    let still = a.get(&w.viewer, &path(w.portal, "/contacts/102")).await;
    assert_eq!(still.body["next_change_at"], Value::Null);
    for id in ["999", "0", "abc"] {
        let r = a
            .get(&w.viewer, &path(w.portal, &format!("/contacts/{id}")))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}");
    }
}

#[tokio::test]
async fn a_preview_scores_the_sample_with_both_models_and_counts_what_moves() {
    let w = world().await;
    let a = &w.admin;
    a.seed_contacts(w.portal, &Model::default_model(), 0, &seeded(), Utc::now())
        .await;
    // Phone worth 40 and a fit cap of 100: 102 goes 60 → 100 (B → A), 104 goes 22 → 59
    // (C → B); 101 stays capped at 100, 103 and 105 have no phone.
    let mut draft = model_with_phone_points(40.0);
    draft["caps"]["fit"]["max"] = json!(100);
    let r = a
        .post(&w.viewer, &path(w.portal, "/models/preview"), Some(draft))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let p = &r.body;
    assert_eq!(p["sample_size"], 5);
    assert_eq!(p["moved"], json!({"up": 2, "down": 0, "same": 3}));
    let mut changes = p["grade_changes"].as_array().unwrap().clone();
    changes.sort_by_key(|c| c["from"].as_str().unwrap().to_owned());
    assert_eq!(
        changes,
        vec![
            json!({"from": "B", "to": "A", "count": 1}),
            json!({"from": "C", "to": "B", "count": 1}),
        ]
    );
    assert_eq!(
        p["current"]["grades"],
        json!({"A": 1, "B": 1, "C": 1, "D": 2})
    );
    assert_eq!(
        p["draft"]["grades"],
        json!({"A": 2, "B": 1, "C": 0, "D": 2})
    );
    for side in ["current", "draft"] {
        let n: i64 = p[side]["histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["count"].as_i64().unwrap())
            .sum();
        assert_eq!(n, 5, "{side}");
    }
    assert!(p["draft"]["mean"].as_f64().unwrap() > p["current"]["mean"].as_f64().unwrap());
    // Previewing stores nothing.
    assert_eq!(a.count("scoring_models", w.portal).await, 0);

    // An empty portal previews an empty sample.
    let empty = a
        .post(
            &w.outsider,
            &path(w.other_portal, "/models/preview"),
            Some(default_model_json()),
        )
        .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["sample_size"], 0);
    assert_eq!(empty.body["moved"], json!({"up": 0, "down": 0, "same": 0}));
}

#[tokio::test]
async fn concurrent_saves_get_consecutive_versions_and_the_last_number_is_active() {
    let w = world().await;
    let a = &w.admin;
    let route = path(w.portal, "/models");
    let saves = (0..6).map(|i| {
        a.post(
            &w.editor,
            &route,
            Some(model_with_phone_points(f64::from(i) + 1.0)),
        )
    });
    let mut versions: Vec<i64> = futures_util::future::join_all(saves)
        .await
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            r.body["version"].as_i64().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        ember_core::store::models::active_version(a.pool(), w.portal)
            .await
            .unwrap(),
        Some(6)
    );
    assert_eq!(a.count("model_rescores", w.portal).await, 6);
}

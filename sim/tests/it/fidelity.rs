//! The simulator answers as HubSpot does where simpler stand-ins go wrong (issue 15, "Fidelity
//! gaps"): correlation ids on every answer, HubSpot's error shapes (validation, missing scopes,
//! unknown paths), search's operator check and indexing lag, shuffled batch answers, the
//! properties batch API, the properties every read returns, HTML pages from HubSpot's edge, and
//! per-portal write-validation rules.

use std::time::Duration;

use ember_hubspot::wire::crm::{BatchResponse, SearchResponse, SimplePublicObject};
use ember_hubspot::wire::error::ErrorBody;
use ember_hubspot::wire::properties::Property;
use hubspot_sim::{Faults, RuleCheck, ValidationRule};
use serde_json::{Value, json};

use crate::helpers::{TestSim, json, start, start_with};
use crate::spec::{self, check};

const C: &str = "/crm/v3/objects/contacts";
const CORRELATION: &str = "x-hubspot-correlation-id";

/// The correlation header of an answer, checked to be a UUID.
fn correlation(r: &reqwest::Response) -> String {
    let id = r
        .headers()
        .get(CORRELATION)
        .unwrap_or_else(|| panic!("no {CORRELATION} on {} {}", r.status(), r.url()))
        .to_str()
        .unwrap()
        .to_string();
    uuid::Uuid::parse_str(&id).unwrap_or_else(|e| panic!("{id} is no UUID: {e}"));
    id
}

/// Status, correlation header and JSON body of an error answer; the body's `category` and
/// `correlationId` are present and the id is the header's.
async fn error_answer(r: reqwest::Response, status: u16) -> (String, Value) {
    assert_eq!(r.status(), status, "{}", r.url());
    let id = correlation(&r);
    let v: Value = r.json().await.expect("a JSON error body");
    assert!(v["category"].is_string(), "no category in {v}");
    assert_eq!(
        v["correlationId"],
        id.as_str(),
        "body and header differ: {v}"
    );
    (id, v)
}

/// A token granted only `scope` (through the authorize page and the token endpoint).
async fn token_with(t: &TestSim, scope: &str) -> String {
    let app = t.sim.app();
    let r = t
        .http
        .get(t.url("/oauth/authorize"))
        .query(&[
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", &app.redirect_uris[0]),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("a code")
        .1
        .to_string();
    let v = json(
        t.http
            .post(t.url("/oauth/v1/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &app.redirect_uris[0]),
                ("client_id", &app.client_id),
                ("client_secret", &app.client_secret),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    v["access_token"].as_str().expect("a token").to_string()
}

#[tokio::test]
async fn every_answer_carries_a_correlation_id_and_error_bodies_repeat_it() {
    let t = start().await;
    let (p, tok) = t.installed_portal(2);
    let a = &tok.access_token;
    let id = t.sim.control().contact_ids(p.id)[0];

    // A success: the header, a fresh id per answer.
    let ok = t.get(a, &format!("{C}/{id}")).await;
    assert_eq!(ok.status(), 200);
    let first = correlation(&ok);
    let again = t.get(a, &format!("{C}/{id}")).await;
    assert_ne!(correlation(&again), first, "each answer has its own id");

    // 401, 404, 400: category and the header's id in the body.
    let (_, v) = error_answer(t.get("nope", &format!("{C}/{id}")).await, 401).await;
    assert_eq!(v["category"], "INVALID_AUTHENTICATION");
    let (_, v) = error_answer(t.get(a, &format!("{C}/1")).await, 404).await;
    assert_eq!(v["category"], "OBJECT_NOT_FOUND");

    // The 429: HubSpot's errorType and policy, plus the standard category and id.
    t.sim.control().set_faults(
        Some(p.id),
        Faults {
            burst_429: 1,
            ..Default::default()
        },
    );
    let (_, v) = error_answer(t.get(a, "/account-info/v3/details").await, 429).await;
    check(&v, spec::RATE_LIMIT_429, "429");
    assert_eq!(
        (&v["category"], &v["errorType"]),
        (&json!("RATE_LIMITS"), &json!("RATE_LIMIT"))
    );

    // An injected JSON 5xx.
    t.sim.control().set_faults(
        Some(p.id),
        Faults {
            error_next: 1,
            error_status: 503,
            ..Default::default()
        },
    );
    let (_, v) = error_answer(t.get(a, &format!("{C}/{id}")).await, 503).await;
    assert_eq!(v["category"], "INTERNAL_ERROR");

    // The token endpoint's refusal: RFC 6749 fields, HubSpot's status, category and id.
    let app = t.sim.app();
    let r = t
        .http
        .post(t.url("/oauth/v1/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "no-such-token"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
        ])
        .send()
        .await
        .unwrap();
    let (_, v) = error_answer(r, 400).await;
    assert_eq!(v["error"], "invalid_grant", "{v}");
    assert_eq!(v["category"], "VALIDATION_ERROR", "{v}");
}

#[tokio::test]
async fn unknown_paths_get_hubspots_json_404() {
    let t = start().await;
    let (_, tok) = t.installed_portal(0);
    for path in ["/crm/v3/objects/unicorns/1", "/no/such/api", "/crm/v3"] {
        let (_, v) = error_answer(t.get(&tok.access_token, path).await, 404).await;
        let e: ErrorBody = serde_json::from_value(v.clone()).expect("HubSpot's error shape");
        assert_eq!(e.category, "OBJECT_NOT_FOUND");
        assert!(e.message.contains(path), "{}", e.message);
    }
}

#[tokio::test]
async fn a_validation_400_lists_each_bad_property_with_its_code() {
    let t = start().await;
    let (p, tok) = t.installed_portal(1);
    let id = t.sim.control().contact_ids(p.id)[0];
    let before = t.sim.control().contact(p.id, id).unwrap();
    let (_, v) = error_answer(
        t.patch(
            &tok.access_token,
            &format!("{C}/{id}"),
            json!({"properties": {"no_such_thing": "x", "firstname": "Ada"}}),
        )
        .await,
        400,
    )
    .await;
    let e: ErrorBody = serde_json::from_value(v).unwrap();
    assert_eq!(e.category, "VALIDATION_ERROR");
    let details = e.errors.expect("errors[]");
    assert_eq!(details.len(), 1, "{details:?}");
    assert_eq!(details[0].code.as_deref(), Some("PROPERTY_DOESNT_EXIST"));
    assert_eq!(
        details[0].context.as_ref().unwrap()["propertyName"],
        vec!["no_such_thing".to_string()]
    );
    // Nothing of the refused write was applied.
    assert_eq!(t.sim.control().contact(p.id, id).unwrap(), before);
}

#[tokio::test]
async fn a_missing_scope_is_hubspots_403_with_the_required_granular_scopes() {
    let t = start().await;
    let (p, _) = t.installed_portal(1);
    let read_only = token_with(&t, "oauth crm.objects.contacts.read").await;
    let id = t.sim.control().contact_ids(p.id)[0];
    let (_, v) = error_answer(
        t.patch(
            &read_only,
            &format!("{C}/{id}"),
            json!({"properties": {"firstname": "x"}}),
        )
        .await,
        403,
    )
    .await;
    let e: ErrorBody = serde_json::from_value(v).unwrap();
    assert_eq!(e.category, "MISSING_SCOPES");
    let details = e.errors.expect("errors[]");
    assert_eq!(
        details[0].context.as_ref().unwrap()["requiredGranularScopes"],
        vec!["crm.objects.contacts.write".to_string()]
    );
    assert_eq!(
        e.links.unwrap()["scopes"],
        "https://developers.hubspot.com/scopes"
    );
    assert_ne!(
        t.sim
            .control()
            .contact(p.id, id)
            .unwrap()
            .properties
            .get("firstname"),
        Some(&"x".to_string()),
        "the refused write changed nothing"
    );
}

#[tokio::test]
async fn search_refuses_an_unknown_operator() {
    let t = start().await;
    let (_, tok) = t.installed_portal(3);
    let (_, v) = error_answer(
        t.post(
            &tok.access_token,
            &format!("{C}/search"),
            json!({"filterGroups": [{"filters": [
                {"propertyName": "email", "operator": "HAS_PROPERTY"},
                {"propertyName": "firstname", "operator": "STARTS_WITH", "value": "A"}
            ]}]}),
        )
        .await,
        400,
    )
    .await;
    let e: ErrorBody = serde_json::from_value(v).unwrap();
    assert_eq!(e.category, "VALIDATION_ERROR");
    assert!(e.message.contains("STARTS_WITH"), "{}", e.message);
    let details = e.errors.unwrap();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0].code.as_deref(), Some("INVALID_FILTER_OPERATOR"));
    assert_eq!(
        details[0].context.as_ref().unwrap()["propertyName"],
        vec!["firstname".to_string()]
    );
}

async fn search_email(t: &TestSim, token: &str, email: &str) -> SearchResponse {
    let r = t
        .post(
            token,
            &format!("{C}/search"),
            json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
                   "properties": ["email", "firstname"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    serde_json::from_value(json(r).await).unwrap()
}

#[tokio::test]
async fn search_sees_a_write_only_after_the_index_delay() {
    let t = start_with(|c| c.search_index_delay = Duration::from_secs(3)).await;
    let (_, tok) = t.installed_portal(2);
    let a = &tok.access_token;
    let r = t
        .post(
            a,
            C,
            json!({"properties": {"email": "late@example.com", "firstname": "Old"}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = json(r).await["id"].as_str().unwrap().to_string();
    // A read sees the record at once; search does not, until the index catches up.
    assert_eq!(t.get(a, &format!("{C}/{id}")).await.status(), 200);
    assert_eq!(search_email(&t, a, "late@example.com").await.total, 0);
    t.sim.control().advance(Duration::from_millis(2_999));
    assert_eq!(search_email(&t, a, "late@example.com").await.total, 0);
    t.sim.control().advance(Duration::from_millis(1));
    let found = search_email(&t, a, "late@example.com").await;
    assert_eq!(found.total, 1);
    assert_eq!(found.results[0].id, id);

    // An update: search keeps answering the old value for the delay.
    let r = t
        .patch(
            a,
            &format!("{C}/{id}"),
            json!({"properties": {"firstname": "New"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let stale = search_email(&t, a, "late@example.com").await;
    assert_eq!(
        stale.results[0].properties["firstname"].as_deref(),
        Some("Old")
    );
    t.sim.control().advance(Duration::from_secs(3));
    let fresh = search_email(&t, a, "late@example.com").await;
    assert_eq!(
        fresh.results[0].properties["firstname"].as_deref(),
        Some("New")
    );

    // A deletion disappears from search only after the delay too.
    assert_eq!(
        t.http
            .delete(t.url(&format!("{C}/{id}")))
            .bearer_auth(a)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(search_email(&t, a, "late@example.com").await.total, 1);
    t.sim.control().advance(Duration::from_secs(3));
    assert_eq!(search_email(&t, a, "late@example.com").await.total, 0);
}

#[tokio::test]
async fn with_no_index_delay_search_sees_a_write_at_once() {
    let t = start_with(|c| c.search_index_delay = Duration::ZERO).await;
    let (_, tok) = t.installed_portal(0);
    let a = &tok.access_token;
    let r = t
        .post(a, C, json!({"properties": {"email": "now@example.com"}}))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(search_email(&t, a, "now@example.com").await.total, 1);
}

async fn batch_read_ids(t: &TestSim, token: &str, ids: &[u64]) -> Vec<u64> {
    let r = t
        .post(
            token,
            &format!("{C}/batch/read"),
            json!({"inputs": ids.iter().map(|i| json!({"id": i.to_string()})).collect::<Vec<_>>(),
                   "properties": ["email"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let b: BatchResponse<SimplePublicObject> = serde_json::from_value(json(r).await).unwrap();
    b.results.iter().map(|o| o.id.parse().unwrap()).collect()
}

#[tokio::test]
async fn batch_answers_are_shuffled_unless_input_order_is_kept() {
    let t = start().await;
    let (p, tok) = t.installed_portal(30);
    let ids = t.sim.control().contact_ids(p.id);
    let got = batch_read_ids(&t, &tok.access_token, &ids).await;
    assert_ne!(got, ids, "HubSpot's batch answers are not in input order");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    let mut want = ids.clone();
    want.sort_unstable();
    assert_eq!(sorted, want, "every row is answered once");

    // A batch update's rows come back shuffled too.
    let r = t
        .post(
            &tok.access_token,
            &format!("{C}/batch/update"),
            json!({"inputs": ids.iter().map(|i| json!({"id": i.to_string(), "properties": {"jobtitle": format!("t{i}")}})).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let b: BatchResponse<SimplePublicObject> = serde_json::from_value(json(r).await).unwrap();
    let order: Vec<u64> = b.results.iter().map(|o| o.id.parse().unwrap()).collect();
    assert_ne!(order, ids);
    for o in &b.results {
        assert_eq!(o.properties["jobtitle"], Some(format!("t{}", o.id)));
    }

    let t = start_with(|c| c.shuffle_batch_answers = false).await;
    let (p, tok) = t.installed_portal(30);
    let ids = t.sim.control().contact_ids(p.id);
    assert_eq!(batch_read_ids(&t, &tok.access_token, &ids).await, ids);
}

#[tokio::test]
async fn the_properties_batch_api_creates_reads_and_archives_under_both_prefixes() {
    for prefix in ["/crm/v3/properties", "/crm/properties/2026-09"] {
        let t = start().await;
        let (_, tok) = t.installed_portal(1);
        let a = &tok.access_token;
        let def = |name: &str| json!({"name": name, "label": name, "type": "number", "fieldType": "number", "groupName": "contactinformation"});
        // Create: two new, one taken name, one bad type pair: 207 with two error rows.
        let r = t
            .post(
                a,
                &format!("{prefix}/contacts/batch/create"),
                json!({"inputs": [def("fit_a"), def("fit_b"), def("email"),
                    {"name": "odd", "label": "odd", "type": "bool", "fieldType": "text", "groupName": "contactinformation"}]}),
            )
            .await;
        assert_eq!(r.status(), 207, "{prefix}");
        let v = json(r).await;
        let b: BatchResponse<Property> = serde_json::from_value(v.clone()).unwrap();
        let mut names: Vec<&str> = b.results.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["fit_a", "fit_b"]);
        let errs = b.errors.unwrap();
        let mut failed: Vec<(&str, &str)> = errs
            .iter()
            .map(|e| (e.context["name"][0].as_str(), e.category.as_str()))
            .collect();
        failed.sort_unstable();
        assert_eq!(
            failed,
            [
                ("email", "OBJECT_ALREADY_EXISTS"),
                ("odd", "VALIDATION_ERROR")
            ]
        );

        // Read: the two, and an unknown name as one OBJECT_NOT_FOUND row.
        let r = t
            .post(
                a,
                &format!("{prefix}/contacts/batch/read"),
                json!({"archived": false, "dataSensitivity": "non_sensitive",
                       "inputs": [{"name": "fit_a"}, {"name": "fit_b"}, {"name": "nope"}]}),
            )
            .await;
        assert_eq!(r.status(), 207);
        let b: BatchResponse<Property> = serde_json::from_value(json(r).await).unwrap();
        assert_eq!(b.results.len(), 2);
        assert_eq!(
            b.errors.unwrap()[0].context["name"],
            vec!["nope".to_string()]
        );

        // Archive: a HubSpot-defined property refuses the whole request; then fit_a goes.
        let r = t
            .post(
                a,
                &format!("{prefix}/contacts/batch/archive"),
                json!({"inputs": [{"name": "fit_a"}, {"name": "email"}]}),
            )
            .await;
        let (_, v) = error_answer(r, 400).await;
        assert!(v["message"].as_str().unwrap().contains("email"), "{v}");
        let r = t
            .post(
                a,
                &format!("{prefix}/contacts/batch/archive"),
                json!({"inputs": [{"name": "fit_a"}]}),
            )
            .await;
        assert_eq!(r.status(), 204);
        let listed: Value = json(t.get(a, "/crm/v3/properties/contacts").await).await;
        let listed: Vec<&str> = listed["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(!listed.contains(&"fit_a") && listed.contains(&"fit_b"));
        // An archived property takes no values.
        let r = t.post(a, C, json!({"properties": {"fit_a": "3"}})).await;
        assert_eq!(r.status(), 400);
        // Bad input: not the documented shape.
        let r = t
            .post(
                a,
                &format!("{prefix}/contacts/batch/read"),
                json!({"names": ["x"]}),
            )
            .await;
        let (_, v) = error_answer(r, 400).await;
        assert_eq!(v["category"], "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn every_read_returns_the_record_stamps_and_null_for_a_defined_empty_property() {
    let t = start_with(|c| c.search_index_delay = Duration::ZERO).await;
    let (_, tok) = t.installed_portal(0);
    let a = &tok.access_token;
    let r = t
        .post(a, C, json!({"properties": {"email": "bare@example.com"}}))
        .await;
    let id = json(r).await["id"].as_str().unwrap().to_string();
    let asked = ["firstname", "not_a_property"];
    let check_props = |o: &Value, what: &str| {
        let props = o["properties"].as_object().unwrap();
        for always in ["createdate", "hs_object_id", "lastmodifieddate"] {
            assert!(props[always].is_string(), "{what}: {always} missing in {o}");
        }
        assert_eq!(props["hs_object_id"], id.as_str(), "{what}");
        assert_eq!(props.get("firstname"), Some(&Value::Null), "{what}: {o}");
        assert!(!props.contains_key("not_a_property"), "{what}: {o}");
    };
    let single = json(
        t.get(a, &format!("{C}/{id}?properties={}", asked.join(",")))
            .await,
    )
    .await;
    check_props(&single, "single");
    let batch = json(
        t.post(
            a,
            &format!("{C}/batch/read"),
            json!({"inputs": [{"id": id}], "properties": asked}),
        )
        .await,
    )
    .await;
    check_props(&batch["results"][0], "batch");
    let list = json(
        t.get(a, &format!("{C}?properties={}", asked.join(",")))
            .await,
    )
    .await;
    check_props(&list["results"][0], "list");
    let found = json(
        t.post(
            a,
            &format!("{C}/search"),
            json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "bare@example.com"}]}], "properties": asked}),
        )
        .await,
    )
    .await;
    check_props(&found["results"][0], "search");
}

#[tokio::test]
async fn an_injected_edge_error_is_an_html_page_without_a_correlation_id() {
    let t = start().await;
    let (p, tok) = t.installed_portal(1);
    t.sim.control().set_faults(
        Some(p.id),
        Faults {
            error_next: 1,
            error_status: 502,
            error_html: true,
            ..Default::default()
        },
    );
    let r = t.get(&tok.access_token, "/account-info/v3/details").await;
    assert_eq!(r.status(), 502);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.headers().get(CORRELATION).is_none());
    let page = r.text().await.unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>") && page.contains("502"),
        "{page}"
    );
    assert!(serde_json::from_str::<Value>(&page).is_err());
    // The fault was one call: the next is answered by the API again.
    let r = t.get(&tok.access_token, "/account-info/v3/details").await;
    assert_eq!(r.status(), 200);
    correlation(&r);
}

fn score_rule() -> ValidationRule {
    ValidationRule {
        property_name: "jobtitle".into(),
        check: RuleCheck::MaxLength { max: 5 },
        message: "Job title must be at most 5 characters.".into(),
    }
}

#[tokio::test]
async fn a_validation_rule_fails_only_the_batch_row_that_breaks_it() {
    let t = start().await;
    let (p, tok) = t.installed_portal(3);
    let ids = t.sim.control().contact_ids(p.id);
    let r = t
        .http
        .put(t.url(&format!("/_sim/portals/{}/validation-rules", p.id)))
        .json(&json!([score_rule()]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        t.sim.control().validation_rules(p.id),
        Some(vec![score_rule()])
    );
    let rows: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let title = if n == 1 { "Chief Everything" } else { "CEO" };
            json!({"id": id.to_string(), "objectWriteTraceId": id.to_string(), "properties": {"jobtitle": title}})
        })
        .collect();
    let r = t
        .post(
            &tok.access_token,
            &format!("{C}/batch/update"),
            json!({ "inputs": rows }),
        )
        .await;
    assert_eq!(r.status(), 207);
    let v = json(r).await;
    crate::spec::check_batch(&v, spec::SIMPLE_PUBLIC_OBJECT, "207");
    let b: BatchResponse<SimplePublicObject> = serde_json::from_value(v).unwrap();
    assert_eq!(b.results.len(), 2);
    let errs = b.errors.unwrap();
    assert_eq!(errs.len(), 1);
    let e = &errs[0];
    assert_eq!(
        (e.status.as_str(), e.category.as_str()),
        ("error", "VALIDATION_ERROR")
    );
    assert!(
        e.message
            .contains("Job title must be at most 5 characters."),
        "{}",
        e.message
    );
    assert_eq!(e.context["propertyName"], vec!["jobtitle".to_string()]);
    assert_eq!(e.context["ids"], vec![ids[1].to_string()]);
    assert_eq!(e.context["objectWriteTraceId"], vec![ids[1].to_string()]);
    let title = |id: u64| {
        t.sim
            .control()
            .contact(p.id, id)
            .unwrap()
            .properties
            .get("jobtitle")
            .cloned()
    };
    assert_eq!(title(ids[0]).as_deref(), Some("CEO"));
    assert_eq!(title(ids[2]).as_deref(), Some("CEO"));
    assert_ne!(title(ids[1]).as_deref(), Some("Chief Everything"));

    // A single write breaking the rule is a 400 naming the rule and the property.
    let (_, v) = error_answer(
        t.patch(
            &tok.access_token,
            &format!("{C}/{}", ids[0]),
            json!({"properties": {"jobtitle": "Chief Everything"}}),
        )
        .await,
        400,
    )
    .await;
    let e: ErrorBody = serde_json::from_value(v).unwrap();
    assert!(e.message.contains("at most 5 characters"), "{}", e.message);
    assert_eq!(
        e.errors.unwrap()[0].context.as_ref().unwrap()["propertyName"],
        vec!["jobtitle".to_string()]
    );
    assert_eq!(title(ids[0]).as_deref(), Some("CEO"));
}

#[tokio::test]
async fn bad_validation_rules_are_refused_and_change_nothing() {
    let t = start().await;
    let (p, _) = t.installed_portal(0);
    let put = |portal: u64, body: Value| {
        t.http
            .put(t.url(&format!("/_sim/portals/{portal}/validation-rules")))
            .json(&body)
            .send()
    };
    assert_eq!(
        put(p.id, json!([score_rule()])).await.unwrap().status(),
        204
    );
    let cases = [
        (json!({"rules": []}), "expected a JSON array"),
        (
            json!([{"propertyName": "nope", "check": {"kind": "max_length", "max": 3}, "message": "m"}]),
            "no such property",
        ),
        (
            json!([{"propertyName": "jobtitle", "check": {"kind": "number_range", "min": 5, "max": 1}, "message": "m"}]),
            "greater than max",
        ),
        (
            json!([{"propertyName": "jobtitle", "check": {"kind": "one_of", "values": []}, "message": "m"}]),
            "at least one value",
        ),
        (
            json!([{"propertyName": "jobtitle", "check": {"kind": "max_length", "max": 3}, "message": " "}]),
            "needs a message",
        ),
    ];
    for (body, why) in cases {
        let r = put(p.id, body).await.unwrap();
        assert_eq!(r.status(), 400, "{why}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].as_str().unwrap().contains(why), "{v}");
    }
    assert_eq!(
        t.sim.control().validation_rules(p.id),
        Some(vec![score_rule()]),
        "the refused sets changed nothing"
    );
    assert_eq!(put(999, json!([])).await.unwrap().status(), 404);
}

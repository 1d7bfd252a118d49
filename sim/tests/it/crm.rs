//! CRM behaviour that hurts: clearing values, merged ids, whole-batch validation failures,
//! tenant isolation, injected faults.

use std::collections::BTreeMap;

use serde_json::json;

use crate::helpers::{json, start};

const C: &str = "/crm/v3/objects/contacts";

#[tokio::test]
async fn an_empty_string_clears_a_value() {
    let t = start().await;
    let (p, tok) = t.installed_portal(1);
    let id = t.sim.control().contact_ids(p.id)[0];
    let r = t
        .patch(
            &tok.access_token,
            &format!("{C}/{id}"),
            json!({"properties": {"jobtitle": ""}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        !t.sim
            .control()
            .contact(p.id, id)
            .unwrap()
            .properties
            .contains_key("jobtitle")
    );
    let v = json(
        t.get(
            &tok.access_token,
            &format!("{C}/{id}?properties=jobtitle,email"),
        )
        .await,
    )
    .await;
    assert_eq!(
        v["properties"].get("jobtitle"),
        Some(&serde_json::Value::Null),
        "a cleared property asked for is null (docs/hubspot.md K.12)"
    );
}

#[tokio::test]
async fn get_and_patch_by_email_work_and_merged_ids_resolve_only_on_single_endpoints() {
    let t = start().await;
    let (p, tok) = t.installed_portal(2);
    let ctl = t.sim.control();
    let ids = ctl.contact_ids(p.id);
    let email = ctl.contact(p.id, ids[0]).unwrap().properties["email"].clone();
    let v = json(
        t.get(&tok.access_token, &format!("{C}/{email}?idProperty=email"))
            .await,
    )
    .await;
    assert_eq!(v["id"], ids[0].to_string());

    let new_id = ctl.merge_contacts(p.id, ids[0], ids[1]).unwrap();
    assert!(!ids.contains(&new_id), "a merge creates a new id");
    let merged = ctl.contact(p.id, new_id).unwrap();
    assert_eq!(
        merged.properties["hs_merged_object_ids"],
        format!("{};{}", ids[0], ids[1])
    );
    assert_eq!(
        merged.properties["email"], email,
        "values come from the primary"
    );

    let v = json(t.get(&tok.access_token, &format!("{C}/{}", ids[1])).await).await;
    assert_eq!(
        v["id"],
        new_id.to_string(),
        "an old id resolves to the merged record"
    );
    let r = t
        .patch(
            &tok.access_token,
            &format!("{C}/{}", ids[0]),
            json!({"properties": {"jobtitle": "CMO"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        ctl.contact(p.id, new_id).unwrap().properties["jobtitle"],
        "CMO"
    );

    let r = t.post(&tok.access_token, &format!("{C}/batch/update"), json!({"inputs": [{"id": ids[0].to_string(), "properties": {"jobtitle": "x"}}, {"id": new_id.to_string(), "properties": {"jobtitle": "y"}}]})).await;
    assert_eq!(r.status(), 207);
    let v = json(r).await;
    assert_eq!(v["results"][0]["id"], new_id.to_string());
    assert_eq!(v["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(
        v["errors"][0]["context"]["ids"],
        json!([ids[0].to_string()])
    );
    let r = t
        .post(
            &tok.access_token,
            &format!("{C}/batch/read"),
            json!({"inputs": [{"id": ids[1].to_string()}]}),
        )
        .await;
    assert_eq!(r.status(), 207);
}

#[tokio::test]
async fn invalid_values_fail_the_whole_batch_unless_rows_carry_trace_ids() {
    let t = start().await;
    let (p, tok) = t.installed_portal(2);
    let ctl = t.sim.control();
    let ids = ctl.contact_ids(p.id);
    let before = ctl.contact(p.id, ids[0]).unwrap();
    let r = t
        .post(
            &tok.access_token,
            &format!("{C}/batch/update"),
            json!({"inputs": [
        {"id": ids[0].to_string(), "properties": {"jobtitle": "Boss"}},
        {"id": ids[1].to_string(), "properties": {"numemployees": "many"}}]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        ctl.contact(p.id, ids[0]).unwrap(),
        before,
        "nothing is written"
    );

    let r = t.post(&tok.access_token, &format!("{C}/batch/update"), json!({"inputs": [
        {"id": ids[0].to_string(), "properties": {"jobtitle": "Boss"}, "objectWriteTraceId": "a"},
        {"id": ids[1].to_string(), "properties": {"numemployees": "many"}, "objectWriteTraceId": "b"}]})).await;
    assert_eq!(r.status(), 207);
    let v = json(r).await;
    assert_eq!(v["numErrors"], 1);
    assert_eq!(
        v["errors"][0]["context"]["objectWriteTraceId"],
        json!(["b"])
    );
    assert_eq!(
        ctl.contact(p.id, ids[0]).unwrap().properties["jobtitle"],
        "Boss"
    );
}

#[tokio::test]
async fn typed_values_are_checked_and_normalised() {
    let t = start().await;
    let (p, tok) = t.installed_portal(1);
    let id = t.sim.control().contact_ids(p.id)[0];
    let prop = json!({"name": "ember_score", "label": "Score", "type": "number", "fieldType": "number", "groupName": "contactinformation"});
    assert_eq!(
        t.post(&tok.access_token, "/crm/v3/properties/contacts", prop)
            .await
            .status(),
        201
    );
    let r = t
        .patch(
            &tok.access_token,
            &format!("{C}/{id}"),
            json!({"properties": {"ember_score": "abc"}}),
        )
        .await;
    let v = json(r).await;
    assert!(v["message"].as_str().unwrap().contains("INVALID_INTEGER"));
    let r = t.patch(&tok.access_token, &format!("{C}/{id}"), json!({"properties": {"ember_score": "42", "ember_last_webinar_date": "1700000000000"}})).await;
    assert_eq!(r.status(), 200);
    let c = t.sim.control().contact(p.id, id).unwrap();
    assert_eq!(c.properties["ember_score"], "42");
    assert_eq!(
        c.properties["ember_last_webinar_date"],
        "2023-11-14T22:13:20.000Z"
    );
}

#[tokio::test]
async fn a_portal_never_sees_another_portals_contacts() {
    let t = start().await;
    let (a, _ta) = t.installed_portal(1);
    let (_b, tb) = t.installed_portal(1);
    let id = t.sim.control().contact_ids(a.id)[0];
    assert_eq!(
        t.get(&tb.access_token, &format!("{C}/{id}")).await.status(),
        404
    );
    let r = t
        .post(
            &tb.access_token,
            &format!("{C}/batch/update"),
            json!({"inputs": [{"id": id.to_string(), "properties": {"jobtitle": "x"}}]}),
        )
        .await;
    assert_eq!(r.status(), 207);
    assert_ne!(
        t.sim
            .control()
            .contact(a.id, id)
            .unwrap()
            .properties
            .get("jobtitle")
            .map(String::as_str),
        Some("x")
    );
}

#[tokio::test]
async fn injected_errors_resets_and_latency_happen_as_configured() {
    let t = start().await;
    let (p, tok) = t.installed_portal(1);
    let ctl = t.sim.control();
    ctl.set_faults(
        Some(p.id),
        hubspot_sim::Faults {
            error_next: 2,
            error_status: 503,
            reset_next: 1,
            ..Default::default()
        },
    );
    let r = t
        .http
        .get(t.url(&format!("{C}?limit=1")))
        .bearer_auth(&tok.access_token)
        .send()
        .await;
    let reset = match r {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(reset, "the connection is reset");
    assert_eq!(
        t.get(&tok.access_token, &format!("{C}?limit=1"))
            .await
            .status(),
        503
    );
    assert_eq!(
        t.get(&tok.access_token, &format!("{C}?limit=1"))
            .await
            .status(),
        503
    );
    assert_eq!(
        t.get(&tok.access_token, &format!("{C}?limit=1"))
            .await
            .status(),
        200
    );
    let statuses: Vec<u16> = ctl.calls_for(p.id).iter().map(|c| c.status).collect();
    assert_eq!(statuses, [0, 503, 503, 200]);

    ctl.set_faults(
        Some(p.id),
        hubspot_sim::Faults {
            latency_ms: 150,
            ..Default::default()
        },
    );
    let started = std::time::Instant::now();
    assert_eq!(
        t.get(&tok.access_token, &format!("{C}?limit=1"))
            .await
            .status(),
        200
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn control_changes_show_up_in_the_api() {
    let t = start().await;
    let (p, tok) = t.installed_portal(0);
    let ctl = t.sim.control();
    let id = ctl
        .create_contact(
            p.id,
            BTreeMap::from([("email".to_string(), "x@acme.io".to_string())]),
        )
        .unwrap();
    assert!(ctl.set_properties(
        p.id,
        id,
        BTreeMap::from([("hs_analytics_num_page_views".to_string(), "3".to_string())])
    ));
    let v = json(
        t.get(
            &tok.access_token,
            &format!("{C}/{id}?properties=hs_analytics_num_page_views,email"),
        )
        .await,
    )
    .await;
    assert_eq!(v["properties"]["hs_analytics_num_page_views"], "3");
}

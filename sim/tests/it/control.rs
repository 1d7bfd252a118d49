//! The control API over HTTP, under `/_sim/`.

use serde_json::{Value, json};

use crate::helpers::{json, start};

#[tokio::test]
async fn the_http_control_api_sets_up_observes_and_breaks_the_simulator() {
    let t = start().await;
    let h = &t.http;
    let r = h
        .post(t.url("/_sim/portals"))
        .json(
            &json!({"appType": {"kind": "private", "burst": 100, "daily": 250000}, "contacts": 3}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let p: Value = json(r).await;
    let (id, token) = (
        p["id"].as_u64().unwrap(),
        p["privateToken"].as_str().unwrap().to_string(),
    );
    assert_eq!(p["contacts"], 3);

    let cid = t.sim.control().contact_ids(id)[0];
    assert_eq!(
        t.get(&token, &format!("/crm/v3/objects/contacts/{cid}"))
            .await
            .status(),
        200
    );
    let calls: Vec<Value> = json(
        h.get(t.url(&format!("/_sim/calls?portal={id}")))
            .send()
            .await
            .unwrap(),
    )
    .await
    .as_array()
    .unwrap()
    .clone();
    assert_eq!(calls.len(), 1, "control calls are not logged");
    assert_eq!(
        (calls[0]["endpoint"].as_str(), calls[0]["status"].as_u64()),
        (Some("/crm/v3/objects/contacts/{contactId}"), Some(200))
    );

    let before = json(h.get(t.url("/_sim/clock")).send().await.unwrap()).await["nowMs"]
        .as_i64()
        .unwrap();
    let after = json(
        h.post(t.url("/_sim/clock"))
            .json(&json!({"advanceMs": 5000}))
            .send()
            .await
            .unwrap(),
    )
    .await["nowMs"]
        .as_i64()
        .unwrap();
    assert_eq!(after - before, 5000);

    let r = h
        .put(t.url(&format!("/_sim/faults?portal={id}")))
        .json(&json!({"burst429": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        t.get(&token, &format!("/crm/v3/objects/contacts/{cid}"))
            .await
            .status(),
        429
    );
    let limited = json(
        h.get(t.url(&format!("/_sim/rate-limited?portal={id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(limited["TEN_SECONDLY_ROLLING"], 1);

    let c = json(
        h.patch(t.url(&format!("/_sim/portals/{id}/contacts/{cid}")))
            .json(&json!({"jobtitle": "Chief Scorer"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c["properties"]["jobtitle"], "Chief Scorer");
    let merged = json(
        h.post(t.url(&format!("/_sim/portals/{id}/merge")))
            .json(&json!({"primary": cid, "secondary": t.sim.control().contact_ids(id)[1]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(merged["newId"].as_u64().unwrap() > 0);
    let s = json(
        h.post(t.url(&format!("/_sim/portals/{id}/traffic")))
            .json(&json!({"events": 20}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(s["byKind"].as_object().is_some());
    let app = json(h.get(t.url("/_sim/app")).send().await.unwrap()).await;
    assert_eq!(app["clientId"], t.sim.app().client_id);
}

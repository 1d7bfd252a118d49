//! The app webhook intake against real Postgres and RabbitMQ: good requests put exactly their
//! events on the queue; every kind of bad request gets its status and reason and queues nothing.

use chrono::Utc;
use ember_core::domain::{EventSource, QueuedEvent};
use ember_core::signature::v3_signature;
use ember_tests::{TestApi, property_change_events};
use serde_json::{Value, json};

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

async fn error_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (
        status,
        response.json().await.expect("error bodies are JSON"),
    )
}

#[tokio::test]
async fn a_good_request_puts_exactly_its_events_on_the_queue() {
    let app = TestApi::spawn().await.unwrap();
    app.db.add_portal(62515).await.unwrap();
    let occurred = 1_752_613_920_733;
    let body = json!([
        {"eventId":531833541,"subscriptionId":3923621,"portalId":62515,"appId":16111050,"occurredAt":occurred,
         "subscriptionType":"contact.creation","attemptNumber":0,"objectId":138017612137_i64,"changeFlag":"CREATED",
         "changeSource":"CRM_UI","sourceId":"userId:76023669"},
        {"eventId":"531833542","subscriptionId":"3923622","portalId":"62515","occurredAt":"2025-07-15T21:12:00.733Z",
         "eventType":"contact.propertyChange","objectId":"138017612137","propertyName":"jobtitle","propertyValue":"CTO"},
        {"eventId":531833543,"subscriptionId":3923623,"portalId":62515,"occurredAt":occurred,
         "subscriptionType":"contact.merge","objectId":7,"primaryObjectId":7,"mergedObjectIds":[8,9],"newObjectId":10},
        {"eventId":531833544,"subscriptionId":3923624,"portalId":62515,"occurredAt":occurred,
         "subscriptionType":"object.somethingNew","objectId":11}
    ])
    .to_string();

    let response = app.post_app_webhook(&body, now_ms()).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(
        outcome,
        json!({"accepted": 3, "dropped_unknown_portal": 0, "dropped": [
            {"event": 3, "subscriptionType": "object.somethingNew", "reason": "unknown_subscription_type"}
        ]}),
        "a type Ember does not know is dropped with its reason (intake_shapes.rs has the rest)"
    );

    let batches = app.broker.drain_events().await.unwrap();
    assert_eq!(batches.len(), 1, "one message per request and portal");
    let batch = &batches[0];
    assert_eq!(batch.portal_id.get(), 62515);
    assert_eq!(batch.source, EventSource::AppWebhook);
    let events: Vec<_> = batch
        .events
        .iter()
        .map(|e| match e {
            QueuedEvent::App(a) => a.clone(),
            QueuedEvent::Workflow(_) => panic!("app webhook produced a workflow event"),
        })
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].event_id.get(), 531833541);
    assert_eq!(events[0].subscription_type.as_str(), "contact.creation");
    assert_eq!(events[0].object_id.unwrap().get(), 138017612137);
    assert_eq!(events[0].occurred_at.timestamp_millis(), occurred);
    assert_eq!(events[0].change_flag.as_deref(), Some("CREATED"));
    assert_eq!(events[0].source_id.as_deref(), Some("userId:76023669"));
    let change = events[1].property.as_ref().unwrap();
    assert_eq!(
        (change.name.as_str(), change.value.as_str()),
        ("jobtitle", "CTO")
    );
    assert_eq!(events[1].occurred_at.timestamp_millis(), 1_752_613_920_733);
    let merge = events[2].merge.as_ref().unwrap();
    assert_eq!(
        merge
            .merged_object_ids
            .iter()
            .map(|i| i.get())
            .collect::<Vec<_>>(),
        vec![8, 9]
    );
}

#[tokio::test]
async fn events_of_several_portals_become_one_message_each_and_unknown_portals_are_dropped() {
    let app = TestApi::spawn().await.unwrap();
    app.db.add_portal(1).await.unwrap();
    app.db.add_portal(2).await.unwrap();
    let mut events = property_change_events(1, 100, 3, now_ms())
        .as_array()
        .unwrap()
        .clone();
    events.extend(
        property_change_events(2, 200, 2, now_ms())
            .as_array()
            .unwrap()
            .clone(),
    );
    events.extend(
        property_change_events(3, 300, 4, now_ms())
            .as_array()
            .unwrap()
            .clone(),
    );
    let response = app
        .post_app_webhook(&Value::Array(events).to_string(), now_ms())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome, json!({"accepted": 5, "dropped_unknown_portal": 4}));

    let mut batches = app.broker.drain_events().await.unwrap();
    batches.sort_by_key(|b| b.portal_id);
    let summary: Vec<_> = batches
        .iter()
        .map(|b| (b.portal_id.get(), b.events.len()))
        .collect();
    assert_eq!(summary, vec![(1, 3), (2, 2)]);

    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("ember_intake_events_total"), "{metrics}");
    assert!(
        metrics.contains("outcome=\"dropped_unknown_portal\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("ember_intake_publish_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("ember_http_requests_total"), "{metrics}");
}

#[tokio::test]
async fn unknown_portals_are_queued_when_configured() {
    let app = TestApi::spawn_with(|s| s.intake.queue_unknown_portals = true)
        .await
        .unwrap();
    let body = property_change_events(999, 1, 2, now_ms()).to_string();
    let response = app.post_app_webhook(&body, now_ms()).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let batches = app.broker.drain_events().await.unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].events.len(), 2);
}

/// One bad request: how it is sent, and what must come back.
struct Case {
    name: &'static str,
    body: String,
    headers: Vec<(&'static str, String)>,
    status: u16,
    code: &'static str,
    message_contains: &'static str,
}

#[tokio::test]
async fn every_bad_request_gets_its_status_and_reason_and_queues_nothing() {
    let app = TestApi::spawn_with(|s| s.server.body_limit_bytes = 64 * 1024)
        .await
        .unwrap();
    app.db.add_portal(62515).await.unwrap();
    let uri = format!("{}/webhooks/hubspot", app.settings.public_base_url);
    let good = property_change_events(62515, 1, 2, now_ms()).to_string();
    let sign = |method: &str, uri: &str, body: &str, ts: i64| {
        vec![
            (
                "x-hubspot-signature-v3",
                v3_signature(&app.secret, method, uri, body.as_bytes(), &ts.to_string()),
            ),
            ("x-hubspot-request-timestamp", ts.to_string()),
        ]
    };
    let now = now_ms();
    let signed = |body: String| (sign("POST", &uri, &body, now), body);

    let mut cases = Vec::new();
    let mut case = |name,
                    (headers, body): (Vec<(&'static str, String)>, String),
                    status,
                    code,
                    message_contains| {
        cases.push(Case {
            name,
            body,
            headers,
            status,
            code,
            message_contains,
        })
    };
    case(
        "missing signature",
        (
            vec![("x-hubspot-request-timestamp", now.to_string())],
            good.clone(),
        ),
        401,
        "invalid_signature",
        "x-hubspot-signature-v3 is missing",
    );
    case(
        "missing timestamp",
        (vec![sign("POST", &uri, &good, now).remove(0)], good.clone()),
        401,
        "invalid_signature",
        "x-hubspot-request-timestamp is missing",
    );
    case(
        "malformed timestamp",
        (
            vec![
                ("x-hubspot-signature-v3", "A".repeat(44)),
                ("x-hubspot-request-timestamp", "yesterday".into()),
            ],
            good.clone(),
        ),
        401,
        "invalid_signature",
        "epoch milliseconds",
    );
    case(
        "malformed signature",
        (
            vec![
                ("x-hubspot-signature-v3", "abc".into()),
                ("x-hubspot-request-timestamp", now.to_string()),
            ],
            good.clone(),
        ),
        401,
        "invalid_signature",
        "44 characters",
    );
    case(
        "stale timestamp",
        (sign("POST", &uri, &good, now - 6 * 60_000), good.clone()),
        401,
        "invalid_signature",
        "old",
    );
    case(
        "future timestamp",
        (sign("POST", &uri, &good, now + 6 * 60_000), good.clone()),
        401,
        "invalid_signature",
        "future",
    );
    case(
        "wrong secret",
        (
            {
                let ts = now.to_string();
                vec![
                    (
                        "x-hubspot-signature-v3",
                        v3_signature("another-secret", "POST", &uri, good.as_bytes(), &ts),
                    ),
                    ("x-hubspot-request-timestamp", ts),
                ]
            },
            good.clone(),
        ),
        401,
        "invalid_signature",
        "does not match",
    );
    case(
        "tampered body",
        (
            sign("POST", &uri, &good, now),
            good.replace("lead", "customer"),
        ),
        401,
        "invalid_signature",
        "does not match",
    );
    case(
        "wrong method signed",
        (sign("PUT", &uri, &good, now), good.clone()),
        401,
        "invalid_signature",
        "does not match",
    );
    case(
        "wrong URI signed",
        (
            sign("POST", &format!("{uri}/other"), &good, now),
            good.clone(),
        ),
        401,
        "invalid_signature",
        "does not match",
    );
    case(
        "path-only URI signed",
        (sign("POST", "/webhooks/hubspot", &good, now), good.clone()),
        401,
        "invalid_signature",
        "does not match",
    );
    case(
        "malformed JSON",
        signed("[{\"eventId\":".into()),
        400,
        "malformed_json",
        "not valid JSON",
    );
    case(
        "not an array",
        signed("{\"eventId\":1}".into()),
        400,
        "not_an_array",
        "JSON array",
    );
    case("wrong types", signed(json!([{"eventId":1,"subscriptionId":2,"portalId":62515,"occurredAt":1,"subscriptionType":"contact.creation","objectId":3},
        {"eventId":true,"subscriptionId":2,"portalId":"x","occurredAt":"soon","subscriptionType":"contact.creation","objectId":3}]).to_string()),
        400, "invalid_field", "event[1].eventId: expected an integer");
    case(
        "over 100 events",
        signed(property_change_events(62515, 1, 101, now).to_string()),
        400,
        "too_many_events",
        "101 events",
    );
    case(
        "oversize body",
        signed(format!("[{}]", " ".repeat(70 * 1024))),
        413,
        "payload_too_large",
        "exceeds",
    );

    let cases_len = cases.len();
    for c in cases {
        let mut request = app
            .client
            .post(format!("{}/webhooks/hubspot", app.address))
            .body(c.body.clone());
        for (name, value) in &c.headers {
            request = request.header(*name, value);
        }
        let (status, body) = error_body(request.send().await.unwrap()).await;
        assert_eq!(status, c.status, "{}: {body}", c.name);
        assert_eq!(body["code"], c.code, "{}: {body}", c.name);
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(c.message_contains),
            "{}: {message:?} lacks {:?}",
            c.name,
            c.message_contains
        );
        assert!(!message.contains(&app.secret), "{}: secret leaked", c.name);
    }
    assert!(cases_len >= 16);
    assert_eq!(
        app.broker
            .depth(&app.broker.topology.events_queue())
            .await
            .unwrap(),
        0,
        "nothing was queued"
    );

    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for reason in [
        "timestamp_stale",
        "timestamp_future",
        "signature_mismatch",
        "malformed_json",
        "too_many_events",
        "body_too_large",
    ] {
        assert!(
            metrics.contains(&format!("reason=\"{reason}\"")),
            "metrics lack {reason}"
        );
    }
}

#[tokio::test]
async fn signatures_are_checked_against_the_public_url_behind_a_proxy() {
    let app = TestApi::spawn_with(|s| s.public_base_url = "https://hooks.example.com/ember".into())
        .await
        .unwrap();
    app.db.add_portal(62515).await.unwrap();
    let body = property_change_events(62515, 1, 1, now_ms()).to_string();
    // The proxy strips `/ember`; HubSpot signed the public URL with an encoded query value.
    let path = "/webhooks/hubspot?source=https%3A%2F%2Fapp.hubspot.com";
    let public = format!("https://hooks.example.com/ember{path}");
    let ts = now_ms().to_string();
    let send = |signed_uri: String| {
        let signature = v3_signature(&app.secret, "POST", &signed_uri, body.as_bytes(), &ts);
        app.client
            .post(format!("{}{path}", app.address))
            .header("x-hubspot-signature-v3", signature)
            .header("x-hubspot-request-timestamp", ts.clone())
            .body(body.clone())
            .send()
    };
    assert_eq!(send(public).await.unwrap().status().as_u16(), 200);
    let local = format!("{}{path}", app.address);
    assert_eq!(
        send(local).await.unwrap().status().as_u16(),
        401,
        "the local URL is not what HubSpot signed"
    );
    assert_eq!(app.broker.drain_events().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_simulators_signed_deliveries_are_accepted_and_queued_in_full() {
    use hubspot_sim::TrafficOptions;
    use std::time::Duration;
    let (app, sim, portal) =
        crate::scenario::api_fed_by_sim(hubspot_sim::WebhookShape::Legacy, 40).await;
    let control = sim.control();
    let summary = control.generate_traffic(portal, 300, TrafficOptions::default());
    assert!(summary.webhook_events > 0);

    let expected = summary.webhook_events;
    let delivered = control
        .wait_for_deliveries(Duration::from_secs(20), |d| {
            d.iter()
                .filter(|a| a.status == Some(200))
                .map(|a| a.event_ids.len())
                .sum::<usize>()
                >= expected
        })
        .await;
    let attempts = control.deliveries();
    assert!(
        delivered,
        "statuses: {:?}",
        attempts
            .iter()
            .map(|a| (a.status, a.error.clone()))
            .collect::<Vec<_>>()
    );
    assert!(
        attempts.iter().all(|a| a.status == Some(200)),
        "every signed delivery verified on the first try"
    );

    let batches = app.broker.drain_events().await.unwrap();
    let queued: usize = batches.iter().map(|b| b.events.len()).sum();
    assert_eq!(queued, expected);
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| &b.events)
        .map(|e| match e {
            QueuedEvent::App(a) => a.event_id.get(),
            QueuedEvent::Workflow(_) => panic!("workflow event from an app subscription"),
        })
        .collect();
    ids.sort();
    let mut sent: Vec<i64> = attempts
        .iter()
        .flat_map(|a| a.event_ids.iter().map(|&i| i as i64))
        .collect();
    sent.sort();
    assert_eq!(ids, sent);
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_of_a_portal_share_messages_and_every_event_arrives_once() {
    let app = TestApi::spawn_with(|s| s.amqp.publish_in_flight = 1)
        .await
        .unwrap();
    app.db.add_portal(5).await.unwrap();
    let requests = (0..50).map(|i| {
        let body = property_change_events(5, 10_000 + i, 1, now_ms()).to_string();
        let app = &app;
        async move {
            app.post_app_webhook(&body, now_ms())
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let batches = app.broker.drain_events().await.unwrap();
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| &b.events)
        .map(|e| match e {
            QueuedEvent::App(a) => a.event_id.get(),
            QueuedEvent::Workflow(_) => unreachable!(),
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (10_000..10_050).collect::<Vec<_>>());
    assert!(
        batches.len() < 50,
        "concurrent requests were coalesced into {} messages",
        batches.len()
    );
}

#[tokio::test]
async fn a_numeric_subscription_type_and_a_negative_occurred_at_are_400s_naming_event_and_field() {
    let app = TestApi::spawn().await.unwrap();
    app.db.add_portal(62515).await.unwrap();
    let now = now_ms();
    let mut events = property_change_events(62515, 1, 3, now);
    events[1]["subscriptionType"] = json!(5);
    events[2]["occurredAt"] = json!(-1);
    let (status, body) = error_body(
        app.post_app_webhook(&events.to_string(), now)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("event[1].subscriptionType: expected a string"),
        "{message}"
    );
    assert!(
        message.contains("event[2].occurredAt: must not be before 1970"),
        "{message}"
    );
    assert!(!message.contains("event[0]"), "{message}");
    assert!(
        app.broker.drain_events().await.unwrap().is_empty(),
        "nothing queued"
    );
}

#[tokio::test]
async fn a_nul_in_a_value_is_removed_with_a_note_and_the_batch_is_accepted() {
    let app = TestApi::spawn().await.unwrap();
    app.db.add_portal(62515).await.unwrap();
    let now = now_ms();
    let mut events = property_change_events(62515, 1, 3, now);
    events[1]["propertyValue"] = json!("lead\u{0}");
    let response = app
        .post_app_webhook(&events.to_string(), now)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 3, "{body}");
    assert_eq!(
        body["notes"],
        json!(["event[1].propertyValue: NUL character (U+0000) removed"]),
        "{body}"
    );
    let batches = app.broker.drain_events().await.unwrap();
    let values: Vec<String> = batches
        .iter()
        .flat_map(|b| &b.events)
        .map(|e| match e {
            QueuedEvent::App(a) => a.property.as_ref().unwrap().value.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(values, ["lead", "lead", "lead"]);
}

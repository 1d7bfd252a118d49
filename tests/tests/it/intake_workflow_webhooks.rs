//! Workflow "Send a webhook" intake: v2 request signatures and per-portal secrets, HubSpot's
//! type quirks, and the simulator's real workflow deliveries.

use std::collections::BTreeMap;
use std::time::Duration;

use ember_core::domain::{EventSource, QueuedEvent};
use ember_core::signature::v2_signature;
use ember_tests::{TestApi, reserve_port};
use hubspot_sim::{AppConfig, PortalSpec, SimConfig, SimServer, WorkflowConfig};
use serde_json::{Value, json};

fn workflow_event(batch: &ember_core::domain::EventBatch) -> ember_core::domain::WorkflowEvent {
    match &workflow_events(std::slice::from_ref(batch))[..] {
        [e] => e.clone(),
        other => panic!("expected one workflow event, got {other:?}"),
    }
}

/// Every workflow event of the messages (concurrent calls may share a message: group commit).
fn workflow_events(
    batches: &[ember_core::domain::EventBatch],
) -> Vec<ember_core::domain::WorkflowEvent> {
    batches
        .iter()
        .flat_map(|batch| {
            assert_eq!(batch.source, EventSource::WorkflowWebhook);
            batch.events.iter().map(|e| match e {
                QueuedEvent::Workflow(e) => e.clone(),
                other => panic!("expected a workflow event, got {other:?}"),
            })
        })
        .collect()
}

#[tokio::test]
async fn a_v2_signed_workflow_call_is_normalized_and_queued() {
    let app = TestApi::spawn().await.unwrap();
    app.db.add_portal(62515).await.unwrap();
    let path = "/webhooks/workflow/62515?workflowId=777&event=pricing_page_view";
    let body = json!({"hs_object_id": 101, "numemployees": 250, "hs_is_student": "true",
        "occurredAt": 1_700_000_000_000_i64, "jobtitle": "VP Sales"})
    .to_string();
    let signature = v2_signature(
        &app.secret,
        "POST",
        &format!("{}{path}", app.settings.public_base_url),
        body.as_bytes(),
    );
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .header("x-hubspot-signature", signature)
        .header("x-hubspot-signature-version", "v2")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let batches = app.broker.drain_events().await.unwrap();
    assert_eq!(batches.len(), 1);
    let event = workflow_event(&batches[0]);
    assert_eq!(event.portal_id.get(), 62515);
    assert_eq!(event.workflow_id.get(), 777);
    assert_eq!(event.object_id.get(), 101);
    assert_eq!(event.event_name.as_deref(), Some("pricing_page_view"));
    assert_eq!(
        event.occurred_at.unwrap().timestamp_millis(),
        1_700_000_000_000
    );
    assert_eq!(
        event.properties,
        BTreeMap::from([
            ("hs_is_student".to_string(), "true".to_string()),
            ("jobtitle".to_string(), "VP Sales".to_string()),
            ("numemployees".to_string(), "250".to_string()),
        ])
    );
}

#[tokio::test]
async fn a_portal_secret_authenticates_and_bad_credentials_do_not() {
    let app = TestApi::spawn().await.unwrap();
    let portal = app.db.add_portal(62515).await.unwrap();
    ember_core::store::portals::set_webhook_secret(&app.db.pool, portal, "portal-secret-1")
        .await
        .unwrap();
    let url = format!("{}/webhooks/workflow/62515?workflowId=9", app.address);
    let body = json!({"vid": "55", "event": "webinar_attended"}).to_string();

    let by_header = app
        .client
        .post(&url)
        .header("x-ember-webhook-secret", "portal-secret-1")
        .body(body.clone());
    assert_eq!(by_header.send().await.unwrap().status().as_u16(), 200);
    let by_query = app
        .client
        .post(format!("{url}&ember_secret=portal-secret-1"))
        .body(body.clone());
    assert_eq!(by_query.send().await.unwrap().status().as_u16(), 200);

    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "wrong secret",
            app.client
                .post(&url)
                .header("x-ember-webhook-secret", "nope")
                .body(body.clone()),
            401,
            "does not match",
        ),
        (
            "no credentials",
            app.client.post(&url).body(body.clone()),
            401,
            "no credentials",
        ),
        (
            "bad v2 signature",
            app.client
                .post(&url)
                .header("x-hubspot-signature", "0".repeat(64))
                .body(body.clone()),
            401,
            "does not match",
        ),
        (
            "v1 version",
            app.client
                .post(&url)
                .header("x-hubspot-signature", "0".repeat(64))
                .header("x-hubspot-signature-version", "v1")
                .body(body.clone()),
            401,
            "not accepted",
        ),
        (
            "bad portal id",
            app.client
                .post(format!("{}/webhooks/workflow/abc", app.address))
                .header("x-ember-webhook-secret", "portal-secret-1")
                .body(body.clone()),
            400,
            "portal id",
        ),
        (
            "unknown portal",
            app.client
                .post(format!(
                    "{}/webhooks/workflow/4242?workflowId=9",
                    app.address
                ))
                .header(
                    "x-hubspot-signature",
                    v2_signature(
                        &app.secret,
                        "POST",
                        &format!(
                            "{}/webhooks/workflow/4242?workflowId=9",
                            app.settings.public_base_url
                        ),
                        body.as_bytes(),
                    ),
                )
                .body(body.clone()),
            404,
            "has not installed",
        ),
        (
            "wrong types",
            app.client
                .post(&url)
                .header("x-ember-webhook-secret", "portal-secret-1")
                .body(json!({"vid": "x", "occurredAt": "later", "nested": {"a": 1}}).to_string()),
            400,
            "vid: expected an integer",
        ),
        (
            "not an object",
            app.client
                .post(&url)
                .header("x-ember-webhook-secret", "portal-secret-1")
                .body("[1]"),
            400,
            "JSON object",
        ),
    ];
    for (name, request, status, reason) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{name}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(reason),
            "{name}: {body}"
        );
    }
    let batches = app.broker.drain_events().await.unwrap();
    let events = workflow_events(&batches);
    assert_eq!(
        events.len(),
        2,
        "only the two authenticated calls were queued"
    );
    let keys: Vec<_> = events.iter().map(|e| e.key()).collect();
    assert_eq!(
        keys[0], keys[1],
        "the same body twice is one event for the workers' dedupe"
    );
}

#[tokio::test]
async fn the_simulators_workflow_deliveries_are_accepted() {
    let port = reserve_port();
    let base = format!("http://127.0.0.1:{port}");
    let app = TestApi::spawn_with(|s| {
        s.server.port = port;
        s.public_base_url = base.clone();
    })
    .await
    .unwrap();
    let sim = SimServer::start(SimConfig {
        app: AppConfig {
            client_secret: app.secret.clone(),
            ..AppConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let control = sim.control();
    let portal = control.create_portal(PortalSpec {
        contacts: 5,
        ..PortalSpec::default()
    });
    app.db.add_portal(portal.id as i64).await.unwrap();
    control.set_workflow(
        portal.id,
        Some(WorkflowConfig {
            target_url: format!("{base}/webhooks/workflow/{}?workflowId=31", portal.id),
            sign: true,
            include_v3: false,
        }),
    );
    let contacts = control.contact_ids(portal.id);
    for contact in &contacts[..3] {
        assert!(control.trigger_workflow(portal.id, *contact, "demo_requested"));
    }
    let delivered = control
        .wait_for_deliveries(Duration::from_secs(10), |d| {
            d.iter().filter(|a| a.status == Some(200)).count() == 3
        })
        .await;
    assert!(
        delivered,
        "deliveries: {:?}",
        control
            .deliveries()
            .iter()
            .map(|d| (d.status, d.error.clone()))
            .collect::<Vec<_>>()
    );
    let batches = app.broker.drain_events().await.unwrap();
    let mut events = workflow_events(&batches);
    events.sort_by_key(|e| e.object_id);
    let objects: Vec<u64> = events.iter().map(|e| e.object_id.get() as u64).collect();
    let mut expected = contacts[..3].to_vec();
    expected.sort();
    assert_eq!(objects, expected);
    assert!(
        events
            .iter()
            .all(|e| e.event_name.as_deref() == Some("demo_requested"))
    );
    sim.shutdown().await;
}

/// A test api whose secret failure limits are small: `per_portal` failures a `window_secs`
/// window, and a per-source limit well above it.
async fn api_with_failure_limits(per_portal: u32, window_secs: u64) -> TestApi {
    TestApi::spawn_with(|s| {
        s.intake.webhook_secret.max_failures_per_portal = per_portal;
        s.intake.webhook_secret.max_failures_per_source = per_portal * 10;
        s.intake.webhook_secret.failure_window_secs = window_secs;
    })
    .await
    .unwrap()
}

async fn post_with_secret(app: &TestApi, portal: i64, secret: &str) -> reqwest::Response {
    app.client
        .post(format!(
            "{}/webhooks/workflow/{portal}?workflowId=9",
            app.address
        ))
        .header("x-ember-webhook-secret", secret)
        .body(json!({"vid": 55, "event": "webinar_attended"}).to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn wrong_secrets_beyond_the_portal_limit_get_429_with_retry_after_in_ms_and_no_query() {
    let app = api_with_failure_limits(5, 2).await;
    let portal = app.db.add_portal(62515).await.unwrap();
    ember_core::store::portals::set_webhook_secret(&app.db.pool, portal, "portal-secret-1")
        .await
        .unwrap();
    // The first call reads the hash; then the table goes away: any query now fails (503), so
    // the 401s below prove that a guess costs none.
    assert_eq!(
        post_with_secret(&app, 62515, "portal-secret-1")
            .await
            .status()
            .as_u16(),
        200
    );
    sqlx::query("ALTER TABLE portals RENAME TO portals_hidden")
        .execute(&app.db.pool)
        .await
        .unwrap();
    for guess in 0..5 {
        let response = post_with_secret(&app, 62515, &format!("guess-{guess}")).await;
        assert_eq!(response.status().as_u16(), 401, "guess {guess}");
    }
    let response = post_with_secret(&app, 62515, "guess-5").await;
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=2000).contains(&retry_after),
        "milliseconds, within the window: {retry_after}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "secret_failures_exceeded", "{body}");
    // While blocked even the right secret waits (the block is checked before the secret).
    assert_eq!(
        post_with_secret(&app, 62515, "portal-secret-1")
            .await
            .status()
            .as_u16(),
        429
    );
    sqlx::query("ALTER TABLE portals_hidden RENAME TO portals")
        .execute(&app.db.pool)
        .await
        .unwrap();
    // Another portal is not blocked by this one's failures.
    app.db.add_portal(62516).await.unwrap();
    assert_eq!(
        post_with_secret(&app, 62516, "nope")
            .await
            .status()
            .as_u16(),
        401
    );
    // After the window the real sender's retry goes through.
    tokio::time::sleep(Duration::from_millis(retry_after + 50)).await;
    assert_eq!(
        post_with_secret(&app, 62515, "portal-secret-1")
            .await
            .status()
            .as_u16(),
        200
    );
    let batches = app.broker.drain_events().await.unwrap();
    assert_eq!(
        workflow_events(&batches).len(),
        2,
        "only the two good calls"
    );
}

#[tokio::test]
async fn failures_counted_by_one_api_process_block_the_portal_in_another() {
    let app = api_with_failure_limits(3, 60).await;
    let portal = ember_core::domain::PortalId::new(70001).unwrap();
    let source = ember_core::limiter::failures::Source::of(std::net::Ipv4Addr::LOCALHOST.into());
    // Two processes: two limiters over the same Redis prefix.
    let first =
        ember_core::limiter::failures::FailureLimiter::from_settings(&app.settings).unwrap();
    let second =
        ember_core::limiter::failures::FailureLimiter::from_settings(&app.settings).unwrap();
    for _ in 0..2 {
        assert_eq!(first.record_failure(portal, source).await, None);
    }
    assert_eq!(second.record_failure(portal, source).await, None);
    // The fourth failure, wherever it lands, is beyond the shared limit of 3.
    let wait = second.record_failure(portal, source).await.unwrap();
    assert!(wait > Duration::from_secs(50), "{wait:?}");
    assert!(second.blocked(portal, source).is_some());
    // The first process learns of it at its next failure.
    assert!(first.blocked(portal, source).is_none());
    assert!(first.record_failure(portal, source).await.is_some());
    assert!(first.blocked(portal, source).is_some());
}

#[tokio::test]
async fn a_negative_occurred_at_is_refused_naming_the_field_and_a_nul_is_removed_with_a_note() {
    let app = TestApi::spawn().await.unwrap();
    let portal = app.db.add_portal(62515).await.unwrap();
    ember_core::store::portals::set_webhook_secret(&app.db.pool, portal, "portal-secret-1")
        .await
        .unwrap();
    let url = format!("{}/webhooks/workflow/62515?workflowId=9", app.address);
    let response = app
        .client
        .post(&url)
        .header("x-ember-webhook-secret", "portal-secret-1")
        .body(r#"{"vid": 55, "occurredAt": -1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("occurredAt: must not be before 1970"),
        "{body}"
    );
    assert!(app.broker.drain_events().await.unwrap().is_empty());

    let response = app
        .client
        .post(&url)
        .header("x-ember-webhook-secret", "portal-secret-1")
        .body(r#"{"vid": 55, "jobtitle": "VP\u0000 Sales"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["notes"],
        json!(["jobtitle: NUL character (U+0000) removed"]),
        "{body}"
    );
    let event = workflow_event(&app.broker.drain_events().await.unwrap()[0]);
    assert_eq!(event.properties["jobtitle"], "VP Sales");
}

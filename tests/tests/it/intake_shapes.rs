//! The webhook shapes of HubSpot's 2026 developer platform (docs/hubspot.md A.7) through the
//! real intake, RabbitMQ and the worker's transaction: generic `object.*` contact events reach
//! the queue as the contact events they are; hub events keep their legacy name; every type
//! Ember does not use is answered 2xx and dropped with its reason, counted, and listed in the
//! portal's rejections; one change sent in both shapes is processed once.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ember_core::domain::{AppEvent, EventBatch, ObjectId, PortalId, QueuedEvent, Role};
use ember_core::store::contacts::{self, ContactStatus};
use ember_tests::TestApi;
use ember_tests::worker::processed_count;
use ember_worker::Processor;
use ember_worker::model::ModelCache;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin_support::Admin;
use crate::scenario::done;

const PORTAL: i64 = 73_001;
const OCCURRED: i64 = 1_765_000_000_000;

/// A generic (`object.*`) event as the developer platform sends it, with `objectTypeId`.
fn generic(kind: &str, event_id: i64, object_type_id: Option<&str>, object: i64) -> Value {
    let mut e = json!({
        "eventId": event_id, "subscriptionId": 9_100, "portalId": PORTAL, "appId": 54_321,
        "occurredAt": OCCURRED, "subscriptionType": kind, "attemptNumber": 0,
        "objectId": object, "changeSource": "CRM_UI", "sourceId": "userId:76023669"
    });
    if let Some(id) = object_type_id {
        e["objectTypeId"] = json!(id);
    }
    e
}

/// The legacy (`contact.*`) event of the same change, from another subscription.
fn legacy(kind: &str, event_id: i64, object: i64) -> Value {
    json!({
        "eventId": event_id, "subscriptionId": 2_001, "portalId": PORTAL, "appId": 54_321,
        "occurredAt": OCCURRED, "subscriptionType": kind, "attemptNumber": 0,
        "objectId": object, "changeSource": "CRM_UI"
    })
}

fn with(mut event: Value, fields: Value) -> Value {
    for (k, v) in fields.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

async fn api() -> TestApi {
    let app = TestApi::spawn().await.unwrap();
    app.db.add_portal(PORTAL).await.unwrap();
    app
}

/// Posts the events signed; returns the status and the JSON answer.
async fn post(app: &TestApi, events: &[Value]) -> (StatusCode, Value) {
    let body = Value::Array(events.to_vec()).to_string();
    let response = app
        .post_app_webhook(&body, Utc::now().timestamp_millis())
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn app_events(batches: &[EventBatch]) -> Vec<AppEvent> {
    batches
        .iter()
        .flat_map(|b| &b.events)
        .map(|e| match e {
            QueuedEvent::App(a) => a.clone(),
            QueuedEvent::Workflow(_) => panic!("an app webhook produced a workflow event"),
        })
        .collect()
}

/// Posts one event, expects it accepted, and returns what reached the queue.
async fn queued_alone(app: &TestApi, event: Value) -> AppEvent {
    let (status, answer) = post(app, &[event]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"accepted": 1, "dropped_unknown_portal": 0}),
        "nothing dropped"
    );
    let mut events = app_events(&app.broker.drain_events().await.unwrap());
    assert_eq!(events.len(), 1);
    events.remove(0)
}

/// The worker's transaction over the api's database, with the default model.
fn processor(app: &TestApi) -> Processor {
    let models = Arc::new(ModelCache::new(app.db.pool.clone(), Duration::ZERO).unwrap());
    Processor::new(app.db.pool.clone(), models, 4)
}

/// Drains the queue through the worker; returns how many events it applied.
async fn process_queue(app: &TestApi) -> usize {
    let processor = processor(app);
    let mut applied = 0;
    for batch in app.broker.drain_events().await.unwrap() {
        applied += done(processor.handle(&batch).await).applied;
    }
    applied
}

async fn contact(app: &TestApi, id: i64) -> Option<contacts::ContactRecord> {
    contacts::get(
        &app.db.pool,
        PortalId::new(PORTAL).unwrap(),
        ObjectId::new(id).unwrap(),
    )
    .await
    .unwrap()
}

async fn metrics(app: &TestApi) -> String {
    reqwest::get(format!("{}/metrics", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn dropped_total(metrics: &str, reason: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("ember_intake_events_dropped_total")
                && l.contains("source=\"app\"")
                && l.contains(&format!("reason=\"{reason}\""))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_generic_contact_creation_is_queued_as_contact_creation_and_creates_the_contact() {
    let app = api().await;
    let e = queued_alone(
        &app,
        with(
            generic("object.creation", 1, Some("0-1"), 601),
            json!({"changeFlag": "CREATED"}),
        ),
    )
    .await;
    assert_eq!(e.subscription_type.as_str(), "contact.creation");
    assert_eq!(e.object_type_id.as_deref(), Some("0-1"));
    assert_eq!(e.object_id.unwrap().get(), 601);
    assert_eq!(e.source_id.as_deref(), Some("userId:76023669"));
    assert_eq!(e.occurred_at.timestamp_millis(), OCCURRED);

    let applied = process(&app, e).await;
    assert_eq!(applied, 1);
    let row = contact(&app, 601).await.expect("the contact has a row");
    assert_eq!(row.status, ContactStatus::Active);
}

/// Runs one queued event (read off the queue to inspect it) through the worker's transaction.
async fn process(app: &TestApi, event: AppEvent) -> usize {
    let batch = ember_tests::worker::batch(PORTAL, vec![QueuedEvent::App(event)]);
    done(processor(app).handle(&batch).await).applied
}

#[tokio::test]
async fn a_generic_property_change_is_queued_as_contact_property_change_and_stored() {
    let app = api().await;
    let e = queued_alone(
        &app,
        with(
            generic("object.propertyChange", 2, Some("0-1"), 602),
            json!({"propertyName": "jobtitle", "propertyValue": "CTO"}),
        ),
    )
    .await;
    assert_eq!(e.subscription_type.as_str(), "contact.propertyChange");
    let change = e.property.clone().unwrap();
    assert_eq!(
        (change.name.as_str(), change.value.as_str()),
        ("jobtitle", "CTO")
    );

    assert_eq!(process(&app, e).await, 1);
    let row = contact(&app, 602).await.unwrap();
    assert_eq!(row.properties["jobtitle"].v, "CTO");
}

#[tokio::test]
async fn a_generic_deletion_and_restore_retire_and_revive_the_contact() {
    let app = api().await;
    let deletion = queued_alone(
        &app,
        with(
            generic("object.deletion", 3, Some("0-1"), 603),
            json!({"changeFlag": "DELETED"}),
        ),
    )
    .await;
    assert_eq!(deletion.subscription_type.as_str(), "contact.deletion");
    assert_eq!(process(&app, deletion).await, 1);
    assert_eq!(
        contact(&app, 603).await.unwrap().status,
        ContactStatus::Deleted
    );

    let restore = queued_alone(
        &app,
        with(
            generic("object.restore", 4, Some("0-1"), 603),
            json!({"occurredAt": OCCURRED + 1_000}),
        ),
    )
    .await;
    assert_eq!(restore.subscription_type.as_str(), "contact.restore");
    assert_eq!(process(&app, restore).await, 1);
    assert_eq!(
        contact(&app, 603).await.unwrap().status,
        ContactStatus::Active
    );
}

#[tokio::test]
async fn a_generic_merge_is_queued_with_its_ids_and_aliases_the_merged_contacts() {
    let app = api().await;
    let e = queued_alone(
        &app,
        with(
            generic("object.merge", 5, Some("0-1"), 610),
            json!({"primaryObjectId": 604, "mergedObjectIds": [605], "newObjectId": 610,
                   "numberOfPropertiesMoved": 3}),
        ),
    )
    .await;
    assert_eq!(e.subscription_type.as_str(), "contact.merge");
    let merge = e.merge.clone().unwrap();
    assert_eq!(merge.primary_object_id.get(), 604);
    assert_eq!(merge.new_object_id.unwrap().get(), 610);

    assert_eq!(process(&app, e).await, 1);
    let aliases: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT old_id, current_id FROM contact_aliases WHERE portal_id = $1 ORDER BY old_id",
    )
    .bind(PORTAL)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(aliases, vec![(604, 610), (605, 610)]);
}

#[tokio::test]
async fn a_hub_event_privacy_deletion_keeps_its_name_and_erases_the_contact() {
    let app = api().await;
    // Seed the contact through a property change, so there is something to erase.
    post(
        &app,
        &[with(
            generic("object.propertyChange", 6, Some("0-1"), 606),
            json!({"propertyName": "email", "propertyValue": "jane@example.com"}),
        )],
    )
    .await;
    assert_eq!(process_queue(&app).await, 1);
    assert!(contact(&app, 606).await.is_some());

    // `hubEvents` on the developer platform: the legacy type, no objectTypeId.
    let e = queued_alone(
        &app,
        json!({"eventId": 7, "subscriptionId": 9_200, "portalId": PORTAL, "appId": 54_321,
               "occurredAt": OCCURRED + 1, "subscriptionType": "contact.privacyDeletion",
               "attemptNumber": 0, "objectId": 606, "changeSource": "GDPR"}),
    )
    .await;
    assert_eq!(e.subscription_type.as_str(), "contact.privacyDeletion");
    assert_eq!(e.object_type_id, None);
    assert_eq!(process(&app, e).await, 1);
    assert!(contact(&app, 606).await.is_none(), "the contact is erased");
}

#[tokio::test]
async fn a_company_event_in_either_shape_is_answered_200_dropped_and_counted() {
    let app = api().await;
    let (status, answer) = post(
        &app,
        &[
            generic("object.creation", 8, Some("0-2"), 700),
            legacy("company.propertyChange", 9, 700),
            legacy("contact.creation", 10, 608),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"accepted": 1, "dropped_unknown_portal": 0, "dropped": [
            {"event": 0, "subscriptionType": "object.creation", "objectTypeId": "0-2", "reason": "unused_object_type"},
            {"event": 1, "subscriptionType": "company.propertyChange", "reason": "unused_object_type"}
        ]})
    );
    let queued = app_events(&app.broker.drain_events().await.unwrap());
    let types: Vec<&str> = queued
        .iter()
        .map(|e| e.subscription_type.as_str())
        .collect();
    assert_eq!(
        types,
        ["contact.creation"],
        "only the contact event is queued"
    );
    // The recorder is the test binary's, shared by its tests: at least this test's drops.
    assert!(dropped_total(&metrics(&app).await, "unused_object_type") >= 2.0);
}

#[tokio::test]
async fn an_unused_hub_event_is_dropped_with_its_reason_in_the_rejections_view_and_the_metric() {
    let admin = Admin::start().await;
    let owner = admin.person(31, "owner@agency.example").await;
    let agency = admin.agency("Shapes", owner).await;
    let viewer = admin.person(32, "viewer@agency.example").await;
    admin.member(agency, viewer, Role::Viewer).await;
    let portal = admin.portal(PORTAL, agency).await;

    let conversation = json!({"eventId": 11, "subscriptionId": 9_300, "portalId": PORTAL,
        "appId": 54_321, "occurredAt": OCCURRED, "subscriptionType": "conversation.newMessage",
        "attemptNumber": 0, "objectId": 800, "messageId": "m-1", "messageType": "MESSAGE"});
    // Sent twice: the second is counted but not listed again within the minute.
    for _ in 0..2 {
        let (status, answer) = post(&admin.api, std::slice::from_ref(&conversation)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["accepted"], 0);
        assert_eq!(answer["dropped"][0]["reason"], "unused_hub_event");
    }
    assert!(
        admin.api.broker.drain_events().await.unwrap().is_empty(),
        "nothing to queue, and still a 2xx"
    );

    let session = admin.sign_in(viewer).await;
    let reply = admin
        .get(&session, &format!("/admin/portals/{portal}/rejections"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let items = reply.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{:?}", reply.body);
    assert_eq!(items[0]["reason"], "unused_hub_event");
    assert_eq!(items[0]["status"], 200);
    assert_eq!(items[0]["suppressed"], 1);
    let detail = items[0]["detail"].as_str().unwrap();
    assert!(detail.contains("conversation.newMessage"), "{detail}");
    assert!(!detail.contains("m-1"), "no values from the body: {detail}");
    assert!(dropped_total(&metrics(&admin.api).await, "unused_hub_event") >= 2.0);
}

#[tokio::test]
async fn a_generic_event_without_object_type_id_is_dropped_with_its_reason_not_a_5xx() {
    let app = api().await;
    let (status, answer) = post(
        &app,
        &[
            // Malformed beyond the missing objectTypeId too: none of it is read.
            with(
                generic("object.propertyChange", 12, None, 609),
                json!({"propertyName": null, "occurredAt": "soon"}),
            ),
            generic("object.creation", 13, Some("0-1"), 609),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 1);
    assert_eq!(
        answer["dropped"],
        json!([{"event": 0, "subscriptionType": "object.propertyChange", "reason": "object_type_missing"}])
    );
    let queued = app_events(&app.broker.drain_events().await.unwrap());
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].subscription_type.as_str(), "contact.creation");
    assert!(dropped_total(&metrics(&app).await, "object_type_missing") >= 1.0);
}

#[tokio::test]
async fn one_change_sent_in_both_shapes_is_processed_once() {
    let app = api().await;
    let change = json!({"propertyName": "jobtitle", "propertyValue": "VP Sales"});
    // A migrating app: the legacy and the generic subscription both fire, in one request and
    // again in a later one (a HubSpot retry of the generic notification).
    let legacy_event = with(legacy("contact.propertyChange", 20, 650), change.clone());
    let generic_event = with(
        generic("object.propertyChange", 90_020, Some("0-1"), 650),
        change,
    );
    let creation = [
        legacy("contact.creation", 21, 650),
        generic("object.creation", 90_021, Some("0-1"), 650),
    ];
    let (status, answer) = post(
        &app,
        &[
            legacy_event.clone(),
            generic_event.clone(),
            creation[0].clone(),
            creation[1].clone(),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["accepted"].clone()),
        (StatusCode::OK, json!(4))
    );
    let (status, _) = post(&app, &[with(generic_event, json!({"attemptNumber": 1}))]).await;
    assert_eq!(status, StatusCode::OK);

    let applied = process_queue(&app).await;
    assert_eq!(applied, 2, "one property change and one creation");
    assert_eq!(
        processed_count(&app.db.pool, PORTAL).await.unwrap(),
        2,
        "one dedupe key per change"
    );
    let row = contact(&app, 650).await.unwrap();
    assert_eq!(row.properties["jobtitle"].v, "VP Sales");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE portal_id = $1")
        .bind(PORTAL)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn the_simulator_sends_both_shapes_and_each_change_is_processed_once() {
    use hubspot_sim::TrafficOptions;
    let (app, sim, portal) =
        crate::scenario::api_fed_by_sim(hubspot_sim::WebhookShape::Both, 20).await;
    let control = sim.control();
    let summary = control.generate_traffic(portal, 60, TrafficOptions::default());
    let changes = summary.webhook_events;
    assert!(changes > 0);

    // A change's generic twin travels in the request of its legacy event, so every change is
    // delivered once the legacy events are.
    let legacy_delivered = |d: &[hubspot_sim::DeliveryAttempt]| {
        d.iter()
            .filter(|a| a.status == Some(200))
            .flat_map(|a| serde_json::from_str::<Vec<Value>>(&a.body).unwrap())
            .filter(|e| {
                e["subscriptionType"]
                    .as_str()
                    .unwrap()
                    .starts_with("contact.")
            })
            .count()
    };
    let delivered = control
        .wait_for_deliveries(Duration::from_secs(20), |d| legacy_delivered(d) >= changes)
        .await;
    assert!(delivered, "{} attempts", control.deliveries().len());
    let sent: Vec<Value> = control
        .deliveries()
        .iter()
        .filter(|a| a.status == Some(200))
        .flat_map(|a| serde_json::from_str::<Vec<Value>>(&a.body).unwrap())
        .collect();
    let generic_sent = sent
        .iter()
        .filter(|e| {
            e["subscriptionType"]
                .as_str()
                .unwrap()
                .starts_with("object.")
        })
        .count();
    assert!(generic_sent > 0, "the simulator sent generic events");
    assert!(
        sent.iter().all(|e| !e["subscriptionType"]
            .as_str()
            .unwrap()
            .starts_with("object.")
            || e["objectTypeId"] == "0-1"),
        "generic events name the contact type"
    );

    let batches = app.broker.drain_events().await.unwrap();
    let queued = app_events(&batches);
    assert_eq!(queued.len(), sent.len(), "every delivered event was queued");
    let distinct = |events: &mut dyn Iterator<Item = &AppEvent>| {
        let mut keys: Vec<String> = events.map(|e| e.key().to_string()).collect();
        keys.sort();
        keys.dedup();
        keys.len()
    };
    let legacy_keys = distinct(&mut queued.iter().filter(|e| e.object_type_id.is_none()));
    let all_keys = distinct(&mut queued.iter());
    assert_eq!(
        all_keys, legacy_keys,
        "each generic event has its legacy twin's key"
    );

    let processor = processor(&app);
    let mut duplicates = 0;
    for batch in &batches {
        duplicates += done(processor.handle(batch).await).duplicates;
    }
    assert_eq!(
        duplicates,
        queued.len() - all_keys,
        "the worker processed each change once"
    );
    sim.shutdown().await;
}

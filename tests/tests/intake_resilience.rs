//! The intake never says 200 for events the broker has not confirmed: with the broker
//! connection cut it answers 503 with Retry-After, and it recovers when the broker returns.
//! Readiness names the failing component.

use chrono::Utc;
use ember_tests::{CutProxy, TestApi, property_change_events};
use serde_json::Value;

#[tokio::test]
async fn a_cut_broker_connection_gives_503_and_recovery_gives_200() {
    let proxy = CutProxy::start("127.0.0.1:5672").await.unwrap();
    let app = TestApi::spawn_with(|s| s.amqp.url = proxy.amqp_url())
        .await
        .unwrap();
    app.db.add_portal(7).await.unwrap();
    let body = property_change_events(7, 1, 3, Utc::now().timestamp_millis()).to_string();

    assert_eq!(
        app.post_app_webhook(&body, Utc::now().timestamp_millis())
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    proxy.cut();
    for _ in 0..5 {
        let response = app
            .post_app_webhook(&body, Utc::now().timestamp_millis())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()["retry-after"], "5");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "unavailable");
    }
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert!(ready["failing"]["rabbitmq"].is_string(), "{ready}");
    assert!(ready["failing"].get("postgres").is_none(), "{ready}");

    proxy.restore();
    let response = app
        .post_app_webhook(&body, Utc::now().timestamp_millis())
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "reconnects on the next publish"
    );

    // Exactly the two accepted requests are on the queue; none of the refused ones.
    let batches = app.broker.drain_events().await.unwrap();
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|b| b.events.len() == 3));
}

#[tokio::test]
async fn readiness_names_postgres_when_it_is_unreachable() {
    let app = TestApi::spawn_with(|s| {
        s.database.url = "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable".into();
        s.database.acquire_timeout_secs = 1;
    })
    .await
    .unwrap();
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert!(ready["failing"]["postgres"].is_string(), "{ready}");
    assert!(ready["failing"].get("rabbitmq").is_none(), "{ready}");

    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200, "the process itself is alive");

    // Without Postgres the intake cannot tell installed portals: 503, not a guess.
    let body = property_change_events(7, 1, 1, Utc::now().timestamp_millis()).to_string();
    let response = app
        .post_app_webhook(&body, Utc::now().timestamp_millis())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        app.broker
            .depth(&app.broker.topology.events_queue())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn the_api_starts_with_a_clear_error_when_rabbitmq_is_missing() {
    let err =
        match TestApi::spawn_with(|s| s.amqp.url = "amqp://guest:guest@127.0.0.1:1/%2f".into())
            .await
        {
            Ok(_) => panic!("the api must not start without a broker"),
            Err(e) => format!("{e:#}"),
        };
    assert!(
        err.contains("cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:1"),
        "{err}"
    );
}

//! The api at the edges of availability: it never says 200 for events the broker has not
//! confirmed (with the broker cut, or missing at start, it answers 503 with Retry-After and
//! recovers when the broker returns); readiness follows what real requests met; admin pages
//! answer 503 without Postgres; slow request heads and bodies are cut off; every answer carries
//! the security headers and errors are JSON bodies.

use std::time::Duration;

use chrono::Utc;
use ember_tests::{CutProxy, TestApi, property_change_events};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Enables the install flow, the console and the admin API (they need a token key).
const TEST_ENCRYPTION_KEY: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";

/// `GET /readyz`: its status and JSON body.
async fn readiness(app: &TestApi) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Posts `body` until it is accepted (at most 4 s): the publisher retries a failed connect at
/// most once a second. Returns the last status.
async fn post_until_accepted(app: &TestApi, body: &str) -> u16 {
    let mut status = 0;
    for _ in 0..40 {
        status = app
            .post_app_webhook(body, Utc::now().timestamp_millis())
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    status
}

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
    let (status, ready) = readiness(&app).await;
    assert_eq!(status, 503);
    assert!(ready["failing"]["rabbitmq"].is_string(), "{ready}");
    assert!(ready["failing"].get("postgres").is_none(), "{ready}");

    proxy.restore();
    assert_eq!(
        post_until_accepted(&app, &body).await,
        200,
        "reconnects once the broker is back"
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
    let (status, ready) = readiness(&app).await;
    assert_eq!(status, 503);
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

/// Issue 13: the api used to exit at start when RabbitMQ was unreachable. It starts, answers
/// webhooks 503 with Retry-After, is not ready, and serves once the broker is reachable.
#[tokio::test]
async fn the_api_starts_without_rabbitmq_answers_503_and_recovers() {
    let proxy = CutProxy::start("127.0.0.1:5672").await.unwrap();
    proxy.cut();
    let app = TestApi::spawn_with(|s| s.amqp.url = proxy.amqp_url())
        .await
        .expect("the api starts without a broker");
    app.db.add_portal(7).await.unwrap();
    let body = property_change_events(7, 1, 2, Utc::now().timestamp_millis()).to_string();
    let response = app
        .post_app_webhook(&body, Utc::now().timestamp_millis())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let (status, ready) = readiness(&app).await;
    assert_eq!(status, 503);
    assert!(ready["failing"]["rabbitmq"].is_string(), "{ready}");

    proxy.restore();
    assert_eq!(
        post_until_accepted(&app, &body).await,
        200,
        "the api connects once the broker is back"
    );
    let batches = app.broker.drain_events().await.unwrap();
    assert_eq!(batches.len(), 1, "only the accepted request was queued");
}

/// Issue 13: `/readyz` said ready while every webhook got 503 (the connection opened, but
/// publishes failed). It now reflects the intake's last real publish.
#[tokio::test]
async fn readiness_follows_failing_publishes_not_only_the_connection() {
    let app = TestApi::spawn().await.unwrap();
    app.db.add_portal(7).await.unwrap();
    let body = property_change_events(7, 1, 1, Utc::now().timestamp_millis()).to_string();
    let ok = app
        .post_app_webhook(&body, Utc::now().timestamp_millis())
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(readiness(&app).await.0, 200);

    // Someone deletes the events queue: the connection is fine, every publish is unroutable.
    let connection = app.broker.connect().await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_delete(
            app.broker.topology.events_queue().as_str().into(),
            Default::default(),
        )
        .await
        .unwrap();
    let refused = app
        .post_app_webhook(&body, Utc::now().timestamp_millis())
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    let (status, body) = readiness(&app).await;
    assert_eq!(status, 503, "{body}");
    let reason = body["failing"]["rabbitmq"].as_str().unwrap_or_default();
    assert!(reason.contains("last publish failed"), "{body}");
    connection.close(200, "done".into()).await.unwrap();
}

/// Issue 13: admin pages answered 500 when Postgres was down; they answer 503 with
/// Retry-After, as JSON for the API and as a console page for a person.
#[tokio::test]
async fn admin_api_and_console_answer_503_while_postgres_is_unreachable() {
    let proxy = CutProxy::start("127.0.0.1:5432").await.unwrap();
    let app = TestApi::spawn_with(|s| {
        let mut url = url::Url::parse(&s.database.url).unwrap();
        url.set_port(Some(proxy.port)).unwrap();
        s.database.url = url.to_string();
        s.database.acquire_timeout_secs = 1;
        s.encryption_key = Some(TEST_ENCRYPTION_KEY.to_owned().into());
    })
    .await
    .unwrap();
    // A signed-in person, created directly in this test's database.
    let person = {
        let mut conn = app.db.pool.acquire().await.unwrap();
        ember_core::store::agencies::upsert_person(&mut conn, 91, Some("ops@example.com"))
            .await
            .unwrap()
    };
    let sid = ember_core::store::sessions::create(
        &app.db.pool,
        person,
        Utc::now() + chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    let signer = ember_api::session::Signer::new(
        &secrecy::SecretString::from(app.secret.clone()),
        600,
        3600,
        false,
    )
    .unwrap();
    let cookie = format!("ember_session={}", signer.new_session(sid, person).unwrap());
    let get = |path: &str| {
        app.client
            .get(format!("{}{path}", app.address))
            .header("cookie", cookie.clone())
            .send()
    };
    assert_eq!(get("/admin/me").await.unwrap().status().as_u16(), 200);

    proxy.cut();
    let api = get("/admin/me").await.unwrap();
    assert_eq!(api.status().as_u16(), 503);
    assert_eq!(api.headers()["retry-after"], "5");
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["code"], "database_unavailable", "{body}");
    let page = get("/app").await.unwrap();
    assert_eq!(page.status().as_u16(), 503);
    assert_eq!(page.headers()["retry-after"], "5");
    let html = page.text().await.unwrap();
    assert!(html.contains("cannot reach its database"), "{html}");

    proxy.restore();
    assert_eq!(get("/admin/me").await.unwrap().status().as_u16(), 200);
}

/// Sends `request` over a raw connection and returns what the server answered (everything it
/// wrote until it closed the connection, or until `wait` passed).
async fn raw_exchange(address: &str, request: &[u8], wait: Duration) -> String {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Issue 13: a slow or partial body held a connection for 95 s and more. A body that does not
/// arrive within `server.body_timeout_ms` gets 408 and the connection is closed; so does a head
/// that does not arrive within `server.request_head_timeout_ms`.
#[tokio::test]
async fn slow_bodies_and_heads_are_cut_off_with_408() {
    let app = TestApi::spawn_with(|s| {
        s.server.body_timeout_ms = 400;
        s.server.request_head_timeout_ms = 400;
    })
    .await
    .unwrap();
    let partial_body = b"POST /webhooks/hubspot HTTP/1.1\r\nHost: ember.test\r\n\
        Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{\"eventId\":";
    let answer = raw_exchange(&app.address, partial_body, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("body_timeout"), "{answer:?}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer:?}"
    );

    let partial_head = b"POST /webhooks/hubspot HTTP/1.1\r\nHost: ember.test\r\n";
    let started = std::time::Instant::now();
    let answer = raw_exchange(&app.address, partial_head, Duration::from_secs(10)).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the server closed the connection of a head that never ended"
    );
    assert_eq!(
        app.broker
            .depth(&app.broker.topology.events_queue())
            .await
            .unwrap(),
        0,
        "nothing queued"
    );
}

/// Issue 13: the admin JSON (which returns the CSRF token) must not be cached or sniffed, the
/// OAuth pages must not be framed, HSTS goes out when Ember is served over HTTPS, and what
/// actix refuses before a handler runs (unknown paths) is a JSON error body. `GET /` leads to
/// the console.
#[tokio::test]
async fn every_answer_carries_security_headers_and_json_errors() {
    let app =
        TestApi::spawn_with(|s| s.encryption_key = Some(TEST_ENCRYPTION_KEY.to_owned().into()))
            .await
            .unwrap();
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    let me = get("/admin/me").await.unwrap();
    assert_eq!(me.status().as_u16(), 401);
    assert_eq!(me.headers()["cache-control"], "no-store");
    assert_eq!(me.headers()["x-content-type-options"], "nosniff");
    assert!(me.headers().get("strict-transport-security").is_none());

    let page = get("/oauth/install?invite=forged").await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(page.headers()["cache-control"], "no-store");

    let missing = get("/no/such/path").await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert!(
        missing.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["code"], "not_found", "{body}");
    assert!(body["message"].as_str().unwrap().contains("/no/such/path"));

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = no_redirects
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status().as_u16(), 303);
    assert_eq!(root.headers()["location"], "/app");

    let https = TestApi::spawn_with(|s| s.public_base_url = "https://ember.example.com".into())
        .await
        .unwrap();
    let healthz = https
        .client
        .get(format!("{}/healthz", https.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        healthz.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

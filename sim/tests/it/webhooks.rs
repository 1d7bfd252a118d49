//! Webhook delivery: signatures, batching, retries with each policy, faults.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use ember_hubspot::wire::webhook::WebhookEvent;
use hmac::{Hmac, KeyInit, Mac};
use hubspot_sim::{
    APP_WEBHOOK_RETRY_DELAYS_S, DeliveryAttempt, DeliveryKind, Faults, WorkflowConfig, signature,
};
use sha2::{Digest, Sha256};

use crate::helpers::{Received, Receiver, Reply, TestSim, start, start_with};

const WAIT: Duration = Duration::from_secs(10);

/// An independent v3 check, as the vectors' algorithm (docs/hubspot.md J) and Ember's validator do it.
fn v3_valid(secret: &str, uri: &str, r: &Received) -> bool {
    let ts = r.header("x-hubspot-request-timestamp").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("POST{uri}").as_bytes());
    mac.update(&r.body);
    mac.update(ts.as_bytes());
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    r.header("x-hubspot-signature-v3") == Some(want.as_str())
}

fn sha_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

#[test]
fn the_signature_code_reproduces_every_vector() {
    // The repository's copy of the vectors (docs/hubspot.md J), shared with core's tests.
    let raw = include_str!("../../../core/tests/fixtures/signature-vectors.json");
    let vectors: Vec<serde_json::Value> = serde_json::from_str(raw).unwrap();
    assert!(vectors.len() >= 20);
    for v in vectors {
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        let (id, secret, method, uri, body, ts) = (
            s("id"),
            s("client_secret"),
            s("method"),
            s("uri"),
            s("body"),
            s("timestamp"),
        );
        let ts = if ts.is_empty() {
            v["timestamp"]
                .as_i64()
                .map(|t| t.to_string())
                .unwrap_or_default()
        } else {
            ts
        };
        let got = match v["version"].as_str().unwrap() {
            "v1" => signature::v1(&secret, body.as_bytes()),
            "v2" => signature::v2(
                &secret,
                if method.is_empty() { "POST" } else { &method },
                &uri,
                body.as_bytes(),
            ),
            _ => signature::v3(&secret, &method, &uri, body.as_bytes(), &ts),
        };
        let expected = s("expected_signature");
        let in_window = v["now_ms"]
            .as_i64()
            .is_none_or(|now| now - ts.parse::<i64>().unwrap() <= 300_000);
        let accepted = got == expected && in_window;
        assert_eq!(
            accepted,
            v["expected_valid"].as_bool().unwrap(),
            "vector {id}: got {got}, want {expected}"
        );
    }
}

async fn sim_with_receiver(
    script: Vec<Reply>,
    f: impl FnOnce(&mut hubspot_sim::SimConfig),
) -> (TestSim, Receiver) {
    let rx = Receiver::start("/webhooks/hubspot?src=hs%3Aapp", script).await;
    let url = rx.url.clone();
    let t = start_with(|c| {
        c.app.webhook_target_url = Some(url);
        f(c);
    })
    .await;
    (t, rx)
}

fn app_attempts(d: &[DeliveryAttempt]) -> Vec<&DeliveryAttempt> {
    d.iter().filter(|a| a.kind == DeliveryKind::App).collect()
}

#[tokio::test]
async fn app_webhooks_arrive_signed_v1_and_v3_as_a_json_array_of_events() {
    let (t, rx) = sim_with_receiver(vec![], |_| {}).await;
    let (p, _tok) = t.installed_portal(0);
    let ctl = t.sim.control();
    let id = ctl
        .create_contact(
            p.id,
            BTreeMap::from([
                ("email".into(), "a@acme.io".into()),
                ("jobtitle".into(), "CEO".into()),
            ]),
        )
        .unwrap();
    assert!(ctl.wait_for_deliveries(WAIT, |d| !d.is_empty()).await);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    let secret = t.sim.app().client_secret;
    assert!(
        v3_valid(&secret, &signature::decode_v3_uri(&rx.url), r),
        "v3 over the decoded full URI"
    );
    assert_eq!(
        r.header("x-hubspot-signature"),
        Some(sha_hex(&[secret.as_bytes(), &r.body]).as_str())
    );
    assert_eq!(r.header("x-hubspot-signature-version"), Some("v1"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.uri, "/webhooks/hubspot?src=hs%3Aapp",
        "the target URI is sent as configured"
    );
    let events: Vec<WebhookEvent> = serde_json::from_slice(&r.body).unwrap();
    let kinds: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e.subscription_type.as_str(), e.property_name.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("contact.creation", None),
            ("contact.propertyChange", Some("email")),
            ("contact.propertyChange", Some("jobtitle"))
        ]
    );
    assert!(events.iter().all(|e| e.object_id == Some(id)
        && e.portal_id == p.id
        && e.attempt_number == 0
        && e.app_id == t.sim.app().app_id));
    assert_eq!(events[0].change_flag.as_deref(), Some("CREATED"));
    assert_eq!(events[2].property_value.as_deref(), Some("CEO"));
    let raw: Vec<serde_json::Value> = serde_json::from_slice(&r.body).unwrap();
    assert!(raw[0].get("subscriptionType").is_some() && raw[0].get("eventType").is_none());
    rx.stop().await;
}

#[tokio::test]
async fn events_leave_in_batches_of_at_most_100() {
    let (t, rx) = sim_with_receiver(vec![], |_| {}).await;
    let ctl = t.sim.control();
    ctl.set_webhook_target(None);
    let (p, _tok) = t.installed_portal(0);
    for i in 0..250 {
        ctl.create_contact(p.id, BTreeMap::from([("jobtitle".into(), format!("n{i}"))]));
    }
    // creation + jobtitle change per contact.
    assert_eq!(ctl.pending_events(p.id), 500);
    ctl.set_webhook_target(Some(rx.url.clone()));
    assert!(
        ctl.wait_for_deliveries(WAIT, |d| d.iter().map(|a| a.event_ids.len()).sum::<usize>()
            == 500)
            .await
    );
    let mut sizes: Vec<usize> = ctl.deliveries().iter().map(|a| a.event_ids.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [100, 100, 100, 100, 100]);
    rx.stop().await;
}

#[tokio::test]
async fn failed_app_webhooks_are_retried_on_any_4xx_or_5xx_with_attempt_numbers_and_jittered_delays()
 {
    let (t, rx) = sim_with_receiver(
        vec![Reply::status(500), Reply::status(404), Reply::status(200)],
        |_| {},
    )
    .await;
    let (p, _tok) = t.installed_portal(0);
    let ctl = t.sim.control();
    ctl.create_contact(p.id, BTreeMap::new());
    assert!(ctl.wait_for_deliveries(WAIT, |d| d.len() == 1).await);
    for n in 1..3usize {
        let last = ctl.deliveries()[n - 1].clone();
        let due = last.next_attempt_ms.expect("a retry is scheduled");
        let base = APP_WEBHOOK_RETRY_DELAYS_S[n - 1] * 1000;
        let delay = due - last.at_ms;
        assert!(
            delay >= base * 9 / 10 && delay <= base * 11 / 10,
            "delay {delay} around {base}"
        );
        ctl.advance(Duration::from_millis((delay - 1) as u64));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(ctl.deliveries().len(), n, "not before it is due");
        ctl.advance(Duration::from_millis(1));
        assert!(ctl.wait_for_deliveries(WAIT, |d| d.len() == n + 1).await);
    }
    let d = ctl.deliveries();
    assert_eq!(
        d.iter().map(|a| (a.attempt, a.status)).collect::<Vec<_>>(),
        [(0, Some(500)), (1, Some(404)), (2, Some(200))]
    );
    let bodies: Vec<Vec<WebhookEvent>> = rx
        .received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        bodies
            .iter()
            .map(|b| b[0].attempt_number)
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(bodies[0][0].event_id, bodies[2][0].event_id);
    rx.stop().await;
}

#[tokio::test]
async fn app_webhooks_give_up_after_ten_retries_within_24_hours_and_time_out_after_the_configured_timeout()
 {
    let mut script = vec![Reply {
        status: 200,
        delay: Duration::from_millis(400),
        retry_after: None,
    }];
    script.extend((0..10).map(|_| Reply::status(500)));
    let (t, rx) =
        sim_with_receiver(script, |c| c.webhook_timeout = Duration::from_millis(100)).await;
    let (p, _tok) = t.installed_portal(0);
    let ctl = t.sim.control();
    let start = ctl.now_ms();
    ctl.create_contact(p.id, BTreeMap::new());
    for n in 1..=11usize {
        assert!(
            ctl.wait_for_deliveries(WAIT, |d| d.len() == n).await,
            "attempt {n}"
        );
        if let Some(due) = ctl.deliveries()[n - 1].next_attempt_ms {
            ctl.set_time_ms(due);
        }
    }
    let d = ctl.deliveries();
    assert_eq!(d[0].error.as_deref(), Some("timeout"));
    assert!(d[1..].iter().all(|a| a.status == Some(500)));
    assert_eq!(d.len(), 11);
    assert!(d[10].gave_up && d[10].next_attempt_ms.is_none());
    assert!(
        d[10].at_ms - start < 24 * 3_600_000,
        "all retries within 24 h"
    );
    rx.stop().await;
}

#[tokio::test]
async fn duplicate_and_out_of_order_faults_show_in_deliveries() {
    let (t, rx) = sim_with_receiver(vec![], |_| {}).await;
    let (p, _tok) = t.installed_portal(0);
    let ctl = t.sim.control();
    ctl.set_faults(
        Some(p.id),
        Faults {
            duplicate_next: 1,
            out_of_order: true,
            ..Default::default()
        },
    );
    ctl.set_webhook_target(None);
    let a = ctl.create_contact(p.id, BTreeMap::new()).unwrap();
    let b = ctl.create_contact(p.id, BTreeMap::new()).unwrap();
    ctl.set_webhook_target(Some(rx.url.clone()));
    assert!(ctl.wait_for_deliveries(WAIT, |d| d.len() == 2).await);
    let d = ctl.deliveries();
    assert_eq!(d[0].event_ids, d[1].event_ids);
    assert!(d[1].duplicate);
    let events: Vec<WebhookEvent> = serde_json::from_slice(&rx.received()[0].body).unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e.object_id.unwrap())
            .collect::<Vec<_>>(),
        [b, a]
    );
    rx.stop().await;
}

#[tokio::test]
async fn the_apps_own_writes_echo_back_unless_turned_off_and_merges_carry_the_new_id() {
    let (t, rx) = sim_with_receiver(vec![], |_| {}).await;
    let (p, tok) = t.installed_portal(2);
    let ctl = t.sim.control();
    let ids = ctl.contact_ids(p.id);
    t.patch(
        &tok.access_token,
        &format!("/crm/v3/objects/contacts/{}", ids[0]),
        serde_json::json!({"properties": {"jobtitle": "Founder"}}),
    )
    .await;
    assert!(ctl.wait_for_deliveries(WAIT, |d| d.len() == 1).await);
    let events: Vec<WebhookEvent> = serde_json::from_slice(&rx.received()[0].body).unwrap();
    assert_eq!(
        (
            events[0].change_source.as_deref(),
            events[0].source_id.clone()
        ),
        (Some("INTEGRATION"), Some(t.sim.app().app_id.to_string()))
    );

    ctl.set_echo_app_writes(false);
    t.patch(
        &tok.access_token,
        &format!("/crm/v3/objects/contacts/{}", ids[0]),
        serde_json::json!({"properties": {"jobtitle": "CEO"}}),
    )
    .await;
    assert_eq!(ctl.pending_events(p.id), 0);

    let new_id = ctl.merge_contacts(p.id, ids[0], ids[1]).unwrap();
    assert!(ctl.wait_for_deliveries(WAIT, |d| d.len() == 2).await);
    let events: Vec<WebhookEvent> = serde_json::from_slice(&rx.received()[1].body).unwrap();
    assert_eq!(events[0].subscription_type, "contact.merge");
    assert_eq!(
        (
            events[0].new_object_id,
            events[0].primary_object_id,
            events[0].merged_object_ids.clone()
        ),
        (Some(new_id), Some(ids[0]), Some(vec![ids[1]]))
    );
    rx.stop().await;
}

async fn workflow_sim(script: Vec<Reply>) -> (TestSim, Receiver, u64, u64) {
    let rx = Receiver::start("/webhooks/hubspot/workflow?portal=1", script).await;
    let t = start().await;
    let (p, _tok) = t.installed_portal(1);
    let ctl = t.sim.control();
    ctl.set_workflow(
        p.id,
        Some(WorkflowConfig {
            target_url: rx.url.clone(),
            sign: true,
            include_v3: false,
        }),
    );
    let id = ctl.contact_ids(p.id)[0];
    (t, rx, p.id, id)
}

#[tokio::test]
async fn workflow_webhooks_are_signed_v2_and_show_hubspots_type_quirks() {
    let (t, rx, portal, id) = workflow_sim(vec![]).await;
    let ctl = t.sim.control();
    ctl.set_properties(
        portal,
        id,
        BTreeMap::from([
            (
                "recent_conversion_date".into(),
                "2026-01-01T10:00:00Z".into(),
            ),
            ("hubspot_owner_id".into(), "76023669".into()),
        ]),
    );
    assert!(ctl.trigger_workflow(portal, id, "demo_request"));
    assert!(
        ctl.wait_for_deliveries(WAIT, |d| d.iter().any(|a| a.kind == DeliveryKind::Workflow))
            .await
    );
    let r = &rx.received()[0];
    let secret = t.sim.app().client_secret;
    assert_eq!(
        r.header("x-hubspot-signature"),
        Some(sha_hex(&[secret.as_bytes(), b"POST", rx.url.as_bytes(), &r.body]).as_str())
    );
    assert_eq!(r.header("x-hubspot-signature-version"), Some("v2"));
    assert!(r.header("x-hubspot-signature-v3").is_none());
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body["hs_object_id"],
        serde_json::json!(id),
        "ids are numbers"
    );
    assert_eq!(body["portalId"], serde_json::json!(portal));
    assert_eq!(
        body["hubspot_owner_id"],
        serde_json::json!(76023669),
        "numeric enum values are numbers"
    );
    assert_eq!(
        body["recent_conversion_date"],
        serde_json::json!(1_767_261_600_000i64),
        "dates are epoch ms"
    );
    assert!(
        body["hs_email_optout"] == "true" || body["hs_email_optout"] == "false",
        "booleans are strings"
    );
    rx.stop().await;
}

#[tokio::test]
async fn workflow_webhooks_retry_5xx_and_429_with_retry_after_in_ms_but_never_other_4xx() {
    let script = vec![
        Reply {
            status: 429,
            delay: Duration::ZERO,
            retry_after: Some("120000".into()),
        },
        Reply::status(503),
        Reply::status(200),
    ];
    let (t, rx, portal, id) = workflow_sim(script).await;
    let ctl = t.sim.control();
    ctl.trigger_workflow(portal, id, "manual");
    assert!(ctl.wait_for_deliveries(WAIT, |d| d.len() == 1).await);
    let first = ctl.deliveries()[0].clone();
    assert_eq!(
        first.next_attempt_ms,
        Some(first.at_ms + 120_000),
        "Retry-After is milliseconds"
    );
    ctl.set_time_ms(first.next_attempt_ms.unwrap());
    assert!(ctl.wait_for_deliveries(WAIT, |d| d.len() == 2).await);
    let second = ctl.deliveries()[1].clone();
    assert_eq!(
        second.next_attempt_ms,
        Some(second.at_ms + 120_000),
        "second failure: 2 minutes"
    );
    ctl.set_time_ms(second.next_attempt_ms.unwrap());
    assert!(ctl.wait_for_deliveries(WAIT, |d| d.len() == 3).await);
    assert_eq!(ctl.deliveries()[2].status, Some(200));
    rx.stop().await;

    let (t, rx, portal, id) = workflow_sim(vec![Reply::status(400)]).await;
    let ctl = t.sim.control();
    ctl.trigger_workflow(portal, id, "manual");
    assert!(ctl.wait_for_deliveries(WAIT, |d| d.len() == 1).await);
    let d = ctl.deliveries();
    assert!(d[0].gave_up && d[0].next_attempt_ms.is_none());
    assert_eq!(ctl.pending_retries(), 0);
    rx.stop().await;
}

#[tokio::test]
async fn workflow_retries_stop_after_three_days() {
    let (t, rx, portal, id) = workflow_sim((0..100).map(|_| Reply::status(500)).collect()).await;
    let ctl = t.sim.control();
    let start = ctl.now_ms();
    ctl.trigger_workflow(portal, id, "manual");
    let mut n = 1;
    loop {
        assert!(ctl.wait_for_deliveries(WAIT, |d| d.len() == n).await);
        let last = ctl.deliveries()[n - 1].clone();
        match last.next_attempt_ms {
            Some(due) => {
                assert!(
                    due - last.at_ms <= 8 * 3_600_000,
                    "at most 8 h between tries"
                );
                ctl.set_time_ms(due);
                n += 1;
            }
            None => {
                assert!(last.gave_up);
                break;
            }
        }
    }
    let d = ctl.deliveries();
    assert!(d.last().unwrap().at_ms - start <= 3 * 86_400_000);
    assert!(
        d.last().unwrap().at_ms - start > 2 * 86_400_000,
        "retries continue for about 3 days"
    );
    assert_eq!(
        d[1].at_ms - d[0].at_ms,
        60_000,
        "first retry after 1 minute"
    );
    rx.stop().await;
}

#[tokio::test]
async fn generated_traffic_becomes_webhooks_and_workflow_calls() {
    let (t, rx) = sim_with_receiver(vec![], |_| {}).await;
    let (p, _tok) = t.installed_portal(20);
    let ctl = t.sim.control();
    ctl.set_workflow(
        p.id,
        Some(WorkflowConfig {
            target_url: rx.url.clone(),
            sign: true,
            include_v3: false,
        }),
    );
    let s = ctl.generate_traffic(p.id, 300, hubspot_sim::TrafficOptions::default());
    assert!(s.by_kind.get("page_view").copied().unwrap_or(0) > 80);
    assert!(s.workflow_requests > 0);
    let total = s.webhook_events;
    assert!(
        ctl.wait_for_deliveries(WAIT, |d| app_attempts(d)
            .iter()
            .map(|a| a.event_ids.len())
            .sum::<usize>()
            == total)
            .await
    );
    let _ = start;
    rx.stop().await;
}

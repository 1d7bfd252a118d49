//! Workflow "Send a webhook" actions (docs/hubspot.md C): a customized JSON body per enrolled
//! contact, signed v2 with the app's client secret, retried for up to 3 days starting 1 minute
//! after a failure with growing gaps of at most 8 hours, on 5xx, timeouts, connection errors
//! and 429 (whose `Retry-After` is read as **milliseconds**), never on other 4xx.
//!
//! The customized body shows the type quirks the simulator assumes (docs/hubspot.md K.1 says
//! HubSpot's are unverified, README "Workflow body"): record ids and numeric enumeration values
//! as JSON numbers, dates and datetimes as epoch-millisecond numbers, booleans as the strings
//! `"true"`/`"false"`, missing values as `""`.

use std::sync::Arc;
use std::time::Instant;

use ember_hubspot::wire::webhook::{
    HEADER_REQUEST_TIMESTAMP, HEADER_SIGNATURE, HEADER_SIGNATURE_V3, HEADER_SIGNATURE_VERSION,
};
use serde_json::{Map, Value, json};

use super::signature;
use crate::in_flight::WorkflowJob;
use crate::setup::{DeliveryAttempt, DeliveryKind};
use crate::state::{Contact, Portal, Shared};

const FIRST_RETRY_MS: i64 = 60_000;
const MAX_GAP_MS: i64 = 8 * 3_600_000;
const RETRY_WINDOW_MS: i64 = 3 * 86_400_000;
const MAX_IN_FLIGHT: usize = 20;

fn epoch_ms(v: &str) -> Value {
    if let Ok(ms) = v.parse::<i64>() {
        return json!(ms);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return json!(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return json!(
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
                .unwrap_or(0)
        );
    }
    json!(v)
}

/// The customized body for one contact.
pub(crate) fn workflow_body(p: &Portal, c: &Contact, trigger: &str, now_ms: i64) -> Value {
    const FIELDS: &[&str] = &[
        "email",
        "firstname",
        "lastname",
        "jobtitle",
        "company",
        "industry",
        "numemployees",
        "annualrevenue",
        "country",
        "lifecyclestage",
        "hubspot_owner_id",
        "hs_analytics_num_page_views",
        "hs_email_optout",
        "recent_conversion_event_name",
        "recent_conversion_date",
        "hs_email_last_click_date",
        "hs_email_last_open_date",
        "ember_last_page_view",
        "ember_last_webinar",
        "ember_last_webinar_date",
    ];
    let mut m = Map::new();
    m.insert("hs_object_id".into(), json!(c.id));
    m.insert("portalId".into(), json!(p.id));
    for name in FIELDS {
        let raw = c.props.get(*name).map(String::as_str).unwrap_or("");
        let def = p.property(name);
        let v = match (raw, def.map(|d| d.type_.as_str())) {
            ("", _) => json!(""),
            (v, Some("number")) => v
                .parse::<i64>()
                .map(|n| json!(n))
                .or_else(|_| v.parse::<f64>().map(|f| json!(f)))
                .unwrap_or(json!(v)),
            (v, Some("date" | "datetime")) => epoch_ms(v),
            (v, Some("bool")) => json!(v),
            (v, Some("enumeration")) => v.parse::<u64>().map(|n| json!(n)).unwrap_or(json!(v)),
            (v, _) => json!(v),
        };
        m.insert((*name).into(), v);
    }
    // Static values the workflow author typed into the action, named as Ember documents them
    // (docs/intake.md): the engagement it reports and when.
    m.insert("event".into(), json!(trigger));
    m.insert("occurredAt".into(), json!(now_ms));
    Value::Object(m)
}

pub(crate) fn collect(shared: &Shared) -> Vec<WorkflowJob> {
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let mut out = Vec::new();
    let mut i = 0;
    while i < w.workflow_jobs.len() {
        if w.workflow_in_flight >= MAX_IN_FLIGHT {
            break;
        }
        if w.workflow_jobs[i].due_ms <= now {
            out.push(w.workflow_jobs.swap_remove(i));
            w.workflow_in_flight += 1;
        } else {
            i += 1;
        }
    }
    out
}

fn retry_after_ms(h: &reqwest::header::HeaderMap) -> Option<i64> {
    h.get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
}

pub(crate) async fn deliver(shared: Arc<Shared>, mut job: WorkflowJob) {
    let secret = shared.world().app.client_secret.clone();
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let mut req = shared
        .http
        .post(&job.url)
        .timeout(shared.config.workflow_timeout)
        .header("Content-Type", "application/json")
        .header(
            "X-HubSpot-Timeout-Millis",
            shared.config.workflow_timeout.as_millis().to_string(),
        )
        .header("X-HubSpot-Correlation-Id", uuid::Uuid::new_v4().to_string());
    let (mut v2, mut v3) = (None, None);
    if job.sign {
        let s = signature::v2(&secret, "POST", &job.url, &job.body);
        req = req
            .header(HEADER_SIGNATURE, &s)
            .header(HEADER_SIGNATURE_VERSION, "v2");
        v2 = Some(s);
        if job.include_v3 {
            let s = signature::v3(&secret, "POST", &job.url, &job.body, &ts);
            req = req
                .header(HEADER_SIGNATURE_V3, &s)
                .header(HEADER_REQUEST_TIMESTAMP, &ts);
            v3 = Some(s);
        }
    }
    let started = Instant::now();
    let result = req.body(job.body.clone()).send().await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (status, error, retry_after) = match result {
        Ok(r) => {
            let s = r.status().as_u16();
            let ra = retry_after_ms(r.headers());
            let _ = r.bytes().await;
            (Some(s), None, ra)
        }
        Err(e) if e.is_timeout() => (None, Some("timeout".to_string()), None),
        Err(e) if e.is_connect() => (None, Some("connect".to_string()), None),
        Err(e) => (None, Some(format!("request: {e}")), None),
    };
    let now = shared.clock.now_ms();
    let retryable = match status {
        Some(s) if (200..300).contains(&s) => None,
        Some(429) => Some(retry_after.unwrap_or_else(|| backoff(job.attempt))),
        Some(s) if s >= 500 => Some(backoff(job.attempt)),
        Some(_) => None,
        None => Some(backoff(job.attempt)),
    };
    let success = status.is_some_and(|s| (200..300).contains(&s));
    let mut w = shared.world();
    w.workflow_in_flight = w.workflow_in_flight.saturating_sub(1);
    let mut attempt = DeliveryAttempt {
        kind: DeliveryKind::Workflow,
        portal: job.portal,
        batch_id: job.job_id,
        attempt: job.attempt,
        event_ids: Vec::new(),
        url: job.url.clone(),
        status,
        error,
        latency_ms,
        at_ms: now,
        body: String::from_utf8_lossy(&job.body).into_owned(),
        signature_v1: None,
        signature_v2: v2,
        signature_v3: v3,
        request_timestamp: job.include_v3.then_some(ts),
        next_attempt_ms: None,
        gave_up: false,
        duplicate: false,
    };
    match retryable {
        Some(delay) if now + delay <= job.first_ms + RETRY_WINDOW_MS => {
            attempt.next_attempt_ms = Some(now + delay);
            job.attempt += 1;
            job.due_ms = now + delay;
            w.workflow_jobs.push(job);
        }
        _ => attempt.gave_up = !success,
    }
    w.deliveries.push(attempt);
}

/// 1 min, 2 min, 4 min, ... capped at 8 hours.
fn backoff(attempt: u32) -> i64 {
    FIRST_RETRY_MS
        .saturating_mul(1i64 << attempt.min(20))
        .min(MAX_GAP_MS)
}

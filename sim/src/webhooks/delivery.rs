//! App-webhook delivery: a loop that, every tick, takes each installed portal's pending
//! events in batches of up to 100 (at most `max_concurrent_requests` in flight per portal),
//! POSTs them signed (v1 + v3) to the app's target URL with a 5 s timeout, and reschedules
//! failures (any 4xx/5xx, timeout, connection error) up to 10 times over about 24 hours of
//! simulator time, with jitter (docs/hubspot.md A.5). Every attempt is recorded. A batch's
//! events take the configured shape when it is formed, so its retries resend the same body.

use std::sync::Arc;
use std::time::Instant;

use ember_hubspot::wire::webhook::{
    HEADER_REQUEST_TIMESTAMP, HEADER_SIGNATURE, HEADER_SIGNATURE_V3, HEADER_SIGNATURE_VERSION,
    WebhookEvent,
};

use super::signature;
use super::workflow;
use crate::in_flight::AppBatch;
use crate::rng::SimRng;
use crate::setup::{DeliveryAttempt, DeliveryKind};
use crate::state::{PortalId, Shared, World};

/// Most events in one request (docs/hubspot.md A.1).
pub(crate) const MAX_EVENTS_PER_BATCH: usize = 100;
/// Delays before retry 1..=10, in simulator seconds (≈21 h in all; ±10% jitter keeps the
/// last retry inside HubSpot's 24 hours).
pub(crate) const APP_RETRY_DELAYS_S: [i64; 10] = [
    60, 120, 300, 600, 1_200, 2_400, 4_800, 9_000, 18_000, 40_000,
];

/// Runs both delivery loops until `stop` flips.
pub(crate) async fn run_app_delivery(
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.config.delivery_tick) => {}
            _ = stop.changed() => break,
        }
        let (url, batches) = collect(&shared);
        if let Some(url) = url {
            for b in batches {
                tokio::spawn(deliver(shared.clone(), url.clone(), b, false));
            }
        }
        for job in workflow::collect(&shared) {
            tokio::spawn(workflow::deliver(shared.clone(), job));
        }
    }
}

fn collect(shared: &Shared) -> (Option<String>, Vec<AppBatch>) {
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let Some(url) = w.app.webhook_target_url.clone() else {
        return (None, Vec::new());
    };
    let max = w.app.max_concurrent_requests.max(1);
    let shape = shared.config.webhook_shape;
    let mut out = Vec::new();
    let mut i = 0;
    while i < w.app_retries.len() {
        let b = &w.app_retries[i];
        let portal = b.portal;
        let ready = b.due_ms <= now
            && w.portals
                .get(&portal)
                .is_some_and(|p| p.installed && p.in_flight < max);
        if ready {
            let b = w.app_retries.swap_remove(i);
            if let Some(p) = w.portals.get_mut(&portal) {
                p.in_flight += 1;
            }
            out.push(b);
        } else {
            i += 1;
        }
    }
    let ids: Vec<PortalId> = w
        .portals
        .iter()
        .filter(|(_, p)| p.installed && !p.pending.is_empty())
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        let out_of_order = w.faults_for(Some(id)).out_of_order;
        loop {
            let batch_id = w.next_batch_id;
            let Some(p) = w.portals.get_mut(&id) else {
                break;
            };
            if p.in_flight >= max || p.pending.is_empty() {
                break;
            }
            let n = p
                .pending
                .len()
                .min(shape.changes_per_batch(MAX_EVENTS_PER_BATCH));
            let events: Vec<WebhookEvent> = if out_of_order {
                let start = p.pending.len() - n;
                let mut v: Vec<_> = p.pending.drain(start..).collect();
                v.reverse();
                v
            } else {
                p.pending.drain(..n).collect()
            };
            let events = shape.apply(events);
            p.in_flight += 1;
            w.next_batch_id += 1;
            out.push(AppBatch {
                batch_id,
                portal: id,
                events,
                attempt: 0,
                due_ms: now,
            });
        }
    }
    (Some(url), out)
}

/// Jitter factor in [0.9, 1.1), deterministic per batch and attempt.
fn jitter(seed: u64, batch: u64, attempt: u32) -> f64 {
    0.9 + SimRng::derive(
        seed,
        batch.wrapping_mul(31).wrapping_add(u64::from(attempt)),
    )
    .unit()
        * 0.2
}

async fn deliver(shared: Arc<Shared>, url: String, mut batch: AppBatch, duplicate: bool) {
    for e in &mut batch.events {
        e.attempt_number = batch.attempt;
    }
    let body = serde_json::to_vec(&batch.events).unwrap_or_default();
    let (secret, seed) = {
        let w = shared.world();
        (w.app.client_secret.clone(), w.seed)
    };
    // The receiver checks the timestamp against its own wall clock, so it is real time.
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let v1 = signature::v1(&secret, &body);
    let v3 = signature::v3(&secret, "POST", &url, &body, &ts);
    let started = Instant::now();
    let result = shared
        .http
        .post(&url)
        .timeout(shared.config.webhook_timeout)
        .header("Content-Type", "application/json")
        .header("User-Agent", super::USER_AGENT)
        .header(HEADER_SIGNATURE, &v1)
        .header(HEADER_SIGNATURE_VERSION, "v1")
        .header(HEADER_SIGNATURE_V3, &v3)
        .header(HEADER_REQUEST_TIMESTAMP, &ts)
        .body(body.clone())
        .send()
        .await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (status, error) = match result {
        Ok(r) => {
            let s = r.status().as_u16();
            let _ = r.bytes().await;
            (Some(s), None)
        }
        Err(e) if e.is_timeout() => (None, Some("timeout".to_string())),
        Err(e) if e.is_connect() => (None, Some("connect".to_string())),
        Err(e) => (None, Some(format!("request: {e}"))),
    };
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    let now = shared.clock.now_ms();
    let attempt = DeliveryAttempt {
        kind: DeliveryKind::App,
        portal: batch.portal,
        batch_id: batch.batch_id,
        attempt: batch.attempt,
        event_ids: batch.events.iter().map(|e| e.event_id).collect(),
        url: url.clone(),
        status,
        error,
        latency_ms,
        at_ms: now,
        body: String::from_utf8_lossy(&body).into_owned(),
        signature_v1: Some(v1),
        signature_v2: None,
        signature_v3: Some(v3),
        request_timestamp: Some(ts),
        next_attempt_ms: None,
        gave_up: false,
        duplicate,
    };
    let again = settle(&shared, batch.clone(), attempt, ok, seed, now);
    if again {
        Box::pin(deliver(shared.clone(), url, batch, true)).await;
    }
}

/// Records an attempt and schedules what follows; true if a duplicate should be sent now.
fn settle(
    shared: &Shared,
    mut batch: AppBatch,
    mut attempt: DeliveryAttempt,
    ok: bool,
    seed: u64,
    now: i64,
) -> bool {
    let mut w = shared.world();
    if let Some(p) = w.portals.get_mut(&batch.portal) {
        p.in_flight = p.in_flight.saturating_sub(1);
    }
    let duplicate = attempt.duplicate;
    if ok {
        w.deliveries.push(attempt);
        if !duplicate && should_duplicate(&mut w, batch.portal) {
            if let Some(p) = w.portals.get_mut(&batch.portal) {
                p.in_flight += 1;
            }
            return true;
        }
        return false;
    }
    if duplicate {
        w.deliveries.push(attempt);
        return false;
    }
    let idx = batch.attempt as usize;
    if idx < APP_RETRY_DELAYS_S.len() {
        let delay = (APP_RETRY_DELAYS_S[idx] as f64
            * 1000.0
            * jitter(seed, batch.batch_id, batch.attempt)) as i64;
        attempt.next_attempt_ms = Some(now + delay);
        batch.attempt += 1;
        batch.due_ms = now + delay;
        w.app_retries.push(batch);
    } else {
        attempt.gave_up = true;
    }
    w.deliveries.push(attempt);
    false
}

fn should_duplicate(w: &mut World, portal: PortalId) -> bool {
    let mut f = w.faults_for(Some(portal)).clone();
    let dup = if f.duplicate_next > 0 {
        f.duplicate_next -= 1;
        true
    } else {
        f.duplicate_rate > 0.0 && w.rng.chance(f.duplicate_rate)
    };
    *w.faults_for_mut(Some(portal)) = f;
    dup
}

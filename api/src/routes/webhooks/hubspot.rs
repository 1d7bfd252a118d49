//! `POST /webhooks/hubspot`: app webhook subscriptions, signed with v3.

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use ember_core::domain::{EventSource, PortalId, QueuedEvent};
use ember_core::normalize::normalize_app_webhook;
use ember_core::signature::{SignedRequest, headers};
use tracing_actix_web::RequestId;

use super::{
    body::read_limited,
    count_rejection,
    dropped::settle_dropped,
    header, public_uri,
    publish::{cleaned_values, publish_events},
    signature_reason,
};
use crate::error::ApiError;
use crate::state::Intake;

const SOURCE: &str = "app";

/// Verifies, normalizes and queues one app webhook request. Only v3 is accepted: HubSpot sends
/// it to every OAuth app, and v1 has no replay protection.
#[post("/webhooks/hubspot")]
pub async fn receive(
    request: HttpRequest,
    payload: web::Payload,
    intake: web::Data<Intake>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(&request, payload, intake.body_limit_bytes, SOURCE).await?;
    let uri = public_uri(&intake.public_base_url, &request);
    let signed = SignedRequest {
        method: request.method().as_str(),
        uri: &uri,
        body: &body,
    };
    let verified = intake
        .verifier
        .verify_v3(
            signed,
            header(&request, headers::SIGNATURE_V3),
            header(&request, headers::REQUEST_TIMESTAMP),
            Utc::now().timestamp_millis(),
        )
        .map_err(|e| {
            let reason = signature_reason(&e);
            count_rejection(SOURCE, reason);
            tracing::warn!(target: "ember::security", reason, error = %e, uri = %uri, "webhook signature rejected");
            ApiError::unauthorized(e.to_string())
        })?;
    let normalized = normalize_app_webhook(verified, intake.limits).map_err(|e| {
        count_rejection(SOURCE, e.reason);
        tracing::info!(
            reason = e.reason,
            problems = e.errors.len() + e.more,
            "webhook body rejected"
        );
        let error = ApiError::bad_request(e.reason, e.to_string());
        for portal in portals_named_in(&body) {
            intake.rejections.record(portal, &error);
        }
        error
    })?;
    let notes = cleaned_values(SOURCE, &normalized.notes);
    let events = normalized.events;
    let portals: BTreeSet<PortalId> = events.iter().map(|e| e.portal_id).collect();
    let events = events.into_iter().map(QueuedEvent::App).collect();
    let mut outcome = publish_events(
        &intake,
        EventSource::AppWebhook,
        &request_id.to_string(),
        events,
        intake.retry_after_secs,
    )
    .await
    .inspect_err(|error| {
        for portal in &portals {
            intake.rejections.record(*portal, error);
        }
    })?;
    outcome.notes = notes;
    // Settled only with the 2xx, so a request HubSpot has to retry is not counted twice.
    outcome.dropped = settle_dropped(SOURCE, normalized.dropped, &intake.rejections);
    Ok(HttpResponse::Ok().json(outcome))
}

/// At most this many portals of one rejected body are told about it.
const MAX_PORTALS_NAMED: usize = 10;

/// The portals a signed body's events name, read leniently (the body failed normalization), at
/// most [`MAX_PORTALS_NAMED`] of them: HubSpot batches per account, so one is the rule.
fn portals_named_in(body: &[u8]) -> BTreeSet<PortalId> {
    let events: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap_or_default();
    let mut portals = BTreeSet::new();
    for event in &events {
        if portals.len() == MAX_PORTALS_NAMED {
            break;
        }
        if let Some(portal) = event
            .get("portalId")
            .and_then(serde_json::Value::as_i64)
            .and_then(|id| PortalId::new(id).ok())
        {
            portals.insert(portal);
        }
    }
    portals
}

//! `POST /webhooks/workflow/{portal_id}`: workflow "Send a webhook" actions.
//!
//! Authentication, in order: a v3 signature if the request carries one, else the v2 request
//! signature workflows send with the "request signature" option (both with the app's client
//! secret), else the portal's own webhook secret from the `X-Ember-Webhook-Secret` header or the
//! `ember_secret` query parameter (the workflow's "API key" option).
//!
//! Workflows read `Retry-After` in milliseconds, so that is what a 503 or 429 here carries.
//!
//! Guessing a portal's secret is bounded: the secret hash is cached per process
//! ([`crate::secret_cache`]), so a guess costs no query, and failed attempts are counted per
//! portal and per source address in Redis ([`ember_core::limiter::failures`]); beyond
//! `intake.webhook_secret.max_failures_per_*` a window, secret attempts get 429 with Retry-After
//! (workflows retry a 429, so the real sender recovers once the guessing stops). Unauthenticated
//! rejections are sampled into the portal's rejection feed, not listed one by one.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use ember_core::domain::{EventSource, PortalId, QueuedEvent};
use ember_core::limiter::failures::Source;
use ember_core::normalize::{WorkflowRequest, normalize_workflow_webhook};
use ember_core::signature::{SignatureError, SignedRequest, VerifiedBody, headers};
use serde::Deserialize;
use tracing_actix_web::RequestId;

use super::{
    body::read_limited,
    count_rejection, header, public_uri,
    publish::{cleaned_values, publish_events},
    signature_reason,
};
use crate::error::ApiError;
use crate::state::Intake;

const SOURCE: &str = "workflow";
pub const SECRET_HEADER: &str = "x-ember-webhook-secret";

#[derive(Deserialize)]
pub struct Query {
    #[serde(rename = "workflowId")]
    workflow_id: Option<String>,
    event: Option<String>,
    ember_secret: Option<String>,
}

#[post("/webhooks/workflow/{portal_id}")]
pub async fn receive(
    request: HttpRequest,
    path: web::Path<String>,
    query: web::Query<Query>,
    payload: web::Payload,
    intake: web::Data<Intake>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let portal_id: PortalId = path.parse().map_err(|e| {
        ApiError::bad_request("invalid_portal", format!("portal id in the path {e}"))
    })?;
    accept(&request, portal_id, &query, payload, &intake, &request_id)
        .await
        // The portal in the path is the one whose workflow is misconfigured: its owners see why.
        .inspect_err(|e| {
            if is_unauthenticated(e) {
                // Anybody can make these up: a sample is listed, and logged.
                if intake.rejections.record_unauthenticated(portal_id, e) {
                    tracing::warn!(target: "ember::security", portal_id = %portal_id, reason = e.code, status = e.status.as_u16(),
                        "Workflow webhook credentials rejected; more this minute are counted, not listed.");
                }
            } else {
                intake.rejections.record(portal_id, e);
            }
        })
}

/// Refused before the request was authenticated: by a credential check or its failure limit.
fn is_unauthenticated(error: &ApiError) -> bool {
    matches!(
        error.status,
        StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
    )
}

async fn accept(
    request: &HttpRequest,
    portal_id: PortalId,
    query: &Query,
    payload: web::Payload,
    intake: &Intake,
    request_id: &RequestId,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(request, payload, intake.body_limit_bytes, SOURCE).await?;
    let verified = authenticate(request, intake, portal_id, query, &body).await?;
    let workflow_request = WorkflowRequest {
        portal_id,
        workflow_id: query.workflow_id.clone(),
        event_name: query.event.clone(),
    };
    let normalized = normalize_workflow_webhook(&workflow_request, verified).map_err(|e| {
        count_rejection(SOURCE, e.reason);
        ApiError::bad_request(e.reason, e.to_string())
    })?;
    let notes = cleaned_values(SOURCE, &normalized.notes);
    let event = normalized.events;
    let retry_after_ms = intake.retry_after_secs * 1000;
    if !intake.queue_unknown_portals
        && !intake
            .portals
            .accepts_events(&intake.pool, portal_id)
            .await
            .map_err(|e| {
                ApiError::unavailable(
                    "cannot check the portal; retry later",
                    retry_after_ms,
                    e.into(),
                )
            })?
    {
        // Workflows do not retry a 404, and the author sees why in the workflow's history.
        count_rejection(SOURCE, "unknown_portal");
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_portal",
            format!("portal {portal_id} has not installed Ember"),
        ));
    }
    let mut outcome = publish_events(
        intake,
        EventSource::WorkflowWebhook,
        &request_id.to_string(),
        vec![QueuedEvent::Workflow(event)],
        retry_after_ms,
    )
    .await?;
    outcome.notes = notes;
    Ok(HttpResponse::Ok().json(outcome))
}

async fn authenticate<'b>(
    request: &HttpRequest,
    intake: &Intake,
    portal_id: PortalId,
    query: &Query,
    body: &'b [u8],
) -> Result<VerifiedBody<'b>, ApiError> {
    let uri = public_uri(&intake.public_base_url, request);
    let signed = SignedRequest {
        method: request.method().as_str(),
        uri: &uri,
        body,
    };
    let result = if header(request, headers::SIGNATURE_V3).is_some() {
        intake.verifier.verify_v3(
            signed,
            header(request, headers::SIGNATURE_V3),
            header(request, headers::REQUEST_TIMESTAMP),
            Utc::now().timestamp_millis(),
        )
    } else if header(request, headers::SIGNATURE).is_some() {
        match header(request, headers::SIGNATURE_VERSION).unwrap_or("v2") {
            "v2" => intake
                .verifier
                .verify_v2(signed, header(request, headers::SIGNATURE)),
            other => Err(SignatureError::UnsupportedVersion(other.to_owned())),
        }
    } else {
        let given = header(request, SECRET_HEADER).or(query.ember_secret.as_deref());
        let Some(given) = given else {
            count_rejection(SOURCE, "credentials_missing");
            return Err(ApiError::unauthorized(format!(
                "no credentials: expected a HubSpot request signature ({} or {}), or the portal's webhook secret \
                 in {SECRET_HEADER} or the ember_secret query parameter",
                headers::SIGNATURE_V3,
                headers::SIGNATURE
            )));
        };
        return check_secret(request, intake, portal_id, given)
            .await
            .map(|()| VerifiedBody::authenticated_otherwise(body));
    };
    result.map_err(|e| {
        let reason = signature_reason(&e);
        count_rejection(SOURCE, reason);
        tracing::debug!(target: "ember::security", reason, error = %e, portal_id = %portal_id, "workflow signature rejected");
        ApiError::unauthorized(e.to_string())
    })
}

/// Checks a portal secret: refused at once while a failure limit is exceeded; otherwise
/// compared with the cached hash, and a failure counted.
async fn check_secret(
    request: &HttpRequest,
    intake: &Intake,
    portal_id: PortalId,
    given: &str,
) -> Result<(), ApiError> {
    // The peer address: Ember has no trusted-proxy setting, so a forwarded-for header (anybody's
    // to write) is never read. Behind a proxy every request has the proxy's address
    // (config/default.toml, `max_failures_per_source`).
    let source = Source::of(
        request
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip()),
    );
    if let Some(wait) = intake.failures.blocked(portal_id, source) {
        count_rejection(SOURCE, "secret_failures_exceeded");
        return Err(too_many_failures(wait));
    }
    let hash = intake
        .secrets
        .hash(&intake.pool, portal_id)
        .await
        .map_err(|e| {
            ApiError::unavailable(
                "cannot check the secret; retry later",
                intake.retry_after_secs * 1000,
                e.into(),
            )
        })?;
    if hash.is_some_and(|h| h.matches(given)) {
        return Ok(());
    }
    if let Some(wait) = intake.failures.record_failure(portal_id, source).await {
        count_rejection(SOURCE, "secret_failures_exceeded");
        return Err(too_many_failures(wait));
    }
    count_rejection(SOURCE, "secret_mismatch");
    Err(ApiError::unauthorized(
        "the webhook secret does not match this portal's",
    ))
}

/// 429 with `Retry-After` in milliseconds (what workflows read), rounded up.
fn too_many_failures(wait: Duration) -> ApiError {
    let ms = wait.as_millis().max(1) as u64;
    ApiError::too_many_requests(
        "secret_failures_exceeded",
        format!(
            "too many failed webhook secret attempts for this portal or from this address; retry after {ms} ms"
        ),
        ms,
    )
}

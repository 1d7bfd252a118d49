//! `POST /webhooks/workflow/{portal_id}`: workflow "Send a webhook" actions.
//!
//! Authentication, in order: a v3 signature if the request carries one, else the v2 request
//! signature workflows send with the "request signature" option (both with the app's client
//! secret), else the portal's own webhook secret from the `X-Ember-Webhook-Secret` header or the
//! `ember_secret` query parameter (the workflow's "API key" option).
//!
//! Workflows read `Retry-After` in milliseconds, so that is what a 503 here carries.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use ember_core::domain::{EventSource, PortalId, QueuedEvent};
use ember_core::normalize::{WorkflowRequest, normalize_workflow_webhook};
use ember_core::signature::{SignatureError, SignedRequest, VerifiedBody, headers};
use ember_core::store::portals;
use serde::Deserialize;
use tracing_actix_web::RequestId;

use super::{
    body::read_limited, count_rejection, header, public_uri, publish::publish_events,
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
        .inspect_err(|e| intake.rejections.record(portal_id, e))
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
    let event = normalize_workflow_webhook(&workflow_request, verified).map_err(|e| {
        count_rejection(SOURCE, e.reason);
        ApiError::bad_request(e.reason, e.to_string())
    })?;
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
    let outcome = publish_events(
        intake,
        EventSource::WorkflowWebhook,
        &request_id.to_string(),
        vec![QueuedEvent::Workflow(event)],
        retry_after_ms,
    )
    .await?;
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
        let matches = portals::webhook_secret_matches(&intake.pool, portal_id, given)
            .await
            .map_err(|e| {
                ApiError::unavailable(
                    "cannot check the secret; retry later",
                    intake.retry_after_secs * 1000,
                    e.into(),
                )
            })?;
        if matches {
            return Ok(VerifiedBody::authenticated_otherwise(body));
        }
        count_rejection(SOURCE, "secret_mismatch");
        tracing::warn!(target: "ember::security", portal_id = %portal_id, "workflow webhook secret rejected");
        return Err(ApiError::unauthorized(
            "the webhook secret does not match this portal's",
        ));
    };
    result.map_err(|e| {
        let reason = signature_reason(&e);
        count_rejection(SOURCE, reason);
        tracing::warn!(target: "ember::security", reason, error = %e, portal_id = %portal_id, "workflow signature rejected");
        ApiError::unauthorized(e.to_string())
    })
}

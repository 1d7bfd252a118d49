//! HubSpot's legacy paths (`/oauth/v1`, `/crm/v3`, `/account-info/v3`, `/appinstalls/v3`): served
//! beside the date-versioned ones, every call counted, and, when set, refused as HubSpot refuses
//! them to a project app (docs/hubspot.md P2, K.13): 404 with the standard error body. The
//! count is how tests and the demo prove Ember calls none of them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;

use super::errors;
use crate::control::Control;

/// The legacy-path counter and switch of one simulator.
#[derive(Debug, Default)]
pub(crate) struct LegacyPaths {
    calls: AtomicU64,
    refuse: AtomicBool,
}

impl LegacyPaths {
    pub(crate) fn new(refuse: bool) -> Self {
        Self {
            calls: AtomicU64::new(0),
            refuse: AtomicBool::new(refuse),
        }
    }

    /// Legacy-path calls received so far, refused ones included.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Whether legacy paths are refused.
    pub(crate) fn refuses(&self) -> bool {
        self.refuse.load(Ordering::Relaxed)
    }

    pub(crate) fn set_refuse(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::Relaxed);
    }

    fn record(&self) -> bool {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.refuses()
    }
}

/// The message of a refused legacy call.
const REFUSED: &str = "This API version is not available to apps on the developer platform. Use the date-versioned path.";

/// Middleware on every legacy scope: counts the call and, when refusing, answers 404.
pub(crate) async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refuse = req
        .app_data::<web::Data<Control>>()
        .is_some_and(|c| c.legacy.record());
    if refuse {
        let answer = errors::respond(
            StatusCode::NOT_FOUND,
            &errors::body("OBJECT_NOT_FOUND", REFUSED),
        );
        return Ok(req.into_response(answer).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

//! The call gate: an optional hook every gated HubSpot call passes through, so that a rate
//! limiter (Ember's Redis limiter in `ember_core`) can grant permits and learn from HubSpot's
//! `X-HubSpot-RateLimit-*` headers without this crate knowing Redis.
//!
//! Gated: every call authorized by a portal's token on the API host (CRM, properties, account,
//! self-uninstall). Not gated: the OAuth token endpoint and token info, which HubSpot does not
//! count against the portal's burst limit (docs/hubspot.md G; the simulator agrees).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::telemetry::RateLimitTelemetry;

/// The future [`CallGate::acquire`] returns (boxed so that the trait stays object safe).
pub type GateFuture<'a> = Pin<Box<dyn Future<Output = Result<(), GateError>> + Send + 'a>>;

/// Grants permits for HubSpot calls and observes HubSpot's rate-limit answers.
///
/// `acquire` is awaited before each gated call; an error aborts the call with
/// [`crate::Error::Gate`] (transient). `observe` is called after every answer HubSpot gave to
/// a gated call (429s included), with whatever rate-limit headers it carried.
pub trait CallGate: Send + Sync {
    /// Waits for (or refuses) a permit to call HubSpot for `portal`.
    fn acquire(&self, portal: i64) -> GateFuture<'_>;
    /// Learns from one answer's rate-limit headers.
    fn observe(&self, portal: i64, telemetry: &RateLimitTelemetry);
}

/// Why the gate refused a permit. Always transient: try again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct GateError {
    /// What happened, e.g. "limiter unavailable" or "no permit within 5 s".
    pub reason: String,
    /// When a permit may be available.
    pub retry_after: Option<Duration>,
}

impl GateError {
    /// A refusal with a reason and an optional wait.
    pub fn new(reason: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self {
            reason: reason.into(),
            retry_after,
        }
    }
}

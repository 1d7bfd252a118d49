//! Deliveries waiting for their next attempt: the world keeps them (`state`), the delivery loops
//! (`webhooks`) make and send them. Plain data in a module of its own, so that neither of those
//! modules imports the other.

use ember_hubspot::wire::webhook::WebhookEvent;

use crate::setup::PortalId;

/// One batch of events on its way to the app.
#[derive(Debug, Clone)]
pub(crate) struct AppBatch {
    pub(crate) batch_id: u64,
    pub(crate) portal: PortalId,
    pub(crate) events: Vec<WebhookEvent>,
    pub(crate) attempt: u32,
    pub(crate) due_ms: i64,
}

/// One workflow webhook request, with its retry state.
#[derive(Debug, Clone)]
pub(crate) struct WorkflowJob {
    pub(crate) job_id: u64,
    pub(crate) portal: PortalId,
    pub(crate) url: String,
    pub(crate) body: Vec<u8>,
    pub(crate) sign: bool,
    pub(crate) include_v3: bool,
    pub(crate) attempt: u32,
    pub(crate) due_ms: i64,
    pub(crate) first_ms: i64,
}

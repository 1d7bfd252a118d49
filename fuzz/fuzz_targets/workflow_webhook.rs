//! The workflow-webhook normalizer: never panics, and whatever it accepts becomes a batch the
//! worker decodes back unchanged and PostgreSQL can store. The input's first line (if it has a
//! newline) plays the URL's query: `workflowId` and `event` separated by a tab, as a workflow's
//! URL may carry either.
#![no_main]

use ember_core::domain::{EventSource, PortalId, QueuedEvent};
use ember_core::normalize::{WorkflowRequest, normalize_workflow_webhook};
use ember_core::signature::VerifiedBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let portal = PortalId::new(62515).expect("a valid portal");
    let (query, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (
            Some(String::from_utf8_lossy(&data[..i]).into_owned()),
            &data[i + 1..],
        ),
        None => (None, data),
    };
    let (workflow_id, event_name) = match &query {
        Some(q) => match q.split_once('\t') {
            Some((w, e)) => (
                Some(w.to_owned()).filter(|w| !w.is_empty()),
                Some(e.to_owned()),
            ),
            None => (Some(q.clone()).filter(|w| !w.is_empty()), None),
        },
        None => (None, None),
    };
    let request = WorkflowRequest {
        portal_id: portal,
        workflow_id,
        event_name,
    };
    let Ok(normalized) =
        normalize_workflow_webhook(&request, VerifiedBody::authenticated_otherwise(body))
    else {
        return;
    };
    ember_fuzz::check_publishable(
        portal,
        EventSource::WorkflowWebhook,
        vec![QueuedEvent::Workflow(normalized.events)],
    );
});

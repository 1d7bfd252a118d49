//! The app-webhook normalizer: never panics, and whatever it accepts becomes, per portal, a
//! batch the worker decodes back unchanged and PostgreSQL can store.
#![no_main]

use std::collections::BTreeMap;

use ember_core::domain::{EventSource, QueuedEvent};
use ember_core::normalize::{AppBodyLimits, normalize_app_webhook};
use ember_core::signature::VerifiedBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = VerifiedBody::authenticated_otherwise(data);
    let Ok(normalized) = normalize_app_webhook(body, AppBodyLimits::default()) else {
        return;
    };
    let mut by_portal = BTreeMap::new();
    for event in normalized.events {
        by_portal
            .entry(event.portal_id)
            .or_insert_with(Vec::new)
            .push(QueuedEvent::App(event));
    }
    for (portal, events) in by_portal {
        ember_fuzz::check_publishable(portal, EventSource::AppWebhook, events);
    }
});

//! Webhooks HubSpot sends: app subscriptions (batched events, v1 + v3 signatures, 5 s
//! timeout, 10 retries over 24 h with jitter) and workflow "Send a webhook" actions
//! (customized body with HubSpot's type quirks, v2 signature, retries for 3 days on 5xx,
//! timeouts and 429 with Retry-After in milliseconds). App events take the legacy, generic or
//! both shapes (`WebhookShape`).

mod delivery;
mod events;
mod shape;
pub mod signature;
mod workflow;

pub(crate) use delivery::{APP_RETRY_DELAYS_S, run_app_delivery};
pub use shape::WebhookShape;
pub(crate) use workflow::workflow_body;

/// The `User-Agent` third-party captures show on HubSpot's webhook requests (docs/hubspot.md A.5).
pub(crate) const USER_AGENT: &str = "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) - WebhooksExecutorDaemon-executor";

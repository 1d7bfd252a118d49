//! Ember's worker: turns queued webhook events into scores, counting each event exactly once
//! although HubSpot delivers at least once and any process may die at any moment.
//!
//! - [`startup`]: build / identify / run, graceful SIGTERM.
//! - [`runner`]: the queue loop, the only code that acks (ack, delayed retry, dead letter).
//! - [`consumers::process`]: one message, one Postgres transaction.
//! - [`effects`]: the pure in-memory effect of events on contacts, and rescoring.
//! - [`model`]: per-portal models, compiled and cached.
//! - [`context`]: the HubSpot side of the context fetch (batch read, applied as events).
//! - [`decay`]: decay sweep, background rescore after a model change, dedupe purge.
//! - [`writeback`]: drains `score_outbox` into HubSpot through the Redis limiter
//!   ([`writeback::hubspot_crm::HubSpotCrm`] over the gated client and the token manager).
//! - [`resync`]: `ember portal resync`, paging through every contact of a portal.
//! - [`metrics_endpoint`]: the worker's `/metrics` and `/healthz`.
//! - [`dlq`]: list and replay dead letters; [`cli`]: the `ember worker` / `ember dlq` arguments.
//!
//! See `worker/README.md` for the design.

pub mod cli;
pub mod consumers;
pub mod context;
pub mod decay;
pub mod dlq;
pub mod effects;
pub mod metrics_endpoint;
pub mod model;
pub mod resync;
pub mod runner;
pub mod startup;
pub mod writeback;

pub use consumers::Outcome;
pub use consumers::process::{Processor, Summary};
pub use startup::{Worker, WorkerOptions};

//! Ember's scenario tests against real Postgres, RabbitMQ, Redis and the HubSpot simulator, in
//! one binary: the workspace links once, and a new scenario is a new module here. Each test makes
//! its own database, queue prefix and Redis key prefix, so they run in parallel.
//!
//! Run one family with a filter: `cargo test -p ember-tests --test it worker_processing::`.

mod admin_support;
mod scenario;
mod writeback_support;

mod admin_models;
mod admin_openapi;
mod admin_ops;
mod console_browser;
mod intake_app_webhooks;
mod intake_resilience;
mod intake_shapes;
mod intake_workflow_webhooks;
mod limiter_redis;
mod pipeline_writeback;
mod resync;
mod tenancy_install;
mod tenancy_tokens;
mod worker_processing;
mod worker_queue;
mod writeback_batching;
mod writeback_bench;
mod writeback_sim;
mod writeback_validation;

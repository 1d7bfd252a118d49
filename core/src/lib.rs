//! Ember's core: domain newtypes, event normalization, webhook signatures and the scoring model
//! (pure modules, no I/O), plus thin typed I/O for Postgres, RabbitMQ and Redis.

pub mod config;
pub mod domain;
pub mod limiter;
pub mod normalize;
pub mod queue;
pub mod readiness;
pub mod scoring;
pub mod signature;
pub mod store;
pub mod telemetry;
pub mod tenancy;

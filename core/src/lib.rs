//! Ember's core: domain newtypes, event normalization and webhook signatures (pure modules, no
//! I/O), plus thin typed I/O for Postgres, RabbitMQ and Redis. The scoring model is its own
//! crate, `ember-scoring`, re-exported as [`scoring`].

pub mod config;
pub mod domain;
pub mod limiter;
pub mod normalize;
pub mod queue;
pub mod readiness;
/// The scoring model lives in its own pure crate (`scoring/`), so that it can be embedded,
/// fuzzed and benchmarked alone; it is re-exported here for the code that stores and runs it.
pub use ember_scoring as scoring;
pub mod signature;
pub mod store;
pub mod telemetry;
pub mod tenancy;

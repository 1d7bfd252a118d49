//! Ember's HTTP service: the signed HubSpot webhook intake, health and metrics endpoints, and
//! (as they land) the OAuth install flow, the admin API and the console.

pub mod console;
pub mod error;
pub mod extract;
mod http_guards;
mod metrics_middleware;
pub mod openapi;
mod ops;
mod portal_cache;
mod redact;
pub mod rejections;
pub mod routes;
mod scope;
mod secret_cache;
pub mod session;
pub mod startup;
mod state;

pub use startup::Application;

//! Ember's HTTP service: the signed HubSpot webhook intake, health and metrics endpoints, and
//! (as they land) the OAuth install flow, the admin API and the console.

pub mod error;
mod metrics_middleware;
mod portal_cache;
pub mod routes;
pub mod startup;
mod state;

pub use startup::Application;

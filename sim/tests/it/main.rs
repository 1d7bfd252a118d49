//! hubspot-sim's integration tests: one binary, one module per area.

mod contract;
mod control;
mod crm;
mod fidelity;
mod generator;
mod helpers;
mod oauth;
mod oauth_2026;
mod rate_limits;
mod spec;
mod webhooks;

//! HTTP routes, one module per area.

pub mod health;
pub mod webhooks;

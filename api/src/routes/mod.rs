//! HTTP routes, one module per area.

pub mod admin;
pub mod health;
pub mod oauth;
pub mod webhooks;

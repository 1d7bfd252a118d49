//! HubSpot's wire types, written from HubSpot's published OpenAPI specs
//! (`HubSpot/HubSpot-public-api-spec-collection`, paths in `docs/hubspot.md`).
//!
//! These are the exact JSON shapes HubSpot sends and accepts. Ember's client parses them and
//! the simulator (`hubspot-sim`) produces them, so both sides share one definition.
//!
//! Strictness: where a spec schema lists every field HubSpot sends, the type denies unknown
//! fields and required fields are not `Option`. Where HubSpot's real bodies are known to omit
//! a "required" field (docs/hubspot.md H, E.3), the field keeps its non-optional type but defaults
//! when absent, and the note says so. Webhook events have no spec and are an open set, so they
//! accept unknown keys.

pub mod account;
pub mod crm;
pub mod error;
pub mod oauth;
pub mod oauth_legacy;
pub mod properties;
pub mod rate_limit;
pub mod webhook;

pub use error::{ErrorBody, ErrorDetail, StandardError};

#[cfg(test)]
mod tests;

//! ember-hubspot: the HubSpot HTTP client and HubSpot's wire types.
//!
//! - [`HubSpot`]: one concrete client; every call takes the portal id and its access token
//!   (`secrecy::SecretString`) and knows nothing of Ember's storage.
//! - [`oauth`]: authorize URL, code exchange and refresh (`oauth2` over our reqwest) on HubSpot's
//!   2026-03 token endpoint, access-token introspection, refresh-token revocation, self-uninstall.
//! - [`version`]: the date-based API versions, named once, and every path built from them.
//! - [`crm`]: batch read and update (≤ 100 rows, per-row outcomes), single get.
//! - [`properties`]: property groups and properties, idempotent provisioning.
//! - [`Error`]: transient or permanent, with HubSpot's category, correlation id and Retry-After.
//! - [`RateLimitTelemetry`] / [`Reply`]: the rate-limit headers of every answer.
//! - [`CallGate`]: the hook a rate limiter plugs into. See `README.md`.

mod client;
pub mod crm;
mod error;
mod gate;
pub mod oauth;
pub mod properties;
mod telemetry;
pub mod version;
pub mod wire;

pub use client::{HubSpot, HubSpotConfig};
pub use error::{ApiFailure, Error, OAuthFailure};
pub use gate::{CallGate, GateError, GateFuture};
pub use oauth::{AuthorizeRequest, TokenSet};
pub use telemetry::{RateLimitTelemetry, Reply};

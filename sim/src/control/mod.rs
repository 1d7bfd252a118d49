//! Control and observation: the typed API tests use in-process (`Control`) and the same
//! operations over HTTP under `/_sim/` (never on HubSpot's paths).

mod api;
mod changes;
pub(crate) mod http;

pub(crate) use api::create_portal_locked as api_create_portal;
pub use api::{Control, RulesRefused};

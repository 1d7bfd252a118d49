//! Control and observation: the typed API tests use in-process (`Control`) and the same
//! operations over HTTP under `/_sim/` (never on HubSpot's paths).

mod api;
mod changes;
pub(crate) mod http;

pub use api::Control;
pub(crate) use api::create_portal_locked as api_create_portal;

use crate::setup::PortalId;
use crate::state::World;

/// Removes the public app from a portal: its tokens die, its webhooks stop.
pub(crate) fn uninstall_locked(w: &mut World, portal: PortalId) {
    if let Some(p) = w.portals.get_mut(&portal) {
        p.installed = false;
        p.pending.clear();
    }
    w.access_tokens.retain(|_, t| t.portal != portal);
    w.refresh_tokens.retain(|_, t| t.portal != portal);
    w.app_retries.retain(|b| b.portal != portal);
}

//! `Control`'s changes to records, made as a HubSpot user (or HubSpot itself) makes them: they
//! fire webhooks with `changeSource: CRM_UI`, and may set read-only properties.

use std::collections::BTreeMap;

use super::Control;
use crate::generator::{self, TrafficOptions, TrafficSummary};
use crate::state::{Change, ChangeSource, PortalId, World};

impl Control {
    fn apply(
        &self,
        portal: PortalId,
        f: impl FnOnce(&mut World, i64) -> Option<(Vec<Change>, ChangeSource)>,
    ) {
        let now = self.now();
        let mut w = self.shared.world();
        if let Some((changes, src)) = f(&mut w, now) {
            w.emit(portal, changes, &src, now);
        }
    }

    /// Creates a contact as a user in the UI would; returns its id.
    pub fn create_contact(&self, portal: PortalId, props: BTreeMap<String, String>) -> Option<u64> {
        let mut out = None;
        self.apply(portal, |w, now| {
            let id = w.next_object_id();
            let p = w.portals.get_mut(&portal)?;
            let values = p.validate(&props, true).ok()?;
            let (id, changes) = p.create_contact(id, values, now).ok()?;
            out = Some(id);
            Some((changes, ChangeSource::ui(p.user_id)))
        });
        out
    }

    /// Sets property values as a user in the UI would (read-only ones too, as HubSpot
    /// itself does). False if the contact or a value is invalid.
    pub fn set_properties(
        &self,
        portal: PortalId,
        id: u64,
        props: BTreeMap<String, String>,
    ) -> bool {
        let mut ok = false;
        self.apply(portal, |w, now| {
            let p = w.portals.get_mut(&portal)?;
            let id = p.resolve(id, true)?;
            let values = p.validate(&props, true).ok()?;
            let changes = p.update_contact(id, values, now).ok()?;
            ok = true;
            Some((changes, ChangeSource::ui(p.user_id)))
        });
        ok
    }

    /// Archives (deletes) a contact.
    pub fn delete_contact(&self, portal: PortalId, id: u64) {
        self.apply(portal, |w, now| {
            let p = w.portals.get_mut(&portal)?;
            Some((p.archive_contact(id, now), ChangeSource::ui(p.user_id)))
        });
    }

    /// Restores an archived contact.
    pub fn restore_contact(&self, portal: PortalId, id: u64) {
        self.apply(portal, |w, now| {
            let p = w.portals.get_mut(&portal)?;
            Some((p.restore_contact(id, now), ChangeSource::ui(p.user_id)))
        });
    }

    /// GDPR-deletes a contact: `privacyDeletion` and `deletion` both fire.
    pub fn privacy_delete(&self, portal: PortalId, id: u64) {
        self.apply(portal, |w, now| {
            let p = w.portals.get_mut(&portal)?;
            Some((p.privacy_delete(id, now), ChangeSource::ui(p.user_id)))
        });
    }

    /// Merges `secondary` into `primary`; returns the **new** id the merge creates.
    pub fn merge_contacts(&self, portal: PortalId, primary: u64, secondary: u64) -> Option<u64> {
        let mut out = None;
        self.apply(portal, |w, now| {
            let new_id = w.next_object_id();
            let p = w.portals.get_mut(&portal)?;
            let changes = p.merge_contacts(primary, secondary, new_id, now)?;
            out = Some(new_id);
            Some((changes, ChangeSource::ui(p.user_id)))
        });
        out
    }

    /// Associates (or dissociates) a contact with a company: two events, as HubSpot sends
    /// for a primary association (docs/hubspot.md A.2).
    pub fn associate(&self, portal: PortalId, contact: u64, company: u64, removed: bool) {
        self.apply(portal, |w, _| {
            let p = w.portals.get(&portal)?;
            let changes = vec![
                Change::Association {
                    from: contact,
                    to: company,
                    kind: "CONTACT_TO_COMPANY".into(),
                    removed,
                    primary: true,
                },
                Change::Association {
                    from: contact,
                    to: company,
                    kind: "CONTACT_TO_COMPANY".into(),
                    removed,
                    primary: false,
                },
            ];
            Some((changes, ChangeSource::ui(p.user_id)))
        });
    }

    /// Generates `n` engagement events (deterministic from the seed), spaced `spacing_ms`
    /// apart and ending now.
    pub fn generate_traffic(
        &self,
        portal: PortalId,
        n: usize,
        opts: TrafficOptions,
    ) -> TrafficSummary {
        let now = self.now();
        let start = now - (n.saturating_sub(1) as i64) * opts.spacing_ms;
        generator::traffic(&mut self.shared.world(), portal, n, &opts, start)
    }
}

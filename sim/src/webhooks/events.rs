//! Turns record changes into webhook events for the app's active subscriptions, queued per
//! portal (docs/hubspot.md A.2, A.3).

use ember_hubspot::wire::webhook::WebhookEvent;

use crate::state::{Change, ChangeSource, PortalId, World};

fn event(
    w: &World,
    portal: PortalId,
    sub_id: u64,
    kind: &str,
    now_ms: i64,
    src: &ChangeSource,
) -> WebhookEvent {
    WebhookEvent {
        event_id: 0,
        subscription_id: sub_id,
        portal_id: portal,
        app_id: w.app.app_id,
        occurred_at: now_ms,
        subscription_type: kind.into(),
        attempt_number: 0,
        object_id: None,
        property_name: None,
        property_value: None,
        change_source: Some(src.source.into()),
        source_id: src.source_id.clone(),
        change_flag: None,
        primary_object_id: None,
        merged_object_ids: None,
        new_object_id: None,
        number_of_properties_moved: None,
        association_type: None,
        from_object_id: None,
        to_object_id: None,
        association_removed: None,
        is_primary_association: None,
        object_type_id: None,
    }
}

impl World {
    /// Queues the events these changes produce. Nothing is queued for a portal without the
    /// app installed, nor for the app's own writes when `echo_app_writes` is off.
    pub(crate) fn emit(
        &mut self,
        portal: PortalId,
        changes: Vec<Change>,
        src: &ChangeSource,
        now_ms: i64,
    ) {
        if changes.is_empty() || (src.by_app && !self.echo_app_writes) {
            return;
        }
        if !self.portals.get(&portal).is_some_and(|p| p.installed) {
            return;
        }
        let mut out = Vec::new();
        for change in changes {
            let (kind, prop) = match &change {
                Change::Created(_) => ("contact.creation", None),
                Change::Property { name, .. } => ("contact.propertyChange", Some(name.as_str())),
                Change::Deleted(_) => ("contact.deletion", None),
                Change::Restored(_) => ("contact.restore", None),
                Change::PrivacyDeleted(_) => ("contact.privacyDeletion", None),
                Change::Merged { .. } => ("contact.merge", None),
                Change::Association { .. } => ("contact.associationChange", None),
            };
            let subs: Vec<u64> = self
                .subscriptions
                .iter()
                .filter(|s| {
                    s.active
                        && s.event_type == kind
                        && (prop.is_none() || s.property_name.as_deref() == prop)
                })
                .map(|s| s.id)
                .collect();
            for sub in subs {
                let mut e = event(self, portal, sub, kind, now_ms, src);
                match &change {
                    Change::Created(id) => {
                        e.object_id = Some(*id);
                        e.change_flag = Some("CREATED".into());
                    }
                    Change::Property { id, name, value } => {
                        e.object_id = Some(*id);
                        e.property_name = Some(name.clone());
                        e.property_value = Some(value.clone());
                    }
                    Change::Deleted(id) => {
                        e.object_id = Some(*id);
                        e.change_flag = Some("DELETED".into());
                    }
                    Change::Restored(id) | Change::PrivacyDeleted(id) => e.object_id = Some(*id),
                    Change::Merged {
                        primary,
                        merged,
                        new_id,
                        moved,
                    } => {
                        e.object_id = Some(*new_id);
                        e.primary_object_id = Some(*primary);
                        e.merged_object_ids = Some(merged.clone());
                        e.new_object_id = Some(*new_id);
                        e.number_of_properties_moved = Some(*moved);
                    }
                    Change::Association {
                        from,
                        to,
                        kind,
                        removed,
                        primary,
                    } => {
                        e.from_object_id = Some(*from);
                        e.to_object_id = Some(*to);
                        e.association_type = Some(kind.clone());
                        e.association_removed = Some(*removed);
                        e.is_primary_association = Some(*primary);
                    }
                }
                e.event_id = self.next_event_id;
                self.next_event_id += 1;
                out.push(e);
            }
        }
        if let Some(p) = self.portals.get_mut(&portal) {
            p.pending.extend(out);
        }
    }
}

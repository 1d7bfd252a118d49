//! The in-memory effect of events on the contacts they touch: pure, no I/O.
//!
//! [`consumers::process`](crate::consumers::process) loads the rows of every contact a message
//! touches (under their locks), applies the message's new events here in message order, then
//! asks [`WorkingSet::finish`] what to write. Every rule is order-independent, so concurrent
//! workers and redeliveries converge on the same state:
//! - properties: last writer wins by (occurredAt, value) — a late arrival cannot regress a value,
//!   and equal times are settled by the value, not by arrival;
//! - status: the deletion or restore with the later (occurredAt, deletion-wins-ties) wins;
//! - ledger: a set of (rule, occurredAt), kept sorted; scoring is order-independent over it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use ember_core::domain::{ObjectId, ObjectKind, QueuedEvent, SubscriptionAction};
use ember_core::scoring::{EngagementSignal, Ledger, SignalKind, Snapshot};
use ember_core::store::contacts::{ContactRecord, ContactStatus, PropertyValue, StoredProperties};
use ember_core::store::outbox::OutboxRow;

use crate::model::PortalModel;

/// What one event does to contacts.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A property changed (app `propertyChange`).
    Property {
        contact: ObjectId,
        name: String,
        value: String,
        at: DateTime<Utc>,
    },
    /// The contact was created.
    Creation { contact: ObjectId },
    /// The contact was deleted: its score is retired.
    Deletion {
        contact: ObjectId,
        at: DateTime<Utc>,
    },
    /// The contact was restored: its score revives.
    Restore {
        contact: ObjectId,
        at: DateTime<Utc>,
    },
    /// `others` were merged into `survivor`.
    Merge {
        survivor: ObjectId,
        others: Vec<ObjectId>,
    },
    /// GDPR deletion: erase everything about the contact.
    PrivacyDeletion { contact: ObjectId },
    /// A workflow webhook: an engagement signal plus property values.
    Workflow {
        contact: ObjectId,
        workflow_id: u64,
        event: Option<String>,
        properties: Vec<(String, String)>,
        at: DateTime<Utc>,
    },
    /// Not about contacts, or nothing Ember scores on (label for metrics).
    Ignored(&'static str),
}

impl Effect {
    /// Classifies a queued event.
    pub fn of(event: &QueuedEvent, received_at: DateTime<Utc>) -> Effect {
        match event {
            QueuedEvent::Workflow(w) => Effect::Workflow {
                contact: w.object_id,
                workflow_id: w.workflow_id.get() as u64,
                event: w.event_name.clone(),
                properties: w
                    .properties
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                at: event.occurred_at(received_at),
            },
            QueuedEvent::App(e) => {
                let t = &e.subscription_type;
                let is_contact = match t.object_kind() {
                    ObjectKind::Contact => true,
                    // Generic subscriptions: `object.*` with the contact type id.
                    ObjectKind::Other => {
                        t.as_str().starts_with("object.")
                            && e.object_type_id.as_deref() == Some("0-1")
                    }
                    _ => false,
                };
                if !is_contact {
                    return Effect::Ignored("not_a_contact");
                }
                let at = e.occurred_at;
                if t.action() == SubscriptionAction::Merge {
                    let Some(m) = &e.merge else {
                        return Effect::Ignored("merge_without_ids");
                    };
                    let survivor = m.new_object_id.unwrap_or(m.primary_object_id);
                    let mut others: Vec<ObjectId> = std::iter::once(m.primary_object_id)
                        .chain(m.merged_object_ids.iter().copied())
                        .collect();
                    others.retain(|o| *o != survivor);
                    return Effect::Merge { survivor, others };
                }
                let Some(contact) = e.object_id else {
                    return Effect::Ignored("no_object_id");
                };
                match t.action() {
                    SubscriptionAction::PropertyChange => match &e.property {
                        Some(p) => Effect::Property {
                            contact,
                            name: p.name.as_str().to_owned(),
                            value: p.value.clone(),
                            at,
                        },
                        None => Effect::Ignored("property_change_without_property"),
                    },
                    SubscriptionAction::Creation => Effect::Creation { contact },
                    SubscriptionAction::Deletion => Effect::Deletion { contact, at },
                    SubscriptionAction::Restore => Effect::Restore { contact, at },
                    SubscriptionAction::PrivacyDeletion => Effect::PrivacyDeletion { contact },
                    SubscriptionAction::AssociationChange => Effect::Ignored("association"),
                    _ => Effect::Ignored("unknown_type"),
                }
            }
        }
    }

    /// Every contact id the effect names (before alias resolution).
    pub fn contacts(&self, out: &mut Vec<ObjectId>) {
        match self {
            Effect::Property { contact, .. }
            | Effect::Creation { contact }
            | Effect::Deletion { contact, .. }
            | Effect::Restore { contact, .. }
            | Effect::PrivacyDeletion { contact }
            | Effect::Workflow { contact, .. } => out.push(*contact),
            Effect::Merge { survivor, others } => {
                out.push(*survivor);
                out.extend(others.iter().copied());
            }
            Effect::Ignored(_) => {}
        }
    }
}

/// Sets a property unless the stored value is newer: last writer wins by (time, value).
pub fn lww_set(props: &mut StoredProperties, name: &str, value: &str, at_ms: i64) -> bool {
    match props.get_mut(name) {
        Some(cur) if (cur.t, cur.v.as_str()) >= (at_ms, value) => false,
        Some(cur) => {
            cur.t = at_ms;
            value.clone_into(&mut cur.v);
            true
        }
        None => {
            props.insert(
                name.to_owned(),
                PropertyValue {
                    v: value.to_owned(),
                    t: at_ms,
                },
            );
            true
        }
    }
}

fn status_rank(s: ContactStatus) -> u8 {
    match s {
        ContactStatus::Active => 0,
        ContactStatus::Deleted => 1,
    }
}

struct Slot {
    record: ContactRecord,
    touched: bool,
    /// Write the score even if unchanged (a restored contact's values may be gone in HubSpot).
    force: bool,
}

/// The contacts one transaction works on, and what happened to them.
#[derive(Default)]
pub struct WorkingSet {
    slots: BTreeMap<ObjectId, Slot>,
    aliases: HashMap<ObjectId, ObjectId>,
    erased: HashSet<ObjectId>,
    /// Rows that existed before this transaction.
    stored: HashSet<ObjectId>,
    merged_away: Vec<ObjectId>,
    merges: Vec<(Vec<ObjectId>, ObjectId)>,
    erasures: Vec<ObjectId>,
}

/// What a transaction must write after [`WorkingSet::finish`].
#[derive(Debug, Default)]
pub struct Changes {
    pub save: Vec<ContactRecord>,
    pub outbox: Vec<OutboxRow>,
    /// Contacts whose pending write must go (retired, merged away, erased).
    pub outbox_delete: Vec<ObjectId>,
    pub context: Vec<ObjectId>,
    /// Rows to delete (merged away).
    pub delete: Vec<ObjectId>,
    /// (old ids, survivor) per merge, in order.
    pub merges: Vec<(Vec<ObjectId>, ObjectId)>,
    /// Contacts to erase (privacy deletion).
    pub erasures: Vec<ObjectId>,
}

impl WorkingSet {
    /// A working set over loaded rows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a loaded contact row.
    pub fn add_record(&mut self, record: ContactRecord) {
        self.stored.insert(record.contact_id);
        self.slots.insert(
            record.contact_id,
            Slot {
                record,
                touched: false,
                force: false,
            },
        );
    }

    /// Records that `old` resolves to `current`.
    pub fn add_alias(&mut self, old: ObjectId, current: ObjectId) {
        self.aliases.insert(old, current);
    }

    /// Records that a contact was privacy-deleted.
    pub fn add_erased(&mut self, id: ObjectId) {
        self.erased.insert(id);
    }

    /// The id this one resolves to now.
    pub fn resolve(&self, id: ObjectId) -> ObjectId {
        self.aliases.get(&id).copied().unwrap_or(id)
    }

    fn slot(&mut self, id: ObjectId) -> &mut Slot {
        self.slots.entry(id).or_insert_with(|| Slot {
            record: ContactRecord::new(id),
            touched: false,
            force: false,
        })
    }

    fn live(&self, raw: ObjectId) -> Option<ObjectId> {
        let id = self.resolve(raw);
        (!self.erased.contains(&id) && !self.erased.contains(&raw)).then_some(id)
    }

    fn add_signal(slot: &mut Slot, model: &PortalModel, kind: SignalKind, at: DateTime<Utc>) {
        let signal = EngagementSignal {
            kind,
            occurred_at: at,
        };
        for rule in model.compiled.matching_rules(&signal) {
            slot.record
                .ledger
                .push((rule.as_str().to_owned(), at.timestamp_millis()));
        }
    }

    /// Applies one effect. Returns false when it was skipped (erased contact, ignored type).
    pub fn apply(&mut self, effect: Effect, model: &PortalModel) -> bool {
        match effect {
            Effect::Ignored(_) => false,
            Effect::Property {
                contact,
                name,
                value,
                at,
            } => {
                let Some(id) = self.live(contact) else {
                    return false;
                };
                let slot = self.slot(id);
                slot.touched = true;
                lww_set(
                    &mut slot.record.properties,
                    &name,
                    &value,
                    at.timestamp_millis(),
                );
                Self::add_signal(
                    slot,
                    model,
                    SignalKind::PropertyChange {
                        property: name,
                        value,
                    },
                    at,
                );
                true
            }
            Effect::Workflow {
                contact,
                workflow_id,
                event,
                properties,
                at,
            } => {
                let Some(id) = self.live(contact) else {
                    return false;
                };
                let slot = self.slot(id);
                slot.touched = true;
                for (name, value) in &properties {
                    // A workflow body can carry every property of the record: keep the ones scored.
                    if model.reads(name) {
                        lww_set(
                            &mut slot.record.properties,
                            name,
                            value,
                            at.timestamp_millis(),
                        );
                    }
                }
                if let Some(name) = &event {
                    Self::add_signal(
                        slot,
                        model,
                        SignalKind::External {
                            event_type: name.clone(),
                        },
                        at,
                    );
                }
                Self::add_signal(slot, model, SignalKind::Workflow { workflow_id, event }, at);
                true
            }
            Effect::Creation { contact } => {
                let Some(id) = self.live(contact) else {
                    return false;
                };
                self.slot(id).touched = true;
                true
            }
            Effect::Deletion { contact, at } => {
                self.set_status(contact, ContactStatus::Deleted, at)
            }
            Effect::Restore { contact, at } => self.set_status(contact, ContactStatus::Active, at),
            Effect::Merge { survivor, others } => self.merge(survivor, others),
            Effect::PrivacyDeletion { contact } => {
                let id = self.resolve(contact);
                for e in [id, contact] {
                    self.erased.insert(e);
                    if let Some(slot) = self.slots.remove(&e) {
                        self.stored.remove(&slot.record.contact_id);
                    }
                    if !self.erasures.contains(&e) {
                        self.erasures.push(e);
                    }
                }
                true
            }
        }
    }

    /// Sets a value HubSpot reported for a contact (the resync's list pages) by the same
    /// last-writer-wins rule as a live change ([`lww_set`]), so a value older than the stored
    /// one is ignored. Unlike [`Effect::Property`] it adds no engagement signal: a value read
    /// back is not a change that happened now. Returns false for an erased contact.
    pub fn set_reported(
        &mut self,
        contact: ObjectId,
        name: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> bool {
        let Some(id) = self.live(contact) else {
            return false;
        };
        let slot = self.slot(id);
        slot.touched = true;
        lww_set(
            &mut slot.record.properties,
            name,
            value,
            at.timestamp_millis(),
        );
        true
    }

    fn set_status(&mut self, contact: ObjectId, to: ContactStatus, at: DateTime<Utc>) -> bool {
        let Some(id) = self.live(contact) else {
            return false;
        };
        let slot = self.slot(id);
        slot.touched = true;
        let r = &mut slot.record;
        let current = (
            r.status_at.map_or(i64::MIN, |t| t.timestamp_millis()),
            status_rank(r.status),
        );
        if (at.timestamp_millis(), status_rank(to)) > current {
            if r.status == ContactStatus::Deleted && to == ContactStatus::Active {
                slot.force = true;
            }
            r.status = to;
            r.status_at = Some(at);
        }
        true
    }

    fn merge(&mut self, survivor: ObjectId, others: Vec<ObjectId>) -> bool {
        let Some(survivor) = self.live(survivor) else {
            return false;
        };
        let mut moved = Vec::new();
        for other in others {
            let other = self.resolve(other);
            if other == survivor || moved.contains(&other) {
                continue;
            }
            moved.push(other);
            if let Some(from) = self.slots.remove(&other) {
                let into = &mut self.slot(survivor).record;
                for (name, pv) in &from.record.properties {
                    lww_set(&mut into.properties, name, &pv.v, pv.t);
                }
                into.ledger.extend(from.record.ledger);
                into.score_version = into.score_version.max(from.record.score_version);
                if self.stored.remove(&other) {
                    self.merged_away.push(other);
                }
            }
            for current in self.aliases.values_mut() {
                if *current == other {
                    *current = survivor;
                }
            }
            self.aliases.insert(other, survivor);
        }
        self.aliases.remove(&survivor);
        self.slot(survivor).touched = true;
        if !moved.is_empty() {
            self.merges.push((moved, survivor));
        }
        true
    }

    /// Scores every touched contact at `now` and says what to write.
    pub fn finish(self, model: &PortalModel, now: DateTime<Utc>) -> Changes {
        let mut changes = Changes {
            delete: self.merged_away,
            merges: self.merges,
            erasures: self.erasures,
            ..Changes::default()
        };
        changes.outbox_delete.extend(changes.delete.iter().copied());
        changes.context.clear();
        for (_, slot) in self.slots {
            if !slot.touched {
                continue;
            }
            let mut record = slot.record;
            match rescore(&mut record, model, now, slot.force) {
                Rescored::Write(row) => changes.outbox.push(row),
                Rescored::Retired => changes.outbox_delete.push(record.contact_id),
                Rescored::Unchanged => {}
            }
            if record.status == ContactStatus::Active && lacks_context(&record, model) {
                changes.context.push(record.contact_id);
            }
            changes.save.push(record);
        }
        // Merged-away ids are in `delete`: their requests go with them.
        changes
    }
}

/// Whether the snapshot lacks a property the model reads. A fetched property HubSpot has no
/// value for is stored as "" and counts as known.
pub fn lacks_context(record: &ContactRecord, model: &PortalModel) -> bool {
    model
        .properties
        .iter()
        .any(|p| !record.properties.contains_key(p))
}

/// What rescoring one contact produced.
#[derive(Debug, PartialEq)]
pub enum Rescored {
    /// The values to write changed (or a write was forced): the outbox row.
    Write(OutboxRow),
    /// Same values as before.
    Unchanged,
    /// The contact is deleted: no score, no pending write.
    Retired,
}

/// Rescores a contact at `now` with `model`, updating its score columns.
pub fn rescore(
    record: &mut ContactRecord,
    model: &PortalModel,
    now: DateTime<Utc>,
    force: bool,
) -> Rescored {
    sort_ledger(&mut record.ledger);
    if record.status == ContactStatus::Deleted {
        record.next_change_at = None;
        return Rescored::Retired;
    }
    let snapshot: Snapshot = record
        .properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.v.as_str()))
        .collect();
    let ledger = Ledger::from_stored(&record.ledger);
    let scored = model.compiled.score(&snapshot, &ledger, now);
    let values = scored.hubspot_values(&model.compiled);
    record.next_change_at = model.compiled.next_change_at(&snapshot, &ledger, now);
    record.model_version = Some(model.version);
    record.scored_at = Some(now);
    record.score_total = Some(i32::try_from(scored.rounded_total()).unwrap_or(i32::MAX));
    let changed = record.score_values.as_ref() != Some(&values);
    record.score_values = Some(values);
    if changed || force {
        record.score_version += 1;
        Rescored::Write(OutboxRow {
            contact_id: record.contact_id,
            properties: record.score_values.clone().unwrap_or_default(),
            version: record.score_version,
        })
    } else {
        Rescored::Unchanged
    }
}

/// Sorts a stored ledger by (rule, time), the ledger's own order.
pub fn sort_ledger(ledger: &mut [(String, i64)]) {
    ledger.sort_unstable();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> ObjectId {
        ObjectId::new(n).unwrap()
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    fn model() -> PortalModel {
        PortalModel::default_model().unwrap()
    }

    fn prop(contact: i64, name: &str, value: &str, ms: i64) -> Effect {
        Effect::Property {
            contact: id(contact),
            name: name.into(),
            value: value.into(),
            at: at(ms),
        }
    }

    #[test]
    fn last_writer_wins_whatever_the_arrival_order() {
        let mut a = StoredProperties::new();
        assert!(lww_set(&mut a, "industry", "SaaS", 10));
        assert!(
            !lww_set(&mut a, "industry", "Retail", 5),
            "a late arrival cannot regress a value"
        );
        assert!(lww_set(&mut a, "industry", "Retail", 20));
        let mut b = StoredProperties::new();
        lww_set(&mut b, "industry", "Retail", 20);
        lww_set(&mut b, "industry", "SaaS", 10);
        assert_eq!(a, b);
        // Equal times: the value decides, not the arrival.
        let mut c = StoredProperties::new();
        lww_set(&mut c, "x", "a", 1);
        lww_set(&mut c, "x", "b", 1);
        let mut d = StoredProperties::new();
        lww_set(&mut d, "x", "b", 1);
        lww_set(&mut d, "x", "a", 1);
        assert_eq!(c, d);
    }

    #[test]
    fn a_property_change_updates_the_snapshot_and_matching_rules_fill_the_ledger() {
        let m = model();
        let mut ws = WorkingSet::new();
        ws.apply(
            prop(1, "recent_conversion_event_name", "Demo request", 0),
            &m,
        );
        ws.apply(prop(1, "industry", "SaaS", 0), &m);
        let changes = ws.finish(&m, at(1000));
        assert_eq!(changes.save.len(), 1);
        let r = &changes.save[0];
        assert_eq!(
            r.ledger,
            vec![("demo_request".to_string(), at(0).timestamp_millis())]
        );
        assert_eq!(r.properties["industry"].v, "SaaS");
        assert_eq!(changes.outbox.len(), 1, "a new contact's score is written");
        assert_eq!(changes.outbox[0].version, 1);
        assert_eq!(r.score_values.as_ref().unwrap()["ember_score"], "50");
        assert_eq!(
            changes.context,
            vec![id(1)],
            "email, jobtitle... are missing"
        );
    }

    #[test]
    fn deletion_retires_and_restore_revives_by_occurred_at() {
        let m = model();
        let mut ws = WorkingSet::new();
        ws.apply(prop(1, "industry", "SaaS", 0), &m);
        ws.apply(
            Effect::Deletion {
                contact: id(1),
                at: at(10),
            },
            &m,
        );
        let changes = ws.finish(&m, at(20));
        assert_eq!(changes.save[0].status, ContactStatus::Deleted);
        assert!(changes.outbox.is_empty());
        assert_eq!(changes.outbox_delete, vec![id(1)]);

        let mut ws = WorkingSet::new();
        ws.add_record(changes.save[0].clone());
        ws.apply(
            Effect::Restore {
                contact: id(1),
                at: at(5),
            },
            &m,
        );
        let stale = ws.finish(&m, at(20));
        assert_eq!(
            stale.save[0].status,
            ContactStatus::Deleted,
            "a restore older than the deletion loses"
        );

        let mut ws = WorkingSet::new();
        ws.add_record(stale.save[0].clone());
        ws.apply(
            Effect::Restore {
                contact: id(1),
                at: at(30),
            },
            &m,
        );
        let revived = ws.finish(&m, at(40));
        assert_eq!(revived.save[0].status, ContactStatus::Active);
        assert_eq!(
            revived.outbox.len(),
            1,
            "a restored contact's score is written again"
        );
    }

    #[test]
    fn merge_moves_snapshots_and_ledgers_to_the_survivor() {
        let m = model();
        let mut ws = WorkingSet::new();
        let mut a = ContactRecord::new(id(1));
        lww_set(&mut a.properties, "industry", "SaaS", 5);
        a.ledger.push(("demo_request".into(), 7));
        a.score_version = 4;
        ws.add_record(a);
        let mut b = ContactRecord::new(id(2));
        lww_set(&mut b.properties, "industry", "Retail", 3);
        lww_set(&mut b.properties, "jobtitle", "CEO", 3);
        b.ledger.push(("demo_request".into(), 9));
        ws.add_record(b);
        ws.apply(
            Effect::Merge {
                survivor: id(3),
                others: vec![id(1), id(2)],
            },
            &m,
        );
        // A late event for an old id lands on the survivor.
        ws.apply(prop(1, "phone", "123", 1), &m);
        let changes = ws.finish(&m, at(100));
        assert_eq!(changes.save.len(), 1);
        let s = &changes.save[0];
        assert_eq!(s.contact_id, id(3));
        assert_eq!(s.properties["industry"].v, "SaaS");
        assert_eq!(s.properties["jobtitle"].v, "CEO");
        assert_eq!(s.properties["phone"].v, "123");
        assert_eq!(s.ledger.len(), 2);
        assert_eq!(s.score_version, 5, "versions never go back");
        assert_eq!(changes.delete, vec![id(1), id(2)]);
        assert_eq!(changes.merges, vec![(vec![id(1), id(2)], id(3))]);
    }

    #[test]
    fn privacy_deletion_erases_and_later_events_are_skipped() {
        let m = model();
        let mut ws = WorkingSet::new();
        ws.add_record(ContactRecord::new(id(1)));
        assert!(ws.apply(Effect::PrivacyDeletion { contact: id(1) }, &m));
        assert!(!ws.apply(prop(1, "industry", "SaaS", 0), &m));
        assert!(!ws.apply(
            Effect::Deletion {
                contact: id(1),
                at: at(0)
            },
            &m
        ));
        let changes = ws.finish(&m, at(1));
        assert!(changes.save.is_empty());
        assert_eq!(changes.erasures, vec![id(1)]);
    }

    #[test]
    fn non_contact_events_are_ignored() {
        let m = model();
        let mut ws = WorkingSet::new();
        assert!(!ws.apply(Effect::Ignored("not_a_contact"), &m));
        assert!(ws.finish(&m, at(0)).save.is_empty());
    }
}

//! What search sees: HubSpot indexes a write a short while after it lands, so a search right
//! after a write still finds the record as it was (docs/hubspot.md E.5). The index keeps, for
//! each record with writes not yet indexed, the version search still sees, and applies the
//! writes in order once `delay_ms` of sim time has passed. With a delay of 0 search sees every
//! write at once.

use std::collections::{HashMap, VecDeque};

use super::{Contact, Portal};

/// The not-yet-indexed writes of one portal.
#[derive(Debug, Default)]
pub(crate) struct SearchIndex {
    /// Sim time a write waits before search sees it.
    pub(crate) delay_ms: i64,
    /// Record id → the version search sees now (`None`: not visible at all).
    stale: HashMap<u64, Option<Contact>>,
    /// Writes in the order they happened: (when, record id, the version after the write).
    pending: VecDeque<(i64, u64, Option<Contact>)>,
    /// Record id → how many of its writes are pending.
    waiting: HashMap<u64, usize>,
}

impl SearchIndex {
    pub(crate) fn new(delay_ms: i64) -> Self {
        Self {
            delay_ms,
            ..Self::default()
        }
    }

    /// Records a write of `id` at `at_ms`: `before` is what search saw until now, `after` the
    /// record as written (`None` when it is gone).
    fn note(&mut self, id: u64, before: Option<Contact>, after: Option<Contact>, at_ms: i64) {
        self.stale.entry(id).or_insert(before);
        *self.waiting.entry(id).or_default() += 1;
        self.pending.push_back((at_ms, id, after));
        self.apply_due(at_ms);
    }

    /// Indexes every write at least `delay_ms` old.
    pub(crate) fn apply_due(&mut self, now_ms: i64) {
        while self
            .pending
            .front()
            .is_some_and(|(at, _, _)| at.saturating_add(self.delay_ms) <= now_ms)
        {
            let Some((_, id, after)) = self.pending.pop_front() else {
                break;
            };
            let left = self.waiting.get_mut(&id).map(|n| {
                *n -= 1;
                *n
            });
            if left == Some(0) || left.is_none() {
                self.waiting.remove(&id);
                self.stale.remove(&id);
            } else {
                self.stale.insert(id, after);
            }
        }
    }

    /// Nothing waits and nothing will: a write is indexed as it lands.
    pub(crate) fn is_immediate(&self) -> bool {
        self.delay_ms == 0 && self.pending.is_empty()
    }

    /// Forgets pending writes: everything is indexed (generated history, a delay set to 0).
    pub(crate) fn settle(&mut self) {
        self.stale.clear();
        self.pending.clear();
        self.waiting.clear();
    }
}

impl Portal {
    /// The record as search sees it before a write (`None` when nothing needs remembering).
    pub(crate) fn index_before(&self, id: u64) -> Option<Contact> {
        if self.search_index.is_immediate() {
            return None;
        }
        match self.search_index.stale.get(&id) {
            Some(seen) => seen.clone(),
            None => self.contacts.get(&id).cloned(),
        }
    }

    /// Notes a write of `id` for search: `before` is what [`Portal::index_before`] gave.
    pub(crate) fn index_write(&mut self, id: u64, before: Option<Contact>, now_ms: i64) {
        if self.search_index.is_immediate() {
            return;
        }
        let after = self.contacts.get(&id).cloned();
        self.search_index.note(id, before, after, now_ms);
    }

    /// The records search sees (archived ones included; callers filter). Call
    /// `search_index.apply_due` first.
    pub(crate) fn searchable(&self) -> Vec<&Contact> {
        let index = &self.search_index;
        let mut out: Vec<&Contact> = self
            .contacts
            .values()
            .filter(|c| !index.stale.contains_key(&c.id))
            .collect();
        out.extend(index.stale.values().flatten());
        out.sort_by_key(|c| c.id);
        out
    }
}

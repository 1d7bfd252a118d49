//! Every HubSpot-path call the simulator answered: endpoint, portal, status, time and, for a
//! 429, its policy. Tests assert on it, so it is exact and ordered.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::setup::PortalId;

/// One answered call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// Sequence number, from 0.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Route template, e.g. `/crm/v3/objects/contacts/batch/update`.
    pub endpoint: String,
    /// The path as requested.
    pub path: String,
    /// The portal, once the token identified it.
    pub portal: Option<PortalId>,
    /// Status sent; 0 when the connection was reset instead.
    pub status: u16,
    /// Simulator time, epoch ms.
    pub at_ms: i64,
    /// `policyName` of a 429.
    pub policy: Option<String>,
}

/// The bounded log.
#[derive(Debug)]
pub(crate) struct CallLog {
    records: VecDeque<CallRecord>,
    capacity: usize,
    next_seq: u64,
    by_policy: BTreeMap<(Option<PortalId>, String), u64>,
}

impl CallLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            records: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 0,
            by_policy: BTreeMap::new(),
        }
    }

    pub(crate) fn push(&mut self, mut r: CallRecord) {
        r.seq = self.next_seq;
        self.next_seq += 1;
        if let Some(p) = &r.policy {
            *self.by_policy.entry((r.portal, p.clone())).or_default() += 1;
        }
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(r);
    }

    pub(crate) fn records(&self) -> impl Iterator<Item = &CallRecord> {
        self.records.iter()
    }

    /// 429s by policy, for one portal or all.
    pub(crate) fn by_policy(&self, portal: Option<PortalId>) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((p, policy), n) in &self.by_policy {
            if portal.is_none() || *p == portal {
                *out.entry(policy.clone()).or_default() += n;
            }
        }
        out
    }

    pub(crate) fn total(&self) -> u64 {
        self.next_seq
    }

    pub(crate) fn clear(&mut self) {
        self.records.clear();
        self.by_policy.clear();
    }
}

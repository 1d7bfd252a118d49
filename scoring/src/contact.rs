//! What scoring reads about one contact: its property snapshot and its engagement ledger, and
//! the signals from which the worker builds ledger entries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::model::{RuleId, TextValue};
use super::text::{eq_bytes, name_key, name_tail_key};

/// A contact's scoring properties: name → value as HubSpot gives it (always a string).
///
/// Kept sorted by name, with every name and value in one contiguous buffer, so the compiled
/// model binds it to its property slots in one merge pass that reads a few adjacent cache lines
/// and never hashes. Serialized as a JSON object; numbers and booleans are read as their text
/// and `null` as an absent property.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(into = "BTreeMap<String, String>")]
pub struct Snapshot {
    /// Names and values back to back, in name order.
    text: String,
    /// One per property, sorted by name.
    props: Vec<PropSpan>,
}

/// Where one property sits in [`Snapshot::text`], with the [`name_key`] of its name and where
/// its value sits once trimmed, which scoring reads (computed once here rather than for every
/// score of the contact).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PropSpan {
    pub(crate) key: u64,
    /// [`name_tail_key`] of the name.
    tail_key: u64,
    // u32 offsets keep a span in 40 bytes: scoring reads them for every contact.
    start: u32,
    name_end: u32,
    end: u32,
    trimmed_start: u32,
    trimmed_end: u32,
    /// Whether the value without its surrounding ASCII white space is ASCII; when it is, the
    /// trimmed value has no surrounding ASCII white space, otherwise no Unicode white space.
    pub(crate) ascii: bool,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    fn from_sorted<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut snap = Self::default();
        let offset = |text: &String| u32::try_from(text.len()).unwrap_or(u32::MAX);
        for (name, value) in pairs {
            let start = offset(&snap.text);
            snap.text.push_str(name);
            let name_end = offset(&snap.text);
            snap.text.push_str(value);
            let (ascii, lead, trimmed) = trim_value(value);
            let trimmed_start = name_end.saturating_add(offset_of(lead));
            snap.props.push(PropSpan {
                key: name_key(name),
                tail_key: name_tail_key(name),
                start,
                name_end,
                end: offset(&snap.text),
                trimmed_start,
                trimmed_end: trimmed_start.saturating_add(offset_of(trimmed)),
                ascii,
            });
        }
        snap
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.props.binary_search_by(|p| self.name_of(p).cmp(name))
    }

    /// Sets a property (replacing any previous value).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        let mut pairs: Vec<(&str, &str)> = self.iter().collect();
        match self.position(&name) {
            Ok(i) => pairs[i].1 = &value,
            Err(i) => pairs.insert(i, (&name, &value)),
        }
        *self = Self::from_sorted(pairs.into_iter());
    }

    /// Removes a property.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.position(name).ok()?;
        let removed = self.value_of(&self.props[i]).to_owned();
        let rest = self
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, p)| p);
        *self = Self::from_sorted(rest.collect::<Vec<_>>().into_iter());
        Some(removed)
    }

    /// A property's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        let i = self.position(name).ok()?;
        Some(self.value_of(&self.props[i]))
    }

    /// The properties, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.props
            .iter()
            .map(|p| (self.name_of(p), self.value_of(p)))
    }

    /// How many properties it holds.
    pub fn len(&self) -> usize {
        self.props.len()
    }

    /// Whether it holds no property.
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    /// The properties' spans, sorted by name (hence by key).
    pub(crate) fn spans(&self) -> &[PropSpan] {
        &self.props
    }

    pub(crate) fn name_of(&self, p: &PropSpan) -> &str {
        self.text
            .get(p.start as usize..p.name_end as usize)
            .unwrap_or_default()
    }

    /// Whether the name of `p` is `name`, whose [`name_tail_key`] is `tail_key`, given that
    /// their [`name_key`]s are equal: the first 8 bytes are then equal, the tail keys compare
    /// the next 8, so only a name longer than 16 bytes is read.
    #[inline(always)]
    pub(crate) fn name_is(&self, p: &PropSpan, name: &str, tail_key: u64) -> bool {
        let len = p.name_end.saturating_sub(p.start) as usize;
        len == name.len() && p.tail_key == tail_key && (len <= 16 || self.name_rest_is(p, name))
    }

    /// Whether bytes 16 and on of the names of `p` and `name` are equal.
    #[inline(never)]
    fn name_rest_is(&self, p: &PropSpan, name: &str) -> bool {
        self.text
            .as_bytes()
            .get(p.start as usize + 16..p.name_end as usize)
            .is_some_and(|rest| eq_bytes(rest, name.as_bytes().get(16..).unwrap_or_default()))
    }

    pub(crate) fn value_of(&self, p: &PropSpan) -> &str {
        self.text
            .get(p.name_end as usize..p.end as usize)
            .unwrap_or_default()
    }

    /// The value of `p` without surrounding white space (see [`PropSpan::ascii`]); empty when
    /// the value is blank.
    #[inline(always)]
    pub(crate) fn trimmed_value_of(&self, p: &PropSpan) -> &str {
        self.text
            .get(p.trimmed_start as usize..p.trimmed_end as usize)
            .unwrap_or_default()
    }
}

/// Whether a value is ASCII once its surrounding ASCII white space is trimmed, the length of
/// the white space before it and the length of what is left: ASCII values lose their ASCII
/// white space, others all their Unicode white space.
fn trim_value(value: &str) -> (bool, usize, usize) {
    let ascii = value.trim_ascii().is_ascii();
    let (start, both) = if ascii {
        let start = value.trim_ascii_start();
        (start, start.trim_ascii_end())
    } else {
        let start = value.trim_ascii_start().trim_start();
        (start, start.trim_end())
    };
    (ascii, value.len() - start.len(), both.len())
}

fn offset_of(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Snapshot {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let map: BTreeMap<String, String> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_sorted(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

impl From<Snapshot> for BTreeMap<String, String> {
    fn from(s: Snapshot) -> Self {
        s.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Option<TextValue>>::deserialize(d)?;
        Ok(map
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v.0)))
            .collect())
    }
}

/// One counted-or-not occurrence of an engagement rule, as the worker stores it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The engagement rule the signal matched.
    pub rule: RuleId,
    /// When the signal happened.
    pub occurred_at: DateTime<Utc>,
}

/// A contact's engagement ledger, kept sorted by rule then time.
///
/// The order makes scoring independent of the order in which events arrived: caps and minimum
/// intervals are applied on the sorted entries. Entries of rules that the model no longer has
/// are kept (a later model version may know them) and ignored while scoring. Building a ledger
/// also precomputes each entry's time in milliseconds and where each rule's entries start, so
/// scoring reads plain integers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<LedgerEntry>", into = "Vec<LedgerEntry>")]
pub struct Ledger {
    entries: Vec<LedgerEntry>,
    /// `occurred_at` of each entry, in milliseconds since the epoch.
    times_ms: Vec<i64>,
    /// One per rule present, in id order.
    runs: Vec<Run>,
    /// The runs' rule ids back to back.
    ids: String,
}

/// The entries of one rule: `entries[start..end]`, its id at `ids[id_start..id_end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    /// [`name_key`] of the rule id.
    pub(crate) key: u64,
    // u32 offsets keep a run in 24 bytes: scoring reads them for every contact.
    id_start: u32,
    id_end: u32,
    start: u32,
    end: u32,
}

impl Run {
    /// Length of the rule id.
    #[inline(always)]
    pub(crate) fn id_len(&self) -> usize {
        self.id_end.saturating_sub(self.id_start) as usize
    }
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// A ledger as Postgres stores it (`contacts.ledger`: `[rule id, occurred at ms]` pairs);
    /// entries with an invalid rule id or time are skipped.
    pub fn from_stored(entries: &[(String, i64)]) -> Self {
        entries
            .iter()
            .filter_map(|(rule, t)| {
                Some(LedgerEntry {
                    rule: RuleId::parse(rule.as_str()).ok()?,
                    occurred_at: DateTime::from_timestamp_millis(*t)?,
                })
            })
            .collect()
    }

    /// Adds an entry in its place.
    pub fn insert(&mut self, entry: LedgerEntry) {
        let i = self.entries.partition_point(|e| e <= &entry);
        self.entries.insert(i, entry);
        self.index();
    }

    /// The entries, sorted by rule then time.
    pub fn entries(&self) -> &[LedgerEntry] {
        &self.entries
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One run per rule present, in id order.
    pub(crate) fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// The rule id of a run of this ledger.
    pub(crate) fn id_of(&self, run: &Run) -> &str {
        self.ids
            .get(run.id_start as usize..run.id_end as usize)
            .unwrap_or_default()
    }

    /// The times of a run's entries, in ms, ascending.
    #[inline(always)]
    pub(crate) fn times_of(&self, run: &Run) -> &[i64] {
        self.times_ms
            .get(run.start as usize..run.end as usize)
            .unwrap_or_default()
    }

    fn index(&mut self) {
        self.times_ms = self
            .entries
            .iter()
            .map(|e| e.occurred_at.timestamp_millis())
            .collect();
        self.runs.clear();
        self.ids.clear();
        for (start, group) in self
            .entries
            .chunk_by(|a, b| a.rule == b.rule)
            .scan(0, |at, g| {
                let start = *at;
                *at += g.len();
                Some((start, g))
            })
        {
            let id = group[0].rule.as_str();
            let offset = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            let id_start = offset(self.ids.len());
            self.ids.push_str(id);
            let (start, end) = (offset(start), offset(start + group.len()));
            self.runs.push(Run {
                key: name_key(id),
                id_start,
                id_end: offset(self.ids.len()),
                start,
                end,
            });
        }
    }
}

impl FromIterator<LedgerEntry> for Ledger {
    fn from_iter<I: IntoIterator<Item = LedgerEntry>>(iter: I) -> Self {
        let mut entries: Vec<LedgerEntry> = iter.into_iter().collect();
        entries.sort_unstable();
        let mut ledger = Self {
            entries,
            ..Self::default()
        };
        ledger.index();
        ledger
    }
}

impl From<Vec<LedgerEntry>> for Ledger {
    fn from(entries: Vec<LedgerEntry>) -> Self {
        entries.into_iter().collect()
    }
}

impl From<Ledger> for Vec<LedgerEntry> {
    fn from(l: Ledger) -> Self {
        l.entries
    }
}

/// What the worker sees happen to a contact, before it is matched to engagement rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngagementSignal {
    /// What happened.
    #[serde(flatten)]
    pub kind: SignalKind,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

/// The kinds of engagement signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SignalKind {
    /// A webhook property change.
    PropertyChange {
        /// HubSpot internal property name.
        property: String,
        /// The new value.
        value: String,
    },
    /// A workflow webhook.
    Workflow {
        /// The workflow's id.
        workflow_id: u64,
        /// The event name the webhook carries, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<String>,
    },
    /// An event from outside HubSpot (product, website, billing).
    External {
        /// Its type, e.g. `pricing_page_view`.
        event_type: String,
    },
}

/// One line of an exported-contacts file for offline scoring (`ember score`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedContact {
    /// The contact's id, echoed in the output.
    #[serde(default)]
    pub id: Option<TextValue>,
    /// Its properties.
    #[serde(default)]
    pub properties: Snapshot,
    /// Its engagement signals, in any order.
    #[serde(default)]
    pub events: Vec<EngagementSignal>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_ledger_keeps_valid_entries_in_order_and_skips_the_rest() {
        let stored = [
            ("webinar".to_owned(), 2_000),
            ("Not A Rule Id".to_owned(), 1_000),
            ("demo_request".to_owned(), 1_000),
            ("webinar".to_owned(), i64::MAX),
        ];
        let ledger = Ledger::from_stored(&stored);
        let entries: Vec<(&str, i64)> = ledger
            .entries()
            .iter()
            .map(|e| (e.rule.as_str(), e.occurred_at.timestamp_millis()))
            .collect();
        assert_eq!(entries, [("demo_request", 1_000), ("webinar", 2_000)]);
    }

    #[test]
    fn values_are_trimmed_once_when_the_snapshot_is_built() {
        let snap: Snapshot = [
            ("blank", " \t "),
            ("company", "  Acme  "),
            ("city", "\u{a0}Zürich\u{a0}"),
            ("tab", "\x0Bkept\x0B"),
            ("unicode_space", "\u{2003}"),
        ]
        .into_iter()
        .collect();
        let trimmed = |name: &str| {
            let span = snap.spans()[snap.position(name).expect("present")];
            (snap.trimmed_value_of(&span), span.ascii)
        };
        assert_eq!(trimmed("blank"), ("", true));
        assert_eq!(trimmed("company"), ("Acme", true));
        assert_eq!(trimmed("city"), ("Zürich", false));
        // ASCII values lose the white space `trim_ascii` knows, which excludes \x0B.
        assert_eq!(trimmed("tab"), ("\x0Bkept\x0B", true));
        assert_eq!(trimmed("unicode_space"), ("", false));
        // The raw value is kept as it was given.
        assert_eq!(snap.get("company"), Some("  Acme  "));
    }
}

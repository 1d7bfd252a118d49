//! The pure parts of the write-back: coalescing, changed-value diffs, classification of each
//! row of a multi-status answer, backoff with full jitter, and the fair rotation of portals.
//! No I/O here.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use ember_core::domain::{ObjectId, PortalId};
use ember_core::store::outbox::{OutboxRow, Values};
use ember_hubspot::crm::RowResult;

/// Keeps one write per contact, the one with the highest version, in first-seen order.
pub fn coalesce(rows: impl IntoIterator<Item = OutboxRow>) -> Vec<OutboxRow> {
    let mut order: Vec<ObjectId> = Vec::new();
    let mut newest: HashMap<ObjectId, OutboxRow> = HashMap::new();
    for row in rows {
        match newest.get(&row.contact_id) {
            None => {
                order.push(row.contact_id);
                newest.insert(row.contact_id, row);
            }
            Some(old) if old.version < row.version => {
                newest.insert(row.contact_id, row);
            }
            Some(_) => {}
        }
    }
    order
        .into_iter()
        .filter_map(|c| newest.remove(&c))
        .collect()
}

/// The values of `next` that differ from what HubSpot last acknowledged (`written`). Unknown
/// history (`None`) means everything is sent.
pub fn changed(written: Option<&Values>, next: &Values) -> Values {
    next.iter()
        .filter(|(k, v)| written.and_then(|w| w.get(*k)) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What to do with one row of a batch answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Written.
    Done,
    /// `OBJECT_NOT_FOUND`: batch endpoints do not follow merges, so the id is either merged
    /// into another record or deleted. Resolve it with a single read.
    NotFound,
    /// A property does not exist (any more): provision, then retry.
    MissingProperty(Option<String>),
    /// HubSpot refused the value: a bug on our side. Dead-letter with the reason.
    BadValue { category: String, reason: String },
    /// Try again later.
    Transient(String),
}

/// Classifies one row's outcome.
pub fn classify(result: &RowResult) -> Disposition {
    match result {
        RowResult::Updated => Disposition::Done,
        RowResult::Unknown => {
            Disposition::Transient("neither a result nor an error named the row".into())
        }
        RowResult::Failed { category, message } => {
            if category == "OBJECT_NOT_FOUND" {
                Disposition::NotFound
            } else if message.contains("PROPERTY_DOESNT_EXIST") {
                Disposition::MissingProperty(missing_property_name(message))
            } else if category == "VALIDATION_ERROR"
                || category.starts_with("INVALID")
                || message.contains("READ_ONLY_VALUE")
            {
                Disposition::BadValue {
                    category: category.clone(),
                    reason: message.clone(),
                }
            } else {
                Disposition::Transient(format!("{category}: {message}"))
            }
        }
    }
}

/// The `name` of the first `PROPERTY_DOESNT_EXIST` entry in HubSpot's validation message
/// (`Property values were not valid: [{..."error":"PROPERTY_DOESNT_EXIST","name":"x"...}]`).
fn missing_property_name(message: &str) -> Option<String> {
    let json = message.split_once(": ")?.1;
    if let Ok(entries) = serde_json::from_str::<Vec<serde_json::Value>>(json) {
        return entries
            .iter()
            .find(|e| e.get("error").and_then(|v| v.as_str()) == Some("PROPERTY_DOESNT_EXIST"))
            .and_then(|e| e.get("name")?.as_str().map(str::to_owned));
    }
    // The message may have been shortened: read the name after the code by hand.
    let after = &message[message.find("PROPERTY_DOESNT_EXIST")?..];
    let start = after.find("\"name\":\"")? + 8;
    let end = after[start..].find('"')?;
    Some(after[start..start + end].to_owned())
}

/// Exponential backoff with full jitter: a uniform draw from `[0, min(cap, base × 2^attempt)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (0 = first retry), with `random` any u64.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.cap);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(if ms == 0 { 0 } else { random % (ms + 1) })
    }
}

/// A small, fast random source for jitter (xorshift64*, seeded from the clock and a counter).
pub fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = u64::from(chrono::Utc::now().timestamp_subsec_nanos()) ^ 0x9E37_79B9_7F4A_7C15;
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ seed;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Fair round-robin over the portals with pending writes: each turn serves the portal that
/// waited longest, one batch at a time, so a huge portal gets the same turns as a small one.
#[derive(Debug, Default)]
pub struct Rotation {
    queue: VecDeque<PortalId>,
    known: HashSet<PortalId>,
    not_before: HashMap<PortalId, Instant>,
    attempts: HashMap<PortalId, u32>,
}

impl Rotation {
    /// Adds portals that have work (at the back) and forgets the ones that have none.
    pub fn sync(&mut self, pending: &[PortalId]) {
        let now: HashSet<PortalId> = pending.iter().copied().collect();
        self.queue.retain(|p| now.contains(p));
        self.known.retain(|p| now.contains(p));
        for p in pending {
            if self.known.insert(*p) {
                self.queue.push_back(*p);
            }
        }
    }

    /// The next portal to serve that is not `busy` and not backing off; it moves to the back.
    pub fn next(&mut self, now: Instant, busy: impl Fn(PortalId) -> bool) -> Option<PortalId> {
        let i = self
            .queue
            .iter()
            .position(|p| !busy(*p) && self.not_before.get(p).is_none_or(|t| *t <= now))?;
        let p = self.queue.remove(i)?;
        self.queue.push_back(p);
        Some(p)
    }

    /// The portal succeeded: no backoff.
    pub fn succeeded(&mut self, portal: PortalId) {
        self.attempts.remove(&portal);
        self.not_before.remove(&portal);
    }

    /// The portal failed transiently: wait `max(hint, backoff)` before serving it again.
    pub fn failed(
        &mut self,
        portal: PortalId,
        now: Instant,
        backoff: &Backoff,
        hint: Option<Duration>,
    ) -> Duration {
        let attempt = self.attempts.entry(portal).or_insert(0);
        let wait = backoff
            .delay(*attempt, random_u64())
            .max(hint.unwrap_or_default());
        *attempt = attempt.saturating_add(1);
        self.not_before.insert(portal, now + wait);
        wait
    }

    /// Not served before `until` (e.g. a limiter wait), without counting as a failure.
    pub fn defer(&mut self, portal: PortalId, until: Instant) {
        self.not_before.insert(portal, until);
    }

    /// How many portals are waiting for a turn.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> ObjectId {
        ObjectId::new(n).unwrap()
    }

    fn portal(n: i64) -> PortalId {
        PortalId::new(n).unwrap()
    }

    fn values(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn row(c: i64, v: i64, score: &str) -> OutboxRow {
        OutboxRow {
            contact_id: id(c),
            properties: values(&[("ember_score", score)]),
            version: v,
        }
    }

    #[test]
    fn coalescing_keeps_the_newest_version_per_contact_in_first_seen_order() {
        let out = coalesce([
            row(1, 1, "10"),
            row(2, 5, "20"),
            row(1, 3, "30"),
            row(2, 4, "stale"),
            row(3, 1, ""),
        ]);
        assert_eq!(out, vec![row(1, 3, "30"), row(2, 5, "20"), row(3, 1, "")]);
    }

    #[test]
    fn only_changed_values_are_sent_and_empty_strings_clear() {
        let written = values(&[("ember_score", "10"), ("ember_grade", "B")]);
        let next = values(&[
            ("ember_score", "10"),
            ("ember_grade", ""),
            ("ember_fit", "3"),
        ]);
        assert_eq!(
            changed(Some(&written), &next),
            values(&[("ember_grade", ""), ("ember_fit", "3")])
        );
        assert_eq!(changed(None, &next), next);
        assert!(changed(Some(&next), &next).is_empty());
    }

    #[test]
    fn rows_of_a_multi_status_answer_are_classified() {
        let failed = |category: &str, message: &str| RowResult::Failed {
            category: category.into(),
            message: message.into(),
        };
        assert_eq!(classify(&RowResult::Updated), Disposition::Done);
        assert_eq!(
            classify(&failed(
                "OBJECT_NOT_FOUND",
                "Could not get some CONTACT objects, they may be deleted or not exist."
            )),
            Disposition::NotFound
        );
        let missing = r#"Property values were not valid: [{"isValid":false,"message":"Property \"ember_fit\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"ember_fit","localizedErrorMessage":"x","portalId":1}]"#;
        assert_eq!(
            classify(&failed("VALIDATION_ERROR", missing)),
            Disposition::MissingProperty(Some("ember_fit".into()))
        );
        let shortened = &missing[..missing.find("localized").unwrap()];
        assert_eq!(
            classify(&failed("VALIDATION_ERROR", shortened)),
            Disposition::MissingProperty(Some("ember_fit".into()))
        );
        let bad = r#"Property values were not valid: [{"isValid":false,"message":"x","error":"INVALID_INTEGER","name":"ember_score","localizedErrorMessage":"x","portalId":1}]"#;
        assert!(matches!(
            classify(&failed("VALIDATION_ERROR", bad)),
            Disposition::BadValue { .. }
        ));
        assert!(matches!(
            classify(&RowResult::Unknown),
            Disposition::Transient(_)
        ));
        assert!(matches!(
            classify(&failed("INTERNAL_ERROR", "oops")),
            Disposition::Transient(_)
        ));
    }

    #[test]
    fn backoff_is_full_jitter_under_an_exponential_ceiling() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        };
        for attempt in 0..12 {
            let ceiling = Duration::from_millis(100 * (1 << attempt)).min(Duration::from_secs(5));
            let mut max = Duration::ZERO;
            let mut min = Duration::MAX;
            for _ in 0..2_000 {
                let d = b.delay(attempt, random_u64());
                assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
                max = max.max(d);
                min = min.min(d);
            }
            assert!(
                max > ceiling * 8 / 10 && min < ceiling / 5,
                "attempt {attempt}: spread {min:?}..{max:?}"
            );
        }
        assert_eq!(
            b.delay(100, u64::MAX),
            Duration::from_millis(u64::MAX % 5001)
        );
    }

    #[test]
    fn rotation_is_round_robin_and_skips_busy_or_backing_off_portals() {
        let mut r = Rotation::default();
        let now = Instant::now();
        r.sync(&[portal(1), portal(2), portal(3)]);
        let order: Vec<i64> = (0..6)
            .map(|_| r.next(now, |_| false).unwrap().get())
            .collect();
        assert_eq!(order, vec![1, 2, 3, 1, 2, 3]);
        assert_eq!(r.next(now, |p| p.get() != 3).unwrap().get(), 3);
        let b = Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(10),
        };
        r.failed(portal(1), now, &b, Some(Duration::from_secs(1)));
        let served: Vec<i64> = (0..4)
            .map(|_| r.next(now, |_| false).unwrap().get())
            .collect();
        assert!(!served.contains(&1), "{served:?}");
        r.succeeded(portal(1));
        assert!((0..3).any(|_| r.next(now, |_| false).unwrap().get() == 1));
        // A portal without work leaves; a new one joins at the back.
        r.sync(&[portal(2), portal(4)]);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn a_huge_portal_gets_no_more_turns_than_a_small_one() {
        let mut r = Rotation::default();
        r.sync(&[portal(1), portal(2)]);
        let mut turns = HashMap::new();
        for _ in 0..100 {
            *turns
                .entry(r.next(Instant::now(), |_| false).unwrap())
                .or_insert(0) += 1;
        }
        assert_eq!(turns[&portal(1)], 50);
        assert_eq!(turns[&portal(2)], 50);
    }
}

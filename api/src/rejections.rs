//! The intake's recent rejections, per portal, in memory: what the console shows under "recent
//! rejections" so that an agency can see why HubSpot's calls for a portal are failing.
//!
//! Only rejections that name a portal are kept: workflow webhooks carry it in the path, app
//! webhooks in each event's `portalId`, read only after the signature check (an unsigned body's
//! portal ids are anybody's to make up). An entry holds the time, the status, the stable reason
//! code and the message Ember answered with, with quoted values cut out: never the body, a
//! header or a secret.
//!
//! Bounded: the newest [`PER_PORTAL`] entries of at most [`PORTALS`] portals; a new portal beyond
//! that evicts the one whose newest rejection is the oldest. Each api process keeps its own, so
//! behind a load balancer a person sees the rejections of the process that answers them.
//!
//! Unauthenticated rejections (wrong or missing webhook secret, too many failures) are anybody's
//! to make: a flood of them would push the portal's real problems out of the feed. They are
//! sampled ([`RecentRejections::record_unauthenticated`]): at most one entry per portal per
//! [`SAMPLE_EVERY_SECS`], whose `suppressed` counts the ones that followed it unlisted, and
//! `ember_intake_rejections_suppressed_total` counts them too.
//!
//! App events of types Ember does not use are answered 2xx and dropped; each drop is an entry
//! too (status 200, the drop reason as `reason`, the type and object type id as `detail`),
//! sampled the same way per portal and reason ([`RecentRejections::record_dropped`]): a portal
//! subscribed to company changes would otherwise list nothing else.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use ember_core::domain::PortalId;
use ember_core::normalize::Dropped;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Entries kept per portal.
pub const PER_PORTAL: usize = 50;
/// Portals kept.
pub const PORTALS: usize = 500;
/// Longest detail kept, in characters.
const DETAIL_CHARS: usize = 300;
/// At most one unauthenticated rejection per portal is listed per this many seconds.
pub const SAMPLE_EVERY_SECS: i64 = 60;

/// One rejected request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rejection {
    pub at: DateTime<Utc>,
    /// The stable code Ember answered with (`signature_mismatch`, `invalid_event`...).
    pub reason: String,
    /// The HTTP status Ember answered with.
    pub status: u16,
    /// The message Ember answered with, without quoted values.
    pub detail: String,
    /// Unauthenticated rejections of the portal that came after this one within a minute and
    /// are not listed (0 for every other entry).
    pub suppressed: u64,
}

/// One portal's entries.
#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Rejection>,
    /// When the unauthenticated entry now counting the suppressed ones was recorded.
    sample_at: Option<DateTime<Utc>>,
    /// The same, per drop reason, for dropped events.
    drop_samples: HashMap<&'static str, DateTime<Utc>>,
}

/// The recent rejections of every portal this process saw.
#[derive(Debug)]
pub struct RecentRejections {
    per_portal: usize,
    portals: usize,
    entries: Mutex<HashMap<PortalId, Ring>>,
}

impl Default for RecentRejections {
    fn default() -> Self {
        Self::with_bounds(PER_PORTAL, PORTALS)
    }
}

impl RecentRejections {
    /// A store that keeps `per_portal` entries of at most `portals` portals.
    pub fn with_bounds(per_portal: usize, portals: usize) -> Self {
        Self {
            per_portal: per_portal.max(1),
            portals: portals.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Records that a request for `portal` was answered with `error`.
    pub fn record(&self, portal: PortalId, error: &ApiError) {
        self.record_at(portal, error, Utc::now());
    }

    /// Records an unauthenticated rejection for `portal`, sampled: listed if none was in the
    /// last [`SAMPLE_EVERY_SECS`], else counted in the listed one's `suppressed`. Returns
    /// whether it was listed.
    pub fn record_unauthenticated(&self, portal: PortalId, error: &ApiError) -> bool {
        self.record_unauthenticated_at(portal, error, Utc::now())
    }

    fn record_unauthenticated_at(
        &self,
        portal: PortalId,
        error: &ApiError,
        at: DateTime<Utc>,
    ) -> bool {
        {
            let mut entries = self.lock();
            if let Some(ring) = entries.get_mut(&portal)
                && let Some(sample_at) = ring.sample_at
                && at - sample_at < chrono::Duration::seconds(SAMPLE_EVERY_SECS)
                && let Some(sample) = ring.entries.iter_mut().rev().find(|r| r.at == sample_at)
            {
                sample.suppressed += 1;
                metrics::counter!("ember_intake_rejections_suppressed_total").increment(1);
                return false;
            }
        }
        self.record_at(portal, error, at);
        if let Some(ring) = self.lock().get_mut(&portal) {
            ring.sample_at = Some(at);
        }
        true
    }

    /// Records that an event for `portal` was answered 2xx and dropped, sampled per reason:
    /// listed if no drop with this reason was in the last [`SAMPLE_EVERY_SECS`], else counted
    /// in the listed one's `suppressed`. Returns whether it was listed.
    pub fn record_dropped(&self, portal: PortalId, dropped: &Dropped) -> bool {
        self.record_dropped_at(portal, dropped, Utc::now())
    }

    fn record_dropped_at(&self, portal: PortalId, dropped: &Dropped, at: DateTime<Utc>) -> bool {
        let reason = dropped.reason.as_str();
        {
            let mut entries = self.lock();
            if let Some(ring) = entries.get_mut(&portal)
                && let Some(sample_at) = ring.drop_samples.get(reason).copied()
                && at - sample_at < chrono::Duration::seconds(SAMPLE_EVERY_SECS)
                && let Some(sample) = ring
                    .entries
                    .iter_mut()
                    .rev()
                    .find(|r| r.at == sample_at && r.reason == reason)
            {
                sample.suppressed += 1;
                metrics::counter!("ember_intake_rejections_suppressed_total").increment(1);
                return false;
            }
        }
        let answered = ApiError::new(StatusCode::OK, reason, dropped.to_string());
        self.record_at(portal, &answered, at);
        if let Some(ring) = self.lock().get_mut(&portal) {
            ring.drop_samples.insert(reason, at);
        }
        true
    }

    fn record_at(&self, portal: PortalId, error: &ApiError, at: DateTime<Utc>) {
        let rejection = Rejection {
            at,
            reason: error.code.to_owned(),
            status: error.status.as_u16(),
            detail: without_quoted_values(&error.message),
            suppressed: 0,
        };
        let mut entries = self.lock();
        if !entries.contains_key(&portal) && entries.len() >= self.portals {
            let stalest = entries
                .iter()
                .min_by_key(|(_, ring)| ring.entries.back().map(|r| r.at))
                .map(|(p, _)| *p);
            if let Some(stalest) = stalest {
                entries.remove(&stalest);
            }
        }
        let ring = entries.entry(portal).or_default();
        if ring.entries.len() >= self.per_portal {
            ring.entries.pop_front();
        }
        ring.entries.push_back(rejection);
    }

    /// The portal's recent rejections, newest first.
    pub fn recent(&self, portal: PortalId) -> Vec<Rejection> {
        self.lock()
            .get(&portal)
            .map(|ring| ring.entries.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PortalId, Ring>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The message with every double-quoted part replaced by `"…"`: normalization messages quote
/// the offending value (`got "jane@example.com"`), which is personal data from the body.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(DETAIL_CHARS));
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            out.push('…');
            let mut escaped = false;
            for q in chars.by_ref() {
                match (escaped, q) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    _ => escaped = false,
                }
            }
            out.push('"');
        }
    }
    match out.char_indices().nth(DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &out[..cut]),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;

    use super::*;

    fn portal(id: i64) -> PortalId {
        PortalId::new(id).unwrap()
    }

    fn error(code: &'static str, message: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    #[test]
    fn quoted_values_are_cut_out_of_details() {
        assert_eq!(
            without_quoted_values(
                r#"events[2].propertyValue: expected a number, got "jane@example.com""#
            ),
            r#"events[2].propertyValue: expected a number, got "…""#
        );
        assert_eq!(
            without_quoted_values(r#"got "a \"quoted\" value" and "b""#),
            r#"got "…" and "…""#
        );
        assert_eq!(without_quoted_values("no quotes"), "no quotes");
        assert_eq!(
            without_quoted_values(r#"unterminated "abc"#),
            r#"unterminated "…""#
        );
        let long = without_quoted_values(&"x".repeat(1000));
        assert_eq!(long.chars().count(), DETAIL_CHARS + 1);
    }

    #[test]
    fn each_portal_keeps_its_newest_entries_newest_first() {
        let store = RecentRejections::with_bounds(3, 10);
        for i in 0..5 {
            store.record(portal(1), &error("invalid_event", &format!("problem {i}")));
        }
        store.record(portal(2), &error("signature_mismatch", "bad signature"));
        let one = store.recent(portal(1));
        let details: Vec<&str> = one.iter().map(|r| r.detail.as_str()).collect();
        assert_eq!(details, ["problem 4", "problem 3", "problem 2"]);
        assert_eq!(one[0].status, 400);
        assert_eq!(one[0].reason, "invalid_event");
        assert_eq!(store.recent(portal(2)).len(), 1);
        assert!(store.recent(portal(3)).is_empty());
    }

    #[test]
    fn unauthenticated_rejections_are_sampled_once_a_minute_with_a_count() {
        let store = RecentRejections::with_bounds(50, 10);
        let t = Utc::now();
        let wrong = ApiError::unauthorized("the webhook secret does not match this portal's");
        assert!(store.record_unauthenticated_at(portal(1), &wrong, t));
        for i in 1..=2_999 {
            let at = t + chrono::Duration::milliseconds(i * 10);
            assert!(!store.record_unauthenticated_at(portal(1), &wrong, at));
        }
        // A real problem still gets through, and is listed above the sample.
        store.record_at(
            portal(1),
            &error("invalid_field", "hs_object_id: is required"),
            t + chrono::Duration::seconds(31),
        );
        let listed = store.recent(portal(1));
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].reason, "invalid_field");
        assert_eq!(listed[1].status, 401);
        assert_eq!(listed[1].suppressed, 2_999);
        // A minute after the sample, the next one is listed again.
        assert!(store.record_unauthenticated_at(
            portal(1),
            &wrong,
            t + chrono::Duration::seconds(61)
        ));
        assert_eq!(store.recent(portal(1)).len(), 3);
        assert!(store.record_unauthenticated_at(portal(2), &wrong, t));
    }

    #[test]
    fn drops_are_listed_once_a_minute_per_reason_with_a_count() {
        use ember_core::normalize::DropReason;
        let store = RecentRejections::with_bounds(50, 10);
        let t = Utc::now();
        let drop = |reason| Dropped {
            index: 0,
            portal_id: Some(portal(1)),
            subscription_type: "object.creation".into(),
            object_type_id: Some("0-2".into()),
            reason,
        };
        let company = drop(DropReason::UnusedObjectType);
        assert!(store.record_dropped_at(portal(1), &company, t));
        for i in 1..=9 {
            let at = t + chrono::Duration::seconds(i);
            assert!(!store.record_dropped_at(portal(1), &company, at));
        }
        let missing = drop(DropReason::ObjectTypeMissing);
        assert!(store.record_dropped_at(portal(1), &missing, t + chrono::Duration::seconds(5)));
        let listed = store.recent(portal(1));
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].reason, "object_type_missing");
        assert_eq!(listed[1].reason, "unused_object_type");
        assert_eq!(listed[1].status, 200);
        assert_eq!(listed[1].suppressed, 9);
        assert!(
            listed[1].detail.contains("objectTypeId 0-2"),
            "{:?}",
            listed[1]
        );
        assert!(store.record_dropped_at(portal(1), &company, t + chrono::Duration::seconds(61)));
    }

    #[test]
    fn a_new_portal_beyond_the_bound_evicts_the_stalest() {
        let store = RecentRejections::with_bounds(5, 2);
        let t = Utc::now();
        store.record_at(
            portal(1),
            &error("a", "old"),
            t - chrono::Duration::minutes(5),
        );
        store.record_at(
            portal(2),
            &error("b", "newer"),
            t - chrono::Duration::minutes(1),
        );
        store.record_at(portal(3), &error("c", "newest"), t);
        assert!(
            store.recent(portal(1)).is_empty(),
            "the stalest portal went"
        );
        assert_eq!(store.recent(portal(2)).len(), 1);
        assert_eq!(store.recent(portal(3)).len(), 1);
    }
}

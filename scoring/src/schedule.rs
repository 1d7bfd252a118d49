//! When decay alone will next change a contact's rounded total, so the decay sweep rescores
//! only contacts that are due.
//!
//! Engagement at a time t ≥ now is a sum of exponentials: past entries of one half-life fold into
//! one term `c · 2^(−(t − now)/h)`, entries stamped after `now` (clock skew) stay constant until
//! their time and decay after it. Positive terms only fall and negative terms only rise, so over
//! any interval [a, b] the engagement lies between (positives at b + negatives at a) and
//! (positives at a + negatives at b); the caps and rounding are monotone in engagement. A
//! branch-and-bound search on the millisecond grid uses these bounds to find the first instant
//! whose rounded total differs, and the answer is then checked against the exact scoring code,
//! so `score` agrees with it to the millisecond.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::compile::CompiledModel;
use super::contact::{Ledger, Snapshot};
use super::decay::decay_factor;
use super::engine::{for_each_counted, round_score};

/// The first millisecond after `now` at which the rounded total of this contact differs from
/// its rounded total at `now`, through decay alone (no new event, no property change); `None`
/// when decay can never change it again.
pub fn next_change_at(
    model: &CompiledModel,
    snapshot: &Snapshot,
    ledger: &Ledger,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    model.next_change_at(snapshot, ledger, now)
}

/// Bisection steps allowed before giving up with an early (safe) answer; never reached by
/// sums of a few exponentials, only by pathological near-tangent cases.
const SEARCH_BUDGET: u32 = 50_000;
/// First search window, doubled until the change is inside one.
const FIRST_WINDOW_MS: i64 = 60_000;
/// Search no further than about the year 9999.
const HORIZON_MS: i64 = 253_402_300_799_000;

impl CompiledModel {
    /// See [`next_change_at`].
    pub fn next_change_at(
        &self,
        snapshot: &Snapshot,
        ledger: &Ledger,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut scratch = Vec::new();
        let fit = self.fit_points(snapshot, &mut scratch);
        let now_ms = now.timestamp_millis();
        let profile = self.profile(ledger, now_ms);
        if profile.groups.is_empty() && profile.future.is_empty() {
            return None;
        }
        let exact = |t: i64, scratch: &mut Vec<_>| {
            scratch.clear();
            let engagement = self.engagement_points(ledger, t, scratch);
            round_score(self.combine(fit, engagement).2)
        };
        let start = exact(now_ms, &mut scratch);
        let mut search = Search {
            model: self,
            fit,
            profile: &profile,
            start,
            budget: SEARCH_BUDGET,
        };
        let found = search.first_change(now_ms)?;
        // The search sums terms in another order than `score`; near a rounding boundary the two
        // can disagree by a few ulps. Settle the exact instant with the scoring code itself.
        let changed = |t: i64, scratch: &mut Vec<_>| exact(t, scratch) != start;
        let (mut lo, mut hi) = if changed(found, &mut scratch) {
            if found - 1 <= now_ms || !changed(found - 1, &mut scratch) {
                // The usual case: both agree to the millisecond.
                return DateTime::from_timestamp_millis(found);
            }
            (now_ms, found)
        } else {
            let mut lo = found;
            let mut step = 1i64;
            loop {
                let hi = lo.saturating_add(step);
                if hi >= HORIZON_MS {
                    return None;
                }
                if changed(hi, &mut scratch) {
                    break (lo, hi);
                }
                lo = hi;
                step = step.saturating_mul(2);
            }
        };
        // Invariant: unchanged at lo, changed at hi.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if changed(mid, &mut scratch) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let t = hi;
        DateTime::from_timestamp_millis(t)
    }

    fn profile(&self, ledger: &Ledger, now_ms: i64) -> Profile {
        let mut constant = 0.0;
        let mut groups: BTreeMap<u64, f64> = BTreeMap::new();
        let mut future = Vec::new();
        self.for_each_rule_run(ledger, |i, term, times| {
            let rate = self.engagement.get(i).map_or(0.0, |rule| rule.rate_per_ms);
            if rate == 0.0 {
                // Computed exactly as `engagement_points` computes it, so that both agree bit
                // for bit once every decaying term has faded to zero.
                constant += term.points_at(times, now_ms).0;
                return;
            }
            for_each_counted(term, times, |t| {
                if t > now_ms {
                    future.push(Term {
                        points: term.points,
                        at: t,
                        rate,
                    });
                } else {
                    *groups.entry(rate.to_bits()).or_default() +=
                        term.points * decay_factor(rate, now_ms - t);
                }
            });
        });
        let groups = groups
            .into_iter()
            .map(|(rate, c)| (f64::from_bits(rate), c))
            .filter(|&(_, c)| c != 0.0)
            .collect();
        Profile {
            now_ms,
            constant,
            groups,
            future,
        }
    }
}

struct Term {
    points: f64,
    at: i64,
    rate: f64,
}

/// Engagement as a function of time from `now_ms` on.
struct Profile {
    now_ms: i64,
    constant: f64,
    /// (rate per ms, value at now) of the past entries of each half-life.
    groups: Vec<(f64, f64)>,
    future: Vec<Term>,
}

impl Profile {
    /// Lowest and highest engagement over [a, b] (`b = None`: to infinity).
    fn bounds(&self, a: i64, b: Option<i64>) -> (f64, f64) {
        let (mut lo, mut hi) = (self.constant, self.constant);
        let mut add = |at_a: f64, at_b: f64| {
            // Every term moves monotonically toward zero.
            lo += at_a.min(at_b);
            hi += at_a.max(at_b);
        };
        for &(rate, c) in &self.groups {
            let at = |t: i64| c * decay_factor(rate, t - self.now_ms);
            add(at(a), b.map_or(0.0, at));
        }
        for term in &self.future {
            let at = |t: i64| term.points * decay_factor(term.rate, t - term.at);
            add(at(a), b.map_or(0.0, at));
        }
        (lo, hi)
    }
}

struct Search<'a> {
    model: &'a CompiledModel,
    fit: f64,
    profile: &'a Profile,
    start: i64,
    budget: u32,
}

impl Search<'_> {
    fn rounded(&self, engagement: f64) -> i64 {
        round_score(self.model.combine(self.fit, engagement).2)
    }

    /// Whether the rounded total is `start` all over [a, b].
    fn unchanged(&self, a: i64, b: Option<i64>) -> bool {
        let (lo, hi) = self.profile.bounds(a, b);
        self.rounded(lo) == self.start && self.rounded(hi) == self.start
    }

    fn first_change(&mut self, now_ms: i64) -> Option<i64> {
        let mut a = now_ms;
        let mut window = FIRST_WINDOW_MS;
        while a < HORIZON_MS {
            if self.unchanged(a, None) {
                return None;
            }
            let b = a.saturating_add(window);
            if let Some(t) = self.first_in(a, b) {
                return Some(t);
            }
            a = b;
            window = window.saturating_mul(2);
        }
        None
    }

    /// The first grid point in (a, b] where the rounded total differs from `start`.
    fn first_in(&mut self, a: i64, b: i64) -> Option<i64> {
        if self.budget == 0 {
            // Out of budget: an early answer only makes the sweep rescore sooner.
            return Some(a + 1);
        }
        self.budget -= 1;
        if self.unchanged(a, Some(b)) {
            return None;
        }
        if b - a <= 1 {
            return (!self.unchanged(b, Some(b))).then_some(b);
        }
        let mid = a + (b - a) / 2;
        self.first_in(a, mid).or_else(|| self.first_in(mid, b))
    }
}

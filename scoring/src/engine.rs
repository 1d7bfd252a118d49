//! Scoring one contact: fit from its snapshot, engagement from its ledger, decayed to `now`.
//!
//! total(t) = cap_total( cap_fit(Σ fit_i · w_i) + cap_engagement(Σ_j w_j · 2^(−(t − t_j) / h_j)) )
//!
//! The hot path ([`CompiledModel::score_into`]) allocates nothing: the snapshot is bound to the
//! compiled property slots in one merge pass into stack arrays (`bound`), and the sorted ledger
//! is merge-joined with the engagement rules sorted by id.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::compile::{CompiledModel, EngagementTerm, Label};
use super::contact::{Ledger, Snapshot};
use super::decay::decay_factor_scaled;
use super::text::eq_short;

/// Which axis a rule scores on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    /// Properties of the contact.
    Fit,
    /// Events, decayed by age.
    Engagement,
}

/// One rule's part of a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contribution {
    /// The rule's axis.
    pub axis: Axis,
    /// Index of the rule in the compiled model (see [`CompiledModel::rule_id`]).
    pub rule: usize,
    /// Points before decay (points × counted events for engagement).
    pub raw: f64,
    /// Points after decay (equal to `raw` for fit rules).
    pub points: f64,
    /// Events counted (1 for a fit rule).
    pub count: u32,
}

/// A contact's score at one moment, with its explanation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scored {
    /// The total, after caps, unrounded.
    pub total: f64,
    /// The fit axis, after its cap, unrounded.
    pub fit: f64,
    /// The engagement axis, decayed and after its cap, unrounded.
    pub engagement: f64,
    /// The grade reached by the rounded total, if the model has grades.
    pub grade: Option<Label>,
    /// The fit × engagement matrix cell (`A1`…), if the model has a matrix.
    pub cell: Option<Label>,
    /// Every rule that contributed: fit rules in model order, then engagement rules by id.
    pub contributions: Vec<Contribution>,
}

/// Rounds half up: the value written to HubSpot is `round(total)` with `round(x) = ⌊x + ½⌋`.
pub fn round_score(x: f64) -> i64 {
    // ⌊y⌋ without a libm call: truncate, then step down for negative non-integers.
    let y = x + 0.5;
    let t = y as i64;
    if (t as f64) > y { t - 1 } else { t }
}

impl Scored {
    /// The rounded total, the value written to HubSpot.
    pub fn rounded_total(&self) -> i64 {
        round_score(self.total)
    }
    /// The rounded fit axis.
    pub fn rounded_fit(&self) -> i64 {
        round_score(self.fit)
    }
    /// The rounded engagement axis.
    pub fn rounded_engagement(&self) -> i64 {
        round_score(self.engagement)
    }
}

/// Scores a contact at `now` (see [`CompiledModel::score`]).
pub fn score(
    model: &CompiledModel,
    snapshot: &Snapshot,
    ledger: &Ledger,
    now: DateTime<Utc>,
) -> Scored {
    model.score(snapshot, ledger, now)
}

impl CompiledModel {
    /// Scores a contact at `now`.
    pub fn score(&self, snapshot: &Snapshot, ledger: &Ledger, now: DateTime<Utc>) -> Scored {
        let mut out = Scored {
            contributions: Vec::with_capacity(self.fit.len() + self.engagement.len()),
            ..Scored::default()
        };
        self.score_into(snapshot, ledger, now, &mut out);
        out
    }

    /// Scores a contact into `out`, reusing its buffer: no allocation once `out` has grown.
    pub fn score_into(
        &self,
        snapshot: &Snapshot,
        ledger: &Ledger,
        now: DateTime<Utc>,
        out: &mut Scored,
    ) {
        out.contributions.clear();
        let fit = self.fit_points(snapshot, &mut out.contributions);
        let engagement =
            self.engagement_points(ledger, now.timestamp_millis(), &mut out.contributions);
        let (fit, engagement, total) = self.combine(fit, engagement);
        out.fit = fit;
        out.engagement = engagement;
        out.total = total;
        set_label(&mut out.grade, band_label(&self.grades, total));
        set_label(
            &mut out.cell,
            self.matrix.as_ref().and_then(|m| {
                let f = band_index(&m.fit, fit)?;
                let e = band_index(&m.engagement, engagement)?;
                m.cells.get(f)?.get(e)
            }),
        );
    }

    /// Applies the caps: (fit, engagement, total).
    pub(crate) fn combine(&self, fit: f64, engagement: f64) -> (f64, f64, f64) {
        let c = &self.caps;
        let fit = fit.clamp(c.fit.0, c.fit.1);
        let engagement = engagement.clamp(c.engagement.0, c.engagement.1);
        (
            fit,
            engagement,
            (fit + engagement).clamp(c.total.0, c.total.1),
        )
    }

    /// The decayed sum of the counted ledger entries at `now_ms`, recording each rule.
    pub(crate) fn engagement_points(
        &self,
        ledger: &Ledger,
        now_ms: i64,
        out: &mut Vec<Contribution>,
    ) -> f64 {
        let mut sum = 0.0;
        self.for_each_rule_run(ledger, |i, term, times| {
            let (decayed, count) = term.points_at(times, now_ms);
            if count > 0 {
                sum += decayed;
                out.push(Contribution {
                    axis: Axis::Engagement,
                    rule: i,
                    raw: term.points * f64::from(count),
                    points: decayed,
                    count,
                });
            }
        });
        sum
    }

    /// Calls `f` with each engagement rule that has ledger entries (its index and its term),
    /// and their times: a merge-join of two lists sorted by rule id.
    #[inline(always)]
    pub(crate) fn for_each_rule_run<'l>(
        &self,
        ledger: &'l Ledger,
        mut f: impl FnMut(usize, &EngagementTerm, &'l [i64]),
    ) {
        // Both lists are sorted by id, hence by key; equal keys (a shared 8-byte prefix) are
        // told apart by the full id. Ids of at most 8 bytes are their key and length, so the
        // ledger's id text is read only for longer ones. A run whose rule the model no longer
        // has is skipped.
        let terms = self.terms.as_slice();
        let mut i = 0;
        for run in ledger.runs() {
            while i < terms.len() && terms[i].key < run.key {
                i += 1;
            }
            let mut k = i;
            while k < terms.len() && terms[k].key == run.key {
                let term = &terms[k];
                if term.id_len == run.id_len()
                    && (term.id_len <= 8 || self.same_id(k, ledger.id_of(run)))
                {
                    f(k, term, ledger.times_of(run));
                    break;
                }
                k += 1;
            }
        }
    }

    /// Whether engagement rule `k` has the id `id` (kept out of line: only ids longer than 8
    /// bytes get here).
    #[inline(never)]
    fn same_id(&self, k: usize, id: &str) -> bool {
        self.engagement
            .get(k)
            .is_some_and(|r| eq_short(r.id.as_str(), id))
    }
}

/// Calls `f` with the time (ms) of each entry of one rule that counts: a repeat counts only
/// `min_interval` after the previous counted one, and of those only the `cap` most recent count.
/// Times are sorted, so the result depends on the set of entries, not on their arrival order.
/// The plain form of the selection [`EngagementTerm::points_at`] makes.
pub(crate) fn for_each_counted(term: &EngagementTerm, times: &[i64], mut f: impl FnMut(i64)) {
    let gap = term.min_interval_ms;
    let skip = spaced_count(gap, times).saturating_sub(term.cap);
    let (mut last, mut seen) = (i64::MIN, 0usize);
    for &t in times {
        if spaced(gap, t, last) {
            last = t;
            seen += 1;
            if seen > skip {
                f(t);
            }
        }
    }
}

/// Whether an entry at `t` is far enough from the previous counted one (`last`, or `i64::MIN`
/// when none counted yet). Times ascend, so with no minimum interval every entry is.
#[inline(always)]
fn spaced(gap: i64, t: i64, last: i64) -> bool {
    gap == 0 || last == i64::MIN || t - last >= gap
}

/// How many entries are far enough from the previous spaced one.
#[inline(always)]
fn spaced_count(gap: i64, times: &[i64]) -> usize {
    if gap == 0 {
        return times.len();
    }
    let (mut last, mut n) = (i64::MIN, 0usize);
    for &t in times {
        if spaced(gap, t, last) {
            last = t;
            n += 1;
        }
    }
    n
}

impl EngagementTerm {
    /// This rule's decayed points at `now_ms` and how many entries counted: points × Σ decay,
    /// the factors summed oldest first. The same selection as [`for_each_counted`], written for
    /// the hot path: a factor is computed only for the entries that count, and a rule without
    /// a minimum interval counts its `cap` most recent entries without looking at the others.
    #[inline(always)]
    pub(crate) fn points_at(&self, times: &[i64], now_ms: i64) -> (f64, u32) {
        // When every entry is far enough from the one before (the usual case), the minimum
        // interval drops none: one pass over the gaps, then the plain path.
        let gap = self.min_interval_ms;
        let (factors, count) = if gap == 0 || times.windows(2).all(|w| w[1] - w[0] >= gap) {
            let counted = times
                .get(times.len().saturating_sub(self.cap)..)
                .unwrap_or_default();
            (self.decay_sum(counted, now_ms), counted.len())
        } else {
            self.spaced_sum(times, now_ms)
        };
        (
            self.points * factors,
            u32::try_from(count).unwrap_or(u32::MAX),
        )
    }

    /// Σ of the decay factors at `now_ms` of `times`, in their order, from 0 (a rule that does
    /// not decay sums ones, that is, counts).
    #[inline(always)]
    fn decay_sum(&self, times: &[i64], now_ms: i64) -> f64 {
        if self.neg_rate_256 == 0.0 {
            // Exact: a sum of ones is an integer far below 2^53.
            return times.len() as f64;
        }
        let rate = self.neg_rate_256;
        times
            .iter()
            .fold(0.0, |sum, &t| sum + decay_factor_scaled(rate, now_ms - t))
    }

    /// [`Self::decay_sum`] of the entries a minimum interval and the cap let count, and how
    /// many they are.
    #[inline(never)]
    fn spaced_sum(&self, times: &[i64], now_ms: i64) -> (f64, usize) {
        let gap = self.min_interval_ms;
        let Some((&first, later)) = times.split_first() else {
            return (0.0, 0);
        };
        // The cap drops the oldest spaced entries; count them only when it can drop any.
        let skip = if times.len() > self.cap {
            spaced_count(gap, times).saturating_sub(self.cap)
        } else {
            0
        };
        let rate = self.neg_rate_256;
        let factor = |t: i64| {
            if rate == 0.0 {
                1.0
            } else {
                decay_factor_scaled(rate, now_ms - t)
            }
        };
        // The first entry is always spaced.
        let (mut last, mut seen, mut sum) = (first, 1usize, 0.0);
        if skip == 0 {
            sum += factor(first);
        }
        for &t in later {
            if t - last >= gap {
                last = t;
                seen += 1;
                if seen > skip {
                    sum += factor(t);
                }
            }
        }
        (sum, seen - skip)
    }
}

fn band_index(bands: &[(f64, usize)], value: f64) -> Option<usize> {
    let r = round_score(value) as f64;
    bands.iter().find(|(min, _)| r >= *min).map(|&(_, i)| i)
}

fn band_label(bands: &[(f64, Label)], value: f64) -> Option<&Label> {
    let r = round_score(value) as f64;
    bands.iter().find(|(min, _)| r >= *min).map(|(_, l)| l)
}

/// Sets a label, skipping the reference-count traffic when it is already the same one.
fn set_label(slot: &mut Option<Label>, label: Option<&Label>) {
    match (slot.as_ref(), label) {
        (Some(old), Some(new)) if std::sync::Arc::ptr_eq(old, new) => {}
        _ => *slot = label.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::decay::decay_factor;
    use super::*;

    fn term(cap: Option<usize>, min_interval_ms: i64, rate_per_ms: f64) -> EngagementTerm {
        EngagementTerm {
            key: 0,
            id_len: 1,
            points: 7.25,
            neg_rate_256: -(rate_per_ms * 256.0),
            min_interval_ms,
            cap: cap.unwrap_or(usize::MAX),
        }
    }

    /// `points_at` against the plain selection (`for_each_counted`) and `decay_factor` summed
    /// oldest first: the same value bit for bit.
    #[test]
    fn points_at_is_the_plain_sum_bit_for_bit() {
        let hour = 3_600_000i64;
        let now = 1_780_000_000_000i64;
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..20_000 {
            let len = (next() % 80) as usize;
            let mut times: Vec<i64> = (0..len)
                .map(|_| now - (next() % (400 * 24 * hour as u64)) as i64 + 48 * hour)
                .collect();
            times.sort_unstable();
            let cap = (next() % 3 > 0).then(|| 1 + (next() % 6) as usize);
            let gap = [0, hour, 24 * hour][(next() % 3) as usize];
            let rate = [
                0.0,
                1.0 / (7.0 * 24.0 * hour as f64),
                1.0 / (30.0 * 24.0 * hour as f64),
            ][(next() % 3) as usize];
            let r = term(cap, gap, rate);
            let (mut sum, mut count) = (0.0, 0u32);
            for_each_counted(&r, &times, |t| {
                sum += decay_factor(rate, now - t);
                count += 1;
            });
            let (points, n) = r.points_at(&times, now);
            assert_eq!(n, count, "case {case}");
            assert_eq!(points.to_bits(), (r.points * sum).to_bits(), "case {case}");
        }
    }

    #[test]
    fn a_minimum_interval_and_a_cap_keep_the_most_recent_spaced_entries() {
        let hour = 3_600_000i64;
        // Spaced at 24 h: 0, 30, 60 (10 and 40 are too close); the cap keeps 30 and 60.
        let times = [0, 10 * hour, 30 * hour, 40 * hour, 60 * hour];
        let mut counted = Vec::new();
        for_each_counted(&term(Some(2), 24 * hour, 0.0), &times, |t| counted.push(t));
        assert_eq!(counted, [30 * hour, 60 * hour]);
        assert_eq!(
            term(Some(2), 24 * hour, 0.0).points_at(&times, 100 * hour),
            (7.25 * 2.0, 2)
        );
    }
}

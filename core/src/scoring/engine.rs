//! Scoring one contact: fit from its snapshot, engagement from its ledger, decayed to `now`.
//!
//! total(t) = cap_total( cap_fit(Σ fit_i · w_i) + cap_engagement(Σ_j w_j · 2^(−(t − t_j) / h_j)) )
//!
//! The hot path ([`CompiledModel::score_into`]) allocates nothing: the snapshot is bound to the
//! compiled property slots in one merge pass into stack arrays (`bound`), and the sorted ledger
//! is merge-joined with the engagement rules sorted by id.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::compile::{CompiledModel, EngagementRuleC, Label};
use super::contact::{Ledger, Snapshot};
use super::decay::{decay_factor, decay_factor_decaying};
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
        self.for_each_rule_run(ledger, |i, rule, times| {
            let (decayed, count) = rule_points(rule, times, now_ms);
            if count > 0 {
                sum += decayed;
                out.push(Contribution {
                    axis: Axis::Engagement,
                    rule: i,
                    raw: rule.points * f64::from(count),
                    points: decayed,
                    count,
                });
            }
        });
        sum
    }

    /// Calls `f` with each engagement rule that has ledger entries, and their times; a
    /// merge-join of two lists sorted by rule id.
    pub(crate) fn for_each_rule_run<'l>(
        &self,
        ledger: &'l Ledger,
        mut f: impl FnMut(usize, &EngagementRuleC, &'l [i64]),
    ) {
        self.for_each_run(ledger, |run, matched| {
            if let Some((i, rule)) = matched {
                f(i, rule, ledger.run_times(run));
            }
        });
    }

    /// Calls `f(run, rule)` with each run of the ledger and the engagement rule of that id
    /// (with its index) if the model has one.
    #[inline(always)]
    fn for_each_run(
        &self,
        ledger: &Ledger,
        mut f: impl FnMut(usize, Option<(usize, &EngagementRuleC)>),
    ) {
        // Both lists are sorted by id, hence by key; equal keys (a shared 8-byte prefix) are
        // told apart by the full id. Ids of at most 8 bytes are their key and length, so the
        // ledger's id text is read only for longer ones.
        let rules = &self.engagement;
        let mut i = 0;
        for (run, (key, len)) in ledger.run_heads().enumerate() {
            while rules.get(i).is_some_and(|r| r.key < key) {
                i += 1;
            }
            let matched = rules[i.min(rules.len())..]
                .iter()
                .take_while(|r| r.key == key)
                .enumerate()
                .find(|(_, r)| {
                    let id = r.id.as_str();
                    id.len() == len && (len <= 8 || eq_short(id, ledger.run_id(run)))
                })
                .map(|(offset, rule)| (i + offset, rule));
            f(run, matched);
        }
    }
}

/// Whether an entry at `t` is far enough from the previous counted one (`last`, or `i64::MIN`
/// when none counted yet). Times ascend, so with no minimum interval every entry is.
#[inline(always)]
fn spaced(gap: i64, t: i64, last: i64) -> bool {
    gap == 0 || last == i64::MIN || t - last >= gap
}

/// How many of the spaced entries the cap drops (the oldest ones).
#[inline(always)]
fn capped_away(rule: &EngagementRuleC, times: &[i64]) -> usize {
    let gap = rule.min_interval_ms;
    match rule.cap {
        Some(cap) if times.len() > cap && gap == 0 => times.len() - cap,
        Some(cap) if times.len() > cap => {
            let mut last = i64::MIN;
            let mut n = 0usize;
            for &t in times {
                if spaced(gap, t, last) {
                    last = t;
                    n += 1;
                }
            }
            n.saturating_sub(cap)
        }
        _ => 0,
    }
}

/// Calls `f` with the time (ms) of each entry of one rule that counts: a repeat counts only
/// `min_interval` after the previous counted one, and of those only the `cap` most recent count.
/// Times are sorted, so the result depends on the set of entries, not on their arrival order.
pub(crate) fn for_each_counted(rule: &EngagementRuleC, times: &[i64], mut f: impl FnMut(i64)) {
    let (gap, skip) = (rule.min_interval_ms, capped_away(rule, times));
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

/// One rule's decayed points at `now_ms` and how many entries counted: points × Σ decay. The
/// same selection as [`for_each_counted`], written for the hot path: a decay factor is computed
/// only for the entries that count, and summed oldest first.
#[inline(always)]
pub(crate) fn rule_points(rule: &EngagementRuleC, times: &[i64], now_ms: i64) -> (f64, u32) {
    let (gap, rate) = (rule.min_interval_ms, rule.rate_per_ms);
    let (factors, count) = if gap == 0 {
        // Every entry is spaced: the counted ones are the most recent after the cap.
        let skip = match rule.cap {
            Some(cap) => times.len().saturating_sub(cap),
            None => 0,
        };
        let counted = times.get(skip..).unwrap_or_default();
        (
            decay_sum(rate, now_ms, counted.iter().copied()),
            counted.len(),
        )
    } else if let Some((mut counted, spaced)) = spaced_mask(gap, times) {
        // Bit k set when entry k counts: spaced, then the cap drops the oldest.
        let count = rule.cap.map_or(spaced, |cap| spaced.min(cap));
        for _ in count..spaced {
            counted &= counted - 1;
        }
        let ones = std::iter::successors(Some(counted), |m| Some(m & m.wrapping_sub(1)))
            .take_while(|&m| m != 0)
            .map(|m| {
                times
                    .get(m.trailing_zeros() as usize)
                    .copied()
                    .unwrap_or(now_ms)
            });
        (decay_sum(rate, now_ms, ones), count)
    } else {
        let (mut factors, mut count) = (0.0, 0usize);
        for_each_counted(rule, times, |t| {
            factors += decay_factor(rate, now_ms - t);
            count += 1;
        });
        (factors, count)
    };
    (
        rule.points * factors,
        u32::try_from(count).unwrap_or(u32::MAX),
    )
}

/// Σ 2^(−(now − t)·rate) over `times`, in their order, starting from 0 (a rate of 0 sums ones).
#[inline(always)]
fn decay_sum(rate: f64, now_ms: i64, times: impl Iterator<Item = i64>) -> f64 {
    if rate == 0.0 {
        times.fold(0.0, |sum, _| sum + 1.0)
    } else {
        let rate_256 = rate * 256.0;
        times.fold(0.0, |sum, t| {
            sum + decay_factor_decaying(rate_256, now_ms - t)
        })
    }
}

/// Bit k set when entry k of a run (at most 64 entries) is far enough from the previous
/// spaced one (the first always is), and how many are; `None` for longer runs.
#[inline(always)]
fn spaced_mask(gap: i64, times: &[i64]) -> Option<(u64, usize)> {
    if times.len() > 64 {
        return None;
    }
    let (mut mask, mut last, mut n) = (0u64, i64::MIN, 0usize);
    for (k, &t) in times.iter().enumerate() {
        let keep = last == i64::MIN || t - last >= gap;
        last = if keep { t } else { last };
        mask |= u64::from(keep) << k;
        n += usize::from(keep);
    }
    Some((mask, n))
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
    use super::super::compile::MatcherC;
    use super::*;

    fn rule(cap: Option<usize>, min_interval_ms: i64, rate_per_ms: f64) -> EngagementRuleC {
        EngagementRuleC {
            id: super::super::model::RuleId::parse("r").expect("id"),
            key: 0,
            label: "r".into(),
            points: 7.25,
            matcher: MatcherC::External {
                event_type: "x".into(),
            },
            cap,
            min_interval_ms,
            rate_per_ms,
        }
    }

    /// `rule_points` against the plain selection (`for_each_counted`) and `decay_factor`
    /// summed oldest first: the same value bit for bit.
    #[test]
    fn rule_points_is_the_plain_sum_bit_for_bit() {
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
            let cap = (next() % 3 > 0).then(|| (next() % 6) as usize);
            let gap = [0, hour, 24 * hour][(next() % 3) as usize];
            let rate = [
                0.0,
                1.0 / (7.0 * 24.0 * hour as f64),
                1.0 / (30.0 * 24.0 * hour as f64),
            ][(next() % 3) as usize];
            let r = rule(cap, gap, rate);
            let (mut sum, mut count) = (0.0, 0u32);
            for_each_counted(&r, &times, |t| {
                sum += decay_factor(rate, now - t);
                count += 1;
            });
            let (points, n) = rule_points(&r, &times, now);
            assert_eq!(n, count, "case {case}");
            assert_eq!(points.to_bits(), (r.points * sum).to_bits(), "case {case}");
        }
    }
}

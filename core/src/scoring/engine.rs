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
use super::decay::{decay_factor, decay_factor_flat};
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
    ///
    /// A ledger holds a few entries for each of many rules, so a loop per rule would run a few
    /// iterations and mispredict its exit every time. Instead the ledger is merge-joined with
    /// the rules once (per rule: rate, minimum interval, how many the cap drops), then every
    /// entry is walked in one flat, branch-free loop that resets its running sums where a rule's
    /// run starts. The selection and the order of the additions are those of [`rule_points`], so
    /// the result is the same bit for bit (a ledger with more than [`FLAT_RUNS`] rules takes
    /// that per-rule path).
    pub(crate) fn engagement_points(
        &self,
        ledger: &Ledger,
        now_ms: i64,
        out: &mut Vec<Contribution>,
    ) -> f64 {
        if ledger.run_count() > FLAT_RUNS {
            return self.engagement_points_by_rule(ledger, now_ms, out);
        }
        // Per run; a run of a rule the model does not have keeps `skip = u32::MAX`: nothing
        // of it counts.
        let mut rule_of = [usize::MAX; FLAT_RUNS];
        let mut rate = [0.0f64; FLAT_RUNS];
        let mut gap = [0i64; FLAT_RUNS];
        let mut skip = [u32::MAX; FLAT_RUNS];
        let mut cap = [u32::MAX; FLAT_RUNS];
        let mut spacing = false;
        self.for_each_rule_run_at(ledger, |run, i, rule, times| {
            let r = run % FLAT_RUNS;
            rule_of[r] = i;
            rate[r] = rule.rate_per_ms;
            gap[r] = rule.min_interval_ms;
            skip[r] = match rule.cap {
                Some(c) if times.len() > c && rule.min_interval_ms == 0 => {
                    u32::try_from(times.len() - c).unwrap_or(u32::MAX)
                }
                Some(c) if times.len() > c => {
                    // Decided below, once the spaced entries are counted.
                    spacing = true;
                    cap[r] = u32::try_from(c).unwrap_or(u32::MAX);
                    0
                }
                _ => 0,
            };
        });
        let (times, run_of) = ledger.flat();
        if spacing {
            // How many entries of each run are spaced enough, hence how many the cap drops.
            let mut spaced = [0u32; FLAT_RUNS];
            let (mut prev, mut last, mut seen) = (u32::MAX, 0i64, 0u32);
            for (&t, &run) in times.iter().zip(run_of) {
                let r = run as usize % FLAT_RUNS;
                let first = run != prev;
                prev = run;
                let keep = first | (t.wrapping_sub(last) >= gap[r]);
                last = if keep { t } else { last };
                seen = if first { 0 } else { seen } + u32::from(keep);
                spaced[r] = seen;
            }
            for r in 0..FLAT_RUNS {
                if cap[r] != u32::MAX {
                    skip[r] = spaced[r].saturating_sub(cap[r]);
                }
            }
        }
        let mut sums = [0.0f64; FLAT_RUNS];
        let mut counts = [0u32; FLAT_RUNS];
        let (mut prev, mut last, mut seen, mut count, mut sum) = (u32::MAX, 0i64, 0u32, 0u32, 0.0);
        for (&t, &run) in times.iter().zip(run_of) {
            let r = run as usize % FLAT_RUNS;
            let first = run != prev;
            prev = run;
            let keep = first | (t.wrapping_sub(last) >= gap[r]);
            last = if keep { t } else { last };
            seen = if first { 0 } else { seen } + u32::from(keep);
            let take = keep & (seen > skip[r]);
            let factor = decay_factor_flat(rate[r], now_ms - t);
            sum = if first { 0.0 } else { sum } + if take { factor } else { 0.0 };
            count = if first { 0 } else { count } + u32::from(take);
            sums[r] = sum;
            counts[r] = count;
        }
        let mut total = 0.0;
        let rules = &self.engagement;
        for r in 0..ledger.run_count().min(FLAT_RUNS) {
            let (i, count) = (rule_of[r], counts[r]);
            if let Some(rule) = rules.get(i)
                && count > 0
            {
                let decayed = rule.points * sums[r];
                total += decayed;
                out.push(Contribution {
                    axis: Axis::Engagement,
                    rule: i,
                    raw: rule.points * f64::from(count),
                    points: decayed,
                    count,
                });
            }
        }
        total
    }

    /// [`Self::engagement_points`] one rule at a time.
    fn engagement_points_by_rule(
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
                let raw = rule.points * f64::from(count);
                out.push(Contribution {
                    axis: Axis::Engagement,
                    rule: i,
                    raw,
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
        self.for_each_rule_run_at(ledger, |_, i, rule, times| f(i, rule, times));
    }

    /// [`Self::for_each_rule_run`], also passing the index of the ledger's run.
    #[inline(always)]
    fn for_each_rule_run_at<'l>(
        &self,
        ledger: &'l Ledger,
        mut f: impl FnMut(usize, usize, &EngagementRuleC, &'l [i64]),
    ) {
        // Both lists are sorted by name, hence by key; equal keys (a shared 8-byte prefix) are
        // told apart by the full id.
        let rules = &self.engagement;
        let mut i = 0;
        for (run, (key, id, times)) in ledger.runs().enumerate() {
            while rules.get(i).is_some_and(|r| r.key < key) {
                i += 1;
            }
            let same_key = rules[i.min(rules.len())..]
                .iter()
                .take_while(|r| r.key == key);
            if let Some((offset, rule)) = same_key
                .enumerate()
                .find(|(_, r)| eq_short(r.id.as_str(), id))
            {
                f(run, i + offset, rule, times);
            }
        }
    }
}

/// Most rules a ledger may hold for the flat pass of [`CompiledModel::engagement_points`] (its
/// per-run arrays live on the stack); a power of two, so indexing needs no bounds check.
const FLAT_RUNS: usize = 32;

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
/// same selection as [`for_each_counted`], written as plain loops for the hot path.
#[inline]
pub(crate) fn rule_points(rule: &EngagementRuleC, times: &[i64], now_ms: i64) -> (f64, u32) {
    let (gap, skip, rate) = (
        rule.min_interval_ms,
        capped_away(rule, times),
        rule.rate_per_ms,
    );
    let (factors, count) = if gap == 0 {
        // Every entry is spaced: the counted ones are the most recent after the cap.
        let counted = times.get(skip..).unwrap_or_default();
        let factors = if rate == 0.0 {
            counted.len() as f64
        } else {
            counted
                .iter()
                .fold(0.0, |sum, &t| sum + decay_factor(rate, now_ms - t))
        };
        (factors, counted.len())
    } else {
        // Branch-free: whether a repeat is spaced enough is data-dependent and would be
        // mispredicted; computing a factor that is then dropped costs less.
        let (mut last, mut seen, mut count, mut factors) = (i64::MIN, 0usize, 0usize, 0.0);
        for &t in times {
            let keep = (last == i64::MIN) | (t.wrapping_sub(last) >= gap);
            last = if keep { t } else { last };
            seen += usize::from(keep);
            let take = keep & (seen > skip);
            let factor = decay_factor(rate, now_ms - t);
            factors += if take { factor } else { 0.0 };
            count += usize::from(take);
        }
        (factors, count)
    };
    (
        rule.points * factors,
        u32::try_from(count).unwrap_or(u32::MAX),
    )
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

//! The quality of a model on the holdout (docs/calibration.md, "The report").
//!
//! Each holdout contact is scored by the model as of the cutoff (events strictly before it);
//! its score is the unrounded total. From those scores and the labels: ROC AUC (linfa's
//! metrics) with a seeded bootstrap interval, conversion per grade with lift over the base
//! rate, calibration per decile of score, and the score histograms of converters and
//! non-converters.

use std::collections::BTreeMap;

use ember_scoring::{CompiledModel, Model};
use linfa::dataset::Pr;
use linfa::prelude::BinaryClassification;
use ndarray::{Array1, Array2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::CalibrateError;
use crate::features::{Contact, describe, score_as_of};
use crate::fit::{FitOptions, logistic};
use crate::split::{Case, Split, converters};

/// Width of a histogram bin, in points.
pub const HISTOGRAM_BIN_POINTS: f64 = 10.0;
/// Calibration bins: deciles.
pub const CALIBRATION_BINS: usize = 10;

/// Settings of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOptions {
    /// Bootstrap resamples of the holdout.
    pub resamples: usize,
    /// Seed of the bootstrap's generator (the report is reproducible).
    pub seed: u64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            resamples: 200,
            seed: 18,
        }
    }
}

/// A model's quality on the holdout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// The model's version.
    pub model_version: u32,
    /// Holdout contacts.
    pub contacts: usize,
    /// Converters among them.
    pub converters: usize,
    /// converters / contacts.
    pub base_rate: f64,
    /// Area under the ROC curve of the scores (0.5: no better than chance).
    pub auc: f64,
    /// Its bootstrap 95% interval.
    pub auc_interval: AucInterval,
    /// Conversion per grade, highest grade first; `grade` is null for contacts without one.
    pub grades: Vec<GradeRow>,
    /// Mean predicted probability and observed rate per decile of score, lowest first.
    pub calibration: Vec<CalibrationBin>,
    /// Rounded scores of converters and non-converters, in bins of 10 points.
    pub histogram: Vec<HistogramBin>,
}

/// A percentile bootstrap interval of the AUC.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AucInterval {
    /// 2.5th percentile of the resampled AUCs.
    pub low: f64,
    /// 97.5th percentile.
    pub high: f64,
    /// Resamples drawn.
    pub resamples: usize,
    /// Resamples left out because they held one class only.
    pub one_class_resamples: usize,
    /// The generator's seed.
    pub seed: u64,
}

/// Conversion among the holdout contacts of one grade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradeRow {
    /// The grade, or `None` for contacts the model gives no grade.
    pub grade: Option<String>,
    /// Contacts with this grade.
    pub contacts: usize,
    /// Converters among them.
    pub converters: usize,
    /// converters / contacts.
    pub conversion_rate: f64,
    /// conversion_rate / base rate.
    pub lift: f64,
}

/// One decile of score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// 1 (lowest scores) to 10.
    pub decile: usize,
    /// Contacts in it.
    pub contacts: usize,
    /// Lowest score in it.
    pub min_score: f64,
    /// Highest score in it.
    pub max_score: f64,
    /// Mean score.
    pub mean_score: f64,
    /// Mean predicted probability of converting: the scores mapped to a probability by a
    /// logistic fit of the train set's labels on its scores (Platt scaling); `None` when the
    /// train set has one class only.
    pub mean_predicted: Option<f64>,
    /// Share of its contacts that converted.
    pub observed_rate: f64,
}

/// Contacts whose rounded score is in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramBin {
    /// Lowest score of the bin.
    pub from: f64,
    /// First score above it.
    pub to: f64,
    /// Converters.
    pub converters: usize,
    /// Non-converters.
    pub non_converters: usize,
}

/// Scores of `cases` by `model` (unrounded totals) and their grades.
fn scores(
    model: &CompiledModel,
    contacts: &[Contact],
    cases: &[Case],
) -> (Vec<f64>, Vec<Option<String>>) {
    cases
        .iter()
        .map(|c| {
            let s = score_as_of(model, &contacts[c.contact], c.as_of);
            (s.total, s.grade.as_deref().map(str::to_owned))
        })
        .unzip()
}

/// The quality of `model` on the holdout of `split`.
pub fn report(
    model: &Model,
    contacts: &[Contact],
    split: &Split,
    options: &ReportOptions,
) -> Result<QualityReport, CalibrateError> {
    let compiled = model
        .validate()
        .map_err(|e| CalibrateError::InvalidModel(describe(&e)))?;
    let holdout = &split.holdout;
    let positives = converters(holdout);
    if positives == 0 || positives == holdout.len() {
        return Err(CalibrateError::OneClass {
            set: "holdout",
            contacts: holdout.len(),
            converters: positives,
        });
    }
    let (holdout_scores, grades) = scores(&compiled, contacts, holdout);
    let labels: Vec<bool> = holdout.iter().map(|c| c.converted).collect();
    let base_rate = positives as f64 / holdout.len() as f64;
    let platt = platt_scaling(&compiled, contacts, &split.train);
    Ok(QualityReport {
        model_version: model.version,
        contacts: holdout.len(),
        converters: positives,
        base_rate,
        auc: auc(&holdout_scores, &labels),
        auc_interval: bootstrap(&holdout_scores, &labels, options),
        grades: grade_rows(model, &grades, &labels, base_rate),
        calibration: calibration(&holdout_scores, &labels, platt),
        histogram: histogram(&holdout_scores, &labels),
    })
}

/// ROC AUC of `scores` against `labels` (both classes present), with linfa's ROC curve.
///
/// linfa's curve needs probabilities in [0, 1], and it loses the first group of tied
/// predictions when that group is exactly 0 (its curve then starts after them, not at the
/// origin), so scores are mapped onto [0.05, 0.95], never 0. The map is increasing, so the AUC
/// is that of the scores; ties count one half, as the curve joins tied groups by a straight
/// segment.
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let (min, max) = scores
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &s| {
            (lo.min(s), hi.max(s))
        });
    let span = max - min;
    let probabilities: Vec<Pr> = scores
        .iter()
        .map(|&s| {
            let unit = if span > 0.0 { (s - min) / span } else { 0.5 };
            Pr::new((0.05 + 0.9 * unit) as f32)
        })
        .collect();
    probabilities
        .as_slice()
        .roc(labels)
        .map(|roc| f64::from(roc.area_under_curve()))
        .unwrap_or(f64::NAN)
}

/// The percentile bootstrap 95% interval of the AUC.
fn bootstrap(scores: &[f64], labels: &[bool], options: &ReportOptions) -> AucInterval {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let n = scores.len();
    let mut aucs = Vec::with_capacity(options.resamples);
    let (mut sample_scores, mut sample_labels) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut one_class = 0;
    for _ in 0..options.resamples {
        sample_scores.clear();
        sample_labels.clear();
        for _ in 0..n {
            let i = rng.random_range(0..n);
            sample_scores.push(scores[i]);
            sample_labels.push(labels[i]);
        }
        let positives = sample_labels.iter().filter(|&&l| l).count();
        if positives == 0 || positives == n {
            one_class += 1;
            continue;
        }
        aucs.push(auc(&sample_scores, &sample_labels));
    }
    aucs.sort_by(f64::total_cmp);
    AucInterval {
        low: percentile(&aucs, 0.025),
        high: percentile(&aucs, 0.975),
        resamples: options.resamples,
        one_class_resamples: one_class,
        seed: options.seed,
    }
}

/// The `q` quantile of sorted values (nearest rank); NaN when there are none.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Conversion per grade, in the model's grade order (highest first), then contacts without a
/// grade.
fn grade_rows(
    model: &Model,
    grades: &[Option<String>],
    labels: &[bool],
    base_rate: f64,
) -> Vec<GradeRow> {
    let mut counts: BTreeMap<Option<&str>, (usize, usize)> = BTreeMap::new();
    for (grade, &converted) in grades.iter().zip(labels) {
        let entry = counts.entry(grade.as_deref()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(converted);
    }
    let mut bands: Vec<(f64, &str)> = model
        .grades
        .iter()
        .map(|b| (b.min.unwrap_or(f64::NEG_INFINITY), b.label.as_str()))
        .collect();
    bands.sort_by(|a, b| b.0.total_cmp(&a.0));
    let order = bands
        .iter()
        .map(|&(_, label)| Some(label))
        .chain(std::iter::once(None));
    order
        .filter_map(|grade| {
            let &(contacts, converters) = counts.get(&grade)?;
            let conversion_rate = converters as f64 / contacts as f64;
            Some(GradeRow {
                grade: grade.map(str::to_owned),
                contacts,
                converters,
                conversion_rate,
                lift: conversion_rate / base_rate,
            })
        })
        .collect()
}

/// Maps a score to a probability of converting: `1 / (1 + e^−(a·score + b))`.
#[derive(Debug, Clone, Copy)]
struct Platt {
    slope: f64,
    intercept: f64,
}

impl Platt {
    fn probability(&self, score: f64) -> f64 {
        1.0 / (1.0 + (-(self.slope * score + self.intercept)).exp())
    }
}

/// Platt scaling fitted on the train set's scores, or `None` when it has one class only or
/// the regression fails.
fn platt_scaling(model: &CompiledModel, contacts: &[Contact], train: &[Case]) -> Option<Platt> {
    let (train_scores, _) = scores(model, contacts, train);
    let x = Array2::from_shape_vec((train_scores.len(), 1), train_scores).ok()?;
    let y: Array1<bool> = train.iter().map(|c| c.converted).collect();
    let positives = y.iter().filter(|&&l| l).count();
    if positives == 0 || positives == y.len() {
        return None;
    }
    let (slope, intercept) = logistic(x, y, &FitOptions::default()).ok()?;
    Some(Platt {
        slope: slope[0],
        intercept,
    })
}

/// Calibration per decile of score: the holdout sorted by score, cut into ten groups of equal
/// size (by rank, so tied scores may fall into neighbouring deciles).
fn calibration(scores: &[f64], labels: &[bool], platt: Option<Platt>) -> Vec<CalibrationBin> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let n = order.len();
    (0..CALIBRATION_BINS)
        .filter_map(|d| {
            let members = &order[d * n / CALIBRATION_BINS..(d + 1) * n / CALIBRATION_BINS];
            if members.is_empty() {
                return None;
            }
            let count = members.len() as f64;
            let mean =
                |f: &dyn Fn(usize) -> f64| members.iter().map(|&i| f(i)).sum::<f64>() / count;
            Some(CalibrationBin {
                decile: d + 1,
                contacts: members.len(),
                min_score: scores[members[0]],
                max_score: scores[members[members.len() - 1]],
                mean_score: mean(&|i| scores[i]),
                mean_predicted: platt.map(|p| mean(&|i| p.probability(scores[i]))),
                observed_rate: mean(&|i| f64::from(u8::from(labels[i]))),
            })
        })
        .collect()
}

/// Rounded scores in bins of [`HISTOGRAM_BIN_POINTS`], from the bin of the lowest to that of
/// the highest.
fn histogram(scores: &[f64], labels: &[bool]) -> Vec<HistogramBin> {
    let bin_of =
        |s: f64| (ember_scoring::round_score(s) as f64 / HISTOGRAM_BIN_POINTS).floor() as i64;
    let (lo, hi) = scores.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &s| {
        (lo.min(bin_of(s)), hi.max(bin_of(s)))
    });
    if lo > hi {
        return Vec::new();
    }
    let mut bins: Vec<HistogramBin> = (lo..=hi)
        .map(|b| HistogramBin {
            from: b as f64 * HISTOGRAM_BIN_POINTS,
            to: (b + 1) as f64 * HISTOGRAM_BIN_POINTS,
            converters: 0,
            non_converters: 0,
        })
        .collect();
    for (&s, &converted) in scores.iter().zip(labels) {
        let bin = &mut bins[(bin_of(s) - lo) as usize];
        if converted {
            bin.converters += 1;
        } else {
            bin.non_converters += 1;
        }
    }
    bins
}

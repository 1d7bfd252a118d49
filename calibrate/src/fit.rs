//! The fit: a logistic regression on the train set's rule features (linfa-logistic), turned
//! into a draft model with readable points (docs/calibration.md, "Fit" and "Rounding").
//!
//! Points are the coefficients scaled so that the largest |coefficient| becomes the input
//! model's largest |points|, rounded to a multiple of 5; a rule whose coefficient is at least
//! [`FitOptions::removal_threshold`] of the largest gets at least 5 points (−5 when negative),
//! any other rule gets 0 and is suggested for removal. The intercept is not part of a model
//! (adding a constant to every score changes no ranking) and is reported only.

use chrono::{DateTime, Utc};
use ember_scoring::{Axis, Model, RuleId};
use linfa::Dataset;
use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::Serialize;

use crate::CalibrateError;
use crate::features::{Contact, FeatureSet, describe};
use crate::split::{Case, Split, converters};

/// Points are multiples of this.
pub const POINT_STEP: f64 = 5.0;

/// Settings of a fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// L2 penalty of the regression (linfa-logistic's `alpha`), on the sum of the losses.
    pub alpha: f64,
    /// Iterations of the optimizer at most.
    pub max_iterations: u64,
    /// A rule whose |coefficient| is below this fraction of the largest is suggested for
    /// removal and gets 0 points.
    pub removal_threshold: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            max_iterations: 200,
            removal_threshold: 0.1,
        }
    }
}

/// One rule's learned weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleWeight {
    /// The rule.
    pub rule: RuleId,
    /// Its axis.
    pub axis: Axis,
    /// Its points in the input model.
    pub input_points: f64,
    /// The regression coefficient (log-odds per unit of the feature).
    pub coefficient: f64,
    /// Its points in the draft.
    pub points: f64,
    /// Whether its coefficient is insignificant.
    pub suggested_for_removal: bool,
}

/// The outcome of a fit.
#[derive(Debug, Clone)]
pub struct FitResult {
    /// The draft: the input model with the learned points, its version one higher.
    pub draft: Model,
    /// Every rule's weight, in feature order (fit rules, then engagement rules).
    pub weights: Vec<RuleWeight>,
    /// The regression's intercept (not part of the draft).
    pub intercept: f64,
    /// How the coefficients were scaled to points: points per unit of coefficient.
    pub points_per_coefficient: f64,
    /// Train examples and converters among them.
    pub train_contacts: usize,
    /// Converters in the train set.
    pub train_converters: usize,
}

impl FitResult {
    /// The ids of the rules suggested for removal.
    pub fn suggested_for_removal(&self) -> Vec<&RuleId> {
        self.weights
            .iter()
            .filter(|w| w.suggested_for_removal)
            .map(|w| &w.rule)
            .collect()
    }
}

/// The feature matrix of `cases`: one row per case.
pub fn feature_matrix(features: &FeatureSet, contacts: &[Contact], cases: &[Case]) -> Array2<f64> {
    let mut x = Array2::zeros((cases.len(), features.len()));
    for (mut row, case) in x.rows_mut().into_iter().zip(cases) {
        if let Some(slice) = row.as_slice_mut() {
            features.features_into(&contacts[case.contact], case.as_of, slice);
        }
    }
    x
}

/// Fits `model`'s rule weights on the train set of `split`.
pub fn fit(
    model: &Model,
    contacts: &[Contact],
    split: &Split,
    options: &FitOptions,
) -> Result<FitResult, CalibrateError> {
    let features = FeatureSet::new(model)?;
    let train_converters = converters(&split.train);
    if train_converters == 0 || train_converters == split.train.len() {
        return Err(CalibrateError::OneClass {
            set: "train",
            contacts: split.train.len(),
            converters: train_converters,
        });
    }
    let x = feature_matrix(&features, contacts, &split.train);
    let y: Array1<bool> = split.train.iter().map(|c| c.converted).collect();
    let (coefficients, intercept) = logistic(x, y, options)?;
    let range = point_range(model);
    let largest = coefficients.iter().fold(0.0f64, |m, c| m.max(c.abs()));
    let scale = if largest > 0.0 { range / largest } else { 0.0 };
    let mut draft = model.clone();
    draft.version = model.version.saturating_add(1);
    draft.name = Some(format!(
        "{} (draft fitted at cutoff {})",
        model.name.as_deref().unwrap_or("model"),
        rfc3339(split.cutoff)
    ));
    let mut weights = Vec::with_capacity(features.len());
    for (column, (id, axis)) in features.rules().iter().enumerate() {
        let coefficient = coefficients[column];
        let significant = largest > 0.0 && coefficient.abs() >= options.removal_threshold * largest;
        let points = if significant {
            readable_points(coefficient * scale)
        } else {
            0.0
        };
        let input_points = match axis {
            Axis::Fit => set_points(
                draft.fit.iter_mut().map(|r| (&r.id, &mut r.points)),
                id,
                points,
            ),
            Axis::Engagement => set_points(
                draft.engagement.iter_mut().map(|r| (&r.id, &mut r.points)),
                id,
                points,
            ),
        };
        weights.push(RuleWeight {
            rule: id.clone(),
            axis: *axis,
            input_points,
            coefficient,
            points,
            suggested_for_removal: !significant,
        });
    }
    // The draft differs from a valid model only in its points, which are finite: it validates
    // unless scoring's rules changed; say so rather than hand back an unusable draft.
    draft
        .validate()
        .map_err(|e| CalibrateError::InvalidModel(format!("the draft: {}", describe(&e))))?;
    Ok(FitResult {
        draft,
        weights,
        intercept,
        points_per_coefficient: scale,
        train_contacts: split.train.len(),
        train_converters,
    })
}

/// Coefficients (log-odds of converting) and intercept of a logistic regression.
pub(crate) fn logistic(
    x: Array2<f64>,
    y: Array1<bool>,
    options: &FitOptions,
) -> Result<(Array1<f64>, f64), CalibrateError> {
    let fitted = LogisticRegression::default()
        .alpha(options.alpha)
        .max_iterations(options.max_iterations)
        .fit(&Dataset::new(x, y))
        .map_err(|e| CalibrateError::Regression(e.to_string()))?;
    // linfa-logistic models the probability of its "positive" class, which is the more
    // frequent one: usually the non-converters. Flip the signs so they are about converting.
    if fitted.labels().pos.class {
        Ok((fitted.params().clone(), fitted.intercept()))
    } else {
        Ok((-fitted.params(), -fitted.intercept()))
    }
}

/// The input model's largest |points| over its rules: the draft's points span the same range.
/// 25 when every rule has 0 points (the starter model's largest fit rule).
fn point_range(model: &Model) -> f64 {
    let largest = model
        .fit
        .iter()
        .map(|r| r.points)
        .chain(model.engagement.iter().map(|r| r.points))
        .fold(0.0f64, |m, p| m.max(p.abs()));
    if largest > 0.0 { largest } else { 25.0 }
}

/// A scaled coefficient as readable points: the nearest multiple of 5, and at least 5 away
/// from zero (a significant rule keeps its sign).
pub fn readable_points(scaled: f64) -> f64 {
    let rounded = (scaled / POINT_STEP).round() * POINT_STEP;
    if scaled > 0.0 {
        rounded.max(POINT_STEP)
    } else {
        rounded.min(-POINT_STEP)
    }
}

/// Sets the points of rule `id`, returning its previous points.
fn set_points<'a>(
    rules: impl Iterator<Item = (&'a RuleId, &'a mut f64)>,
    id: &RuleId,
    points: f64,
) -> f64 {
    for (rule, slot) in rules {
        if rule == id {
            let before = *slot;
            *slot = points;
            return before;
        }
    }
    0.0
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

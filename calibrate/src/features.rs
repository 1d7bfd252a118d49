//! Features without leakage: a contact's rule contributions as of a point in time.
//!
//! The feature of a fit rule is 1 when it matches the contact's properties and 0 otherwise;
//! the feature of an engagement rule is its decayed count: Σ over its counted events of
//! `2^(−age / half_life)` at the as-of time (the plain count when the rule does not decay),
//! after its cap and minimum interval. Both come from the scoring engine's own explanation
//! ([`Scored::contributions`](ember_scoring::Scored)) of a copy of the model whose rules are
//! all worth one point, so a feature is exactly what one point of the rule adds to a score.
//!
//! As of `t`: only the contact's events with `occurred_at < t` (strictly before) make ledger
//! entries, and the score is taken at `t`. The export keeps only the latest property values, so
//! a property that changed after `t` cannot be rewound: fit features read the latest values
//! (docs/calibration.md, "As of a time").

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ember_scoring::{
    Axis, Caps, CompiledModel, EngagementSignal, Ledger, Model, RuleId, Scored, Snapshot,
};

use crate::CalibrateError;

/// One contact with its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// Its id.
    pub id: String,
    /// Its latest properties.
    pub properties: Snapshot,
    /// Its engagement signals, in any order.
    pub events: Vec<EngagementSignal>,
    /// When it converted; `None`: not converted (as far as the data knows).
    pub converted_at: Option<DateTime<Utc>>,
}

/// The features of one model: one column per rule, fit rules in model order, then engagement
/// rules in model order.
#[derive(Debug, Clone)]
pub struct FeatureSet {
    /// The model with every rule worth one point and no caps.
    unit: CompiledModel,
    /// Column of each rule id.
    columns: HashMap<RuleId, usize>,
    /// Rule id and axis of each column.
    rules: Vec<(RuleId, Axis)>,
}

impl FeatureSet {
    /// The features of `model`'s rules.
    pub fn new(model: &Model) -> Result<Self, CalibrateError> {
        let mut unit = model.clone();
        // Caps, grades and the matrix do not change contributions; dropping them keeps the
        // one-point copy valid whatever bounds the model has.
        unit.caps = Caps::default();
        unit.grades.clear();
        unit.matrix = None;
        for rule in &mut unit.fit {
            rule.points = 1.0;
        }
        for rule in &mut unit.engagement {
            rule.points = 1.0;
        }
        let unit = unit
            .validate()
            .map_err(|e| CalibrateError::InvalidModel(describe(&e)))?;
        let rules: Vec<(RuleId, Axis)> = model
            .fit
            .iter()
            .map(|r| (r.id.clone(), Axis::Fit))
            .chain(
                model
                    .engagement
                    .iter()
                    .map(|r| (r.id.clone(), Axis::Engagement)),
            )
            .collect();
        if rules.is_empty() {
            return Err(CalibrateError::NoRules);
        }
        let columns = rules
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.clone(), i))
            .collect();
        Ok(Self {
            unit,
            columns,
            rules,
        })
    }

    /// How many features (rules) there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no feature (never: [`FeatureSet::new`] refuses a model without rules).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule id and axis of each column.
    pub fn rules(&self) -> &[(RuleId, Axis)] {
        &self.rules
    }

    /// Writes the contact's features as of `as_of` into `out` (one value per column).
    pub fn features_into(&self, contact: &Contact, as_of: DateTime<Utc>, out: &mut [f64]) {
        out.fill(0.0);
        let scored = score_as_of(&self.unit, contact, as_of);
        for c in &scored.contributions {
            let column = self
                .unit
                .rule_id(c.axis, c.rule)
                .and_then(|id| self.columns.get(id));
            if let Some(&column) = column {
                out[column] = c.points;
            }
        }
    }

    /// The contact's features as of `as_of`.
    pub fn features(&self, contact: &Contact, as_of: DateTime<Utc>) -> Vec<f64> {
        let mut out = vec![0.0; self.len()];
        self.features_into(contact, as_of, &mut out);
        out
    }
}

/// Every validation problem, one per line.
pub(crate) fn describe(errors: &ember_scoring::ValidationErrors) -> String {
    errors
        .errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The contact's ledger as of `as_of`: entries of its events strictly before it.
pub fn ledger_as_of(model: &CompiledModel, contact: &Contact, as_of: DateTime<Utc>) -> Ledger {
    contact
        .events
        .iter()
        .filter(|e| e.occurred_at < as_of)
        .flat_map(|e| model.ledger_entries(e))
        .collect()
}

/// The contact scored by `model` as of `as_of` (see the module documentation).
pub fn score_as_of(model: &CompiledModel, contact: &Contact, as_of: DateTime<Utc>) -> Scored {
    let ledger = ledger_as_of(model, contact, as_of);
    model.score(&contact.properties, &ledger, as_of)
}

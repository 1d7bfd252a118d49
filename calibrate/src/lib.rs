//! Learned rule weights and holdout quality for Ember models (pure: no I/O, no async).
//!
//! From contacts with known conversion times, a model and a cutoff date:
//!
//! - [`features`]: each contact's per-rule contributions (fit rule matched 0/1, engagement rule
//!   decayed count) as of a time, from events strictly before that time;
//! - [`split`]: the time split at the cutoff into a train set (outcomes known before it) and a
//!   holdout (what happened after it);
//! - [`fit`]: a logistic regression (linfa-logistic) on the train set, turned into a draft
//!   model in Ember's rule format with readable points;
//! - [`report`]: the quality of any model on the holdout (ROC AUC with a bootstrap interval,
//!   conversion per grade, calibration bins, score histograms).
//!
//! The definitions are in docs/calibration.md.

pub mod features;
pub mod fit;
pub mod report;
pub mod split;

pub use features::{Contact, FeatureSet};
pub use fit::{FitOptions, FitResult, RuleWeight, fit};
pub use report::{
    AucInterval, CalibrationBin, GradeRow, HistogramBin, QualityReport, ReportOptions, report,
};
pub use split::{Case, Split};

/// Why a fit or a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The model does not validate (the input, or a draft, which would be a bug).
    #[error("the model is not valid: {0}")]
    InvalidModel(String),
    /// A set needs converters and non-converters.
    #[error(
        "the {set} set has {converters} converter(s) among {contacts} contact(s): it needs both converters and non-converters"
    )]
    OneClass {
        /// `train` or `holdout`.
        set: &'static str,
        /// Contacts in the set.
        contacts: usize,
        /// Converters among them.
        converters: usize,
    },
    /// The model has no rule to learn a weight for.
    #[error("the model has no fit or engagement rule to learn weights for")]
    NoRules,
    /// linfa-logistic failed.
    #[error("the logistic regression failed: {0}")]
    Regression(String),
}

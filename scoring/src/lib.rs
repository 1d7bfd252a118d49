//! Lead scoring: the per-portal model and the pure functions that score a contact with it
//! (no I/O, no async).
//!
//! The worker holds, per contact, a property [`Snapshot`] and an engagement [`Ledger`]; it
//! turns each incoming [`EngagementSignal`] into ledger entries with
//! [`CompiledModel::ledger_entries`], then calls [`score`] and writes
//! [`Scored::hubspot_values`] to HubSpot, and stores [`next_change_at`] so that the decay sweep
//! rescores only contacts that are due.
//!
//! ```text
//! total(t) = cap_total( cap_fit(Σ fit_i · w_i) + cap_engagement(Σ_j w_j · 2^(−(t − t_j) / half_life_j)) )
//! ```
//!
//! - [`Model`] is the document (YAML or JSON, JSON Schema from [`Model::json_schema`]);
//!   [`Model::parse`] and [`Model::validate`] report every problem with its path, all at once.
//! - [`CompiledModel`] is built once per model version; scoring with it does not allocate
//!   ([`CompiledModel::score_into`]).
//! - Order independence: the ledger is kept sorted by rule and time, and per-rule caps and
//!   minimum intervals are applied on that order, so the arrival order of events never matters.
//! - Rounding: the value written to HubSpot is `⌊total + ½⌋` ([`round_score`]).
//! - Semantics worth knowing: text tests ignore case and surrounding spaces; `contains_any`
//!   matches whole words; a cap keeps the most recent counted events; an event stamped after
//!   `now` (clock skew) counts in full; negative engagement fades towards zero, so decay can
//!   raise a total that has negative engagement.
//! - [`next_change_at`] takes the snapshot too: the fit axis and the caps decide where the
//!   rounding boundaries of the total lie.
//!
//! Files: `model` (document types), `parse` (reading), `validate` (checks), `lists` (built-in
//! lists in `scoring/data/lists`), `compile` (compiled form), `contact` (snapshot, ledger,
//! signals), `bound` (fit rules on a bound snapshot), `engine` (scoring), `decay` (the decay
//! factor), `schedule` (next change), `output` (explanation and HubSpot values), `reads` (the
//! contact properties a model reads, [`Model::read_properties`]), `text` (case-insensitive
//! matching).

mod bound;
mod compile;
mod contact;
mod decay;
mod engine;
mod lists;
mod model;
mod output;
mod parse;
mod reads;
mod schedule;
mod text;
mod validate;

pub use compile::{CompiledModel, Label};
pub use contact::{EngagementSignal, ExportedContact, Ledger, LedgerEntry, SignalKind, Snapshot};
pub use engine::{Axis, Contribution, Scored, round_score, score};
pub use lists::{
    ACADEMIC_DOMAINS, BUILTIN_LIST_NAMES, COMPETITORS, FREEMAIL, STUDENT_TITLES, builtin_list,
};
pub use model::{
    Band, Bounds, Caps, Condition, Decay, DomainTest, EngagementRule, EventMatcher, FitRule,
    ListEdit, ListOverrides, Matrix, Model, OutputMapping, PropertyNumber, PropertyOnly,
    PropertyRange, PropertyTerms, PropertyText, PropertyTexts, RuleId, RuleIdError, TextValue,
};
pub use output::ExplainedRule;
pub use parse::Format;
pub use schedule::next_change_at;
pub use validate::{
    MAX_DOMAIN_PROPERTIES, MAX_DOMAIN_SETS, MAX_NUMBER_PROPERTIES, MAX_PROPERTIES,
    ValidationErrors, ValidationIssue,
};

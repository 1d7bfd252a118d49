//! Wire JSON to domain events: the one place where HubSpot's loose types (ids as numbers or
//! strings, dates as epoch milliseconds or ISO 8601, booleans as `true` or `"true"`) become typed
//! values. Every failure names the event index and the field, and all of a body's problems are
//! reported at once (up to [`MAX_REPORTED_ERRORS`]).
//!
//! NUL characters (U+0000) are removed from every string value and key, each removal noted in
//! [`Normalized::notes`]: PostgreSQL cannot store them, and a 400 would make HubSpot retry the
//! whole batch, good events included, for a day (docs/intake.md, "NUL characters"). For the
//! same reason an app event of a type Ember does not use is dropped with its reason, not
//! refused ([`Normalized::dropped`]), and a generic contact event (`object.*`, `0-1`) takes
//! its legacy name so that both shapes of one change are one event (`shape`).

mod app;
mod shape;
mod value;
mod workflow;

use std::fmt;

pub use app::{AppBodyLimits, normalize_app_webhook};
pub use shape::{CONTACT_OBJECT_TYPE_ID, DropReason, Dropped};
pub use value::NUL_REMOVED;
pub use workflow::{WorkflowRequest, normalize_workflow_webhook};

/// How many problems one rejection lists; a body with more says how many were left out.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// What a body normalized into, with notes on what had to be cleaned on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized<T> {
    pub events: T,
    /// Values accepted after cleaning (a NUL character removed), each naming event and field.
    pub notes: Vec<FieldError>,
    /// Events of types Ember does not use, left out of `events` (app webhooks only).
    pub dropped: Vec<Dropped>,
}

/// One thing wrong with a body (or, in [`Normalized::notes`], cleaned in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Index of the event in the body's array, for app webhooks.
    pub index: Option<usize>,
    /// The field, in HubSpot's spelling (`occurredAt`), or empty for the body itself.
    pub field: String,
    pub problem: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.index, self.field.is_empty()) {
            (Some(i), false) => write!(f, "event[{i}].{}: {}", self.field, self.problem),
            (Some(i), true) => write!(f, "event[{i}]: {}", self.problem),
            (None, false) => write!(f, "{}: {}", self.field, self.problem),
            (None, true) => f.write_str(&self.problem),
        }
    }
}

/// Why a body was rejected: what the intake answers with a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NormalizeError {
    pub errors: Vec<FieldError>,
    /// Problems found beyond the ones listed.
    pub more: usize,
    /// A short machine-readable reason for metrics (`malformed_json`, `too_many_events`...).
    pub reason: &'static str,
}

impl NormalizeError {
    fn body(reason: &'static str, problem: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                index: None,
                field: String::new(),
                problem: problem.into(),
            }],
            more: 0,
            reason,
        }
    }
}

impl fmt::Display for NormalizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        if self.more > 0 {
            write!(f, "; and {} more", self.more)?;
        }
        Ok(())
    }
}

/// Collects field errors, keeping the first [`MAX_REPORTED_ERRORS`].
#[derive(Default)]
struct Problems {
    errors: Vec<FieldError>,
    more: usize,
}

impl Problems {
    fn push(&mut self, index: Option<usize>, field: &str, problem: impl Into<String>) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(FieldError {
                index,
                field: field.to_owned(),
                problem: problem.into(),
            });
        } else {
            self.more += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    fn into_error(self) -> NormalizeError {
        NormalizeError {
            errors: self.errors,
            more: self.more,
            reason: "invalid_field",
        }
    }
}

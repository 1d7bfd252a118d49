//! The time split at the cutoff (docs/calibration.md, "The split").
//!
//! - Train: every contact. A contact that converted before the cutoff is a positive example
//!   as of its conversion time (events strictly before it); any other contact is a negative
//!   example as of the cutoff.
//! - Holdout: the contacts that had not converted before the cutoff, as of the cutoff; a
//!   positive is a conversion at or after the cutoff.
//!
//! A contact that converts after the cutoff is thus a negative in train (its outcome was not
//! known yet) and a positive in the holdout; nothing that happened at or after the cutoff
//! reaches either set's features.

use chrono::{DateTime, Utc};

use crate::features::Contact;

/// One example: which contact, as of when, and whether it converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Index of the contact in the slice the split was made from.
    pub contact: usize,
    /// The time its features and score are taken at.
    pub as_of: DateTime<Utc>,
    /// The label.
    pub converted: bool,
}

/// The train set and the holdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The cutoff.
    pub cutoff: DateTime<Utc>,
    /// Outcomes known before the cutoff.
    pub train: Vec<Case>,
    /// What happened after the cutoff.
    pub holdout: Vec<Case>,
}

impl Split {
    /// Splits `contacts` at `cutoff`.
    pub fn new(contacts: &[Contact], cutoff: DateTime<Utc>) -> Self {
        let mut train = Vec::with_capacity(contacts.len());
        let mut holdout = Vec::with_capacity(contacts.len());
        for (i, c) in contacts.iter().enumerate() {
            match c.converted_at {
                Some(at) if at < cutoff => train.push(Case {
                    contact: i,
                    as_of: at,
                    converted: true,
                }),
                later => {
                    train.push(Case {
                        contact: i,
                        as_of: cutoff,
                        converted: false,
                    });
                    holdout.push(Case {
                        contact: i,
                        as_of: cutoff,
                        converted: later.is_some(),
                    });
                }
            }
        }
        Self {
            cutoff,
            train,
            holdout,
        }
    }
}

/// How many of `cases` converted.
pub fn converters(cases: &[Case]) -> usize {
    cases.iter().filter(|c| c.converted).count()
}

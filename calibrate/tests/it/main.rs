//! ember-calibrate's tests: the split, features as of a time, the fit on a synthetic portal
//! with known weights, leakage, and the report.

mod fit;
mod fixture;
mod report;
mod split;

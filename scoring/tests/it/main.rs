//! The scoring model from outside the crate: the shipped data, the worked examples, properties
//! over generated models, and validation of bad documents, in one test binary.

mod default_model;
mod examples;
mod properties;
mod validation;

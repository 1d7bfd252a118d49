//! Request extractors of the console and admin API.

mod session;

pub use session::{CsrfForm, CurrentPerson};

//! What the admin API (`crate::routes::admin`) and the console (`crate::console`) both do, in
//! `ApiError` terms: a portal's health, its dead letters and their replay, an agency's invites.
//! Each side calls these and renders the answer its own way (JSON or a page), so neither imports
//! the other's modules.

pub(crate) mod dead_letters;
pub(crate) mod health;
pub(crate) mod invites;

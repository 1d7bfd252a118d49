//! ember-hubspot: the HubSpot HTTP client and HubSpot's wire types.
//! placeholder
pub mod wire;

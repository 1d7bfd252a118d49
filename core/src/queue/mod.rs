//! RabbitMQ: the topology Ember declares and the confirmed publisher the intake uses.
//!
//! Names all start with the configured prefix, so test runs and deployments can share a broker.

mod coalesce;
pub mod dead_letters;
mod publisher;
mod topology;

pub use coalesce::{CoalesceSettings, CoalescingPublisher, SharedPublishError};
pub use publisher::{PublishError, Publisher};
pub use topology::{Topology, declare_topology};

/// Routing key of a portal's events: consumers may bind per portal range later.
pub fn routing_key(portal: crate::domain::PortalId) -> String {
    format!("portal.{portal}")
}

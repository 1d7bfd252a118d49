//! The dead-letter queue: what `ember dlq list` shows and `ember dlq replay` sends back.
//!
//! The reading and replaying live in [`ember_core::queue::dead_letters`], which the admin API
//! shares; this module is the CLI's entry to it. See there for how listing leaves every message
//! in the queue and how replay gives a message a fresh set of attempts.

use anyhow::Context;
use ember_core::queue::Topology;
use ember_core::queue::dead_letters;

pub use dead_letters::DeadLetter;

/// Up to `limit` dead letters, oldest first; they stay in the queue.
pub async fn list(url: &str, topology: &Topology, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
    dead_letters::list(url, topology, limit)
        .await
        .with_context(|| format!("cannot list {}", topology.dead_letter_queue()))
}

/// Sends up to `limit` dead letters (all if `None`) back to the events exchange; returns how many.
pub async fn replay(url: &str, topology: &Topology, limit: Option<usize>) -> anyhow::Result<usize> {
    dead_letters::replay(url, topology, limit)
        .await
        .with_context(|| format!("cannot replay {}", topology.dead_letter_queue()))
}

#[cfg(test)]
mod tests {
    use crate::runner;

    /// The runner writes the failure headers that the shared reader reads.
    #[test]
    fn the_runner_and_the_reader_agree_on_header_names() {
        use ember_core::queue::dead_letters as shared;
        assert_eq!(runner::ATTEMPTS_HEADER, shared::ATTEMPTS_HEADER);
        assert_eq!(runner::ERROR_HEADER, shared::ERROR_HEADER);
        assert_eq!(runner::FAILED_AT_HEADER, shared::FAILED_AT_HEADER);
        assert_eq!(runner::ROUTING_KEY_HEADER, shared::ROUTING_KEY_HEADER);
        assert_eq!(runner::WORKER_HEADER, shared::WORKER_HEADER);
    }
}

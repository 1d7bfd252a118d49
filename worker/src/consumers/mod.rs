//! Handlers the runner calls with a decoded message. Handlers say what should happen to the
//! message ([`Outcome`]); they never talk to the broker.

pub mod process;

/// What the runner should do with a message after its handler ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Committed (or already done): acknowledge.
    Done(process::Summary),
    /// Committed, except these events, each of which the database refused for good (a value it
    /// cannot store): dead-letter each alone, as a one-event batch with its reason, then
    /// acknowledge. See [`process::Processor::handle`].
    Partial {
        summary: process::Summary,
        rejected: Vec<(ember_core::domain::QueuedEvent, String)>,
    },
    /// A transient failure (database unreachable, lock timeout...): retry after a delay.
    Retry(String),
    /// A permanent failure (the message can never succeed): dead-letter it with the reason.
    Reject(String),
}

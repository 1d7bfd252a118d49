//! What readiness checks learn from real traffic: the outcome of the last attempt at a
//! dependency. A probe that only opens a connection can pass while every real request fails
//! (a broker that blocks publishers, a queue that went missing, a database that refuses the
//! intake's queries), so `/readyz` also asks the code paths that serve requests how their last
//! attempt went.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most recent outcome of one dependency, as seen by the requests that used it.
#[derive(Debug, Default)]
pub struct LastOutcome {
    last: Mutex<Option<(Instant, Option<String>)>>,
}

impl LastOutcome {
    pub fn succeeded(&self) {
        *self.lock() = Some((Instant::now(), None));
    }

    pub fn failed(&self, reason: impl std::fmt::Display) {
        *self.lock() = Some((Instant::now(), Some(reason.to_string())));
    }

    /// The reason of the most recent outcome if it was a failure less than `within` ago. Old
    /// failures expire, so a process that receives no traffic (a load balancer took it out)
    /// becomes ready again and is tried anew.
    pub fn failing_within(&self, within: Duration) -> Option<String> {
        match &*self.lock() {
            Some((at, Some(reason))) if at.elapsed() < within => Some(reason.clone()),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Option<String>)>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_clears_a_failure_and_failures_expire() {
        let outcome = LastOutcome::default();
        assert_eq!(outcome.failing_within(Duration::from_secs(10)), None);
        outcome.failed("nack");
        assert_eq!(
            outcome.failing_within(Duration::from_secs(10)).as_deref(),
            Some("nack")
        );
        assert_eq!(outcome.failing_within(Duration::ZERO), None);
        outcome.succeeded();
        assert_eq!(outcome.failing_within(Duration::from_secs(10)), None);
    }
}

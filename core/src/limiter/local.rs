//! The per-process fallback used while Redis cannot be reached: the same sliding window, in
//! memory, with this process's share of the limit (`limit / limiter.processes`). Never
//! unlimited.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sliding-window logs per key, in this process only.
#[derive(Debug, Default)]
pub(super) struct LocalWindows {
    inner: Mutex<HashMap<String, Local>>,
}

#[derive(Debug, Default)]
struct Local {
    granted: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl LocalWindows {
    /// Grants one permit, or says how long to wait.
    pub(super) fn try_acquire(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(key.to_owned()).or_default();
        if let Some(until) = entry.paused_until {
            if until > now {
                return Err(until - now);
            }
            entry.paused_until = None;
        }
        while entry
            .granted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            entry.granted.pop_front();
        }
        let limit = limit.max(1) as usize;
        if entry.granted.len() >= limit {
            let oldest = entry.granted[entry.granted.len() - limit];
            return Err((oldest + window).saturating_duration_since(now) + Duration::from_millis(1));
        }
        entry.granted.push_back(now);
        Ok(())
    }

    /// Pauses a key (a 429 seen while Redis was down).
    pub(super) fn pause(&self, key: &str, for_: Duration) {
        let until = Instant::now() + for_;
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(key.to_owned()).or_default();
        if entry.paused_until.is_none_or(|u| u < until) {
            entry.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_at_most_the_limit_per_window() {
        let w = LocalWindows::default();
        for _ in 0..3 {
            w.try_acquire("k", 3, Duration::from_secs(10)).unwrap();
        }
        let wait = w.try_acquire("k", 3, Duration::from_secs(10)).unwrap_err();
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_millis(10_001),
            "{wait:?}"
        );
        w.try_acquire("other", 3, Duration::from_secs(10)).unwrap();
        w.pause("other", Duration::from_secs(5));
        assert!(w.try_acquire("other", 3, Duration::from_secs(10)).is_err());
    }
}

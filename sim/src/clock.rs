//! The simulator's clock: real time × speed + offset, settable. It drives token expiry,
//! rate-limit windows, retry schedules and every timestamp the simulator writes, so a test can
//! jump a day ahead or run time a thousand times faster.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};

/// A settable clock in epoch milliseconds.
#[derive(Debug)]
pub struct SimClock {
    inner: Mutex<ClockState>,
}

#[derive(Debug, Clone, Copy)]
struct ClockState {
    real_base: Instant,
    sim_base_ms: f64,
    speed: f64,
}

impl SimClock {
    /// Starts at `start_ms` (epoch ms), running at `speed` × real time.
    pub fn new(start_ms: i64, speed: f64) -> Self {
        Self {
            inner: Mutex::new(ClockState {
                real_base: Instant::now(),
                sim_base_ms: start_ms as f64,
                speed,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Now, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        let s = *self.lock();
        (s.sim_base_ms + s.real_base.elapsed().as_secs_f64() * 1000.0 * s.speed) as i64
    }

    /// Now, as a UTC time.
    pub fn now(&self) -> DateTime<Utc> {
        ms_to_datetime(self.now_ms())
    }

    /// Current speed factor.
    pub fn speed(&self) -> f64 {
        self.lock().speed
    }

    /// Sets the time; the clock keeps running at its speed from there.
    pub fn set_ms(&self, ms: i64) {
        let mut s = self.lock();
        s.real_base = Instant::now();
        s.sim_base_ms = ms as f64;
    }

    /// Moves the time forward (or back, if negative).
    pub fn advance_ms(&self, delta_ms: i64) {
        let now = self.now_ms();
        self.set_ms(now + delta_ms);
    }

    /// Changes the speed from now on (0 freezes the clock).
    pub fn set_speed(&self, speed: f64) {
        let now = self.now_ms();
        let mut s = self.lock();
        s.real_base = Instant::now();
        s.sim_base_ms = now as f64;
        s.speed = speed.max(0.0);
    }
}

/// Epoch ms to a UTC time (saturating at the epoch on nonsense input).
pub fn ms_to_datetime(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_only_moves_when_told() {
        let c = SimClock::new(1_000, 0.0);
        assert_eq!(c.now_ms(), 1_000);
        c.advance_ms(500);
        assert_eq!(c.now_ms(), 1_500);
        c.set_ms(10);
        assert_eq!(c.now_ms(), 10);
    }
}

//! HubSpot's rate limits per portal (docs/hubspot.md G): a rolling 10-second window (110 calls for
//! the public app, the tier's burst for a private app), a daily count reset at midnight in the
//! portal's time zone, and search's own 5 per second. Rejected calls do not consume capacity.

use std::collections::VecDeque;

use crate::config::{AppType, BURST_WINDOW_MS, SEARCH_PER_SECOND};

const DAY_MS: i64 = 86_400_000;

/// The `X-HubSpot-RateLimit-*` values of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateHeaders {
    pub(crate) max: u32,
    pub(crate) remaining: u32,
    pub(crate) secondly: u32,
    pub(crate) secondly_remaining: u32,
    /// `(limit, remaining)`, only for private apps (OAuth answers carry no daily headers).
    pub(crate) daily: Option<(u64, u64)>,
}

/// The outcome of asking for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed(RateHeaders),
    Limited {
        policy: &'static str,
        headers: RateHeaders,
    },
}

/// One portal's counters.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    window: VecDeque<i64>,
    day: i64,
    day_count: u64,
    search: VecDeque<i64>,
}

impl Limiter {
    /// Admits or rejects one call at `now_ms`.
    pub(crate) fn check(
        &mut self,
        app: AppType,
        public_daily: Option<u64>,
        now_ms: i64,
        utc_offset_ms: i64,
    ) -> Verdict {
        while self
            .window
            .front()
            .is_some_and(|t| *t <= now_ms - BURST_WINDOW_MS)
        {
            self.window.pop_front();
        }
        let day = (now_ms + utc_offset_ms).div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.day_count = 0;
        }
        let max = app.burst();
        let daily_limit = match app {
            AppType::Private { daily, .. } => Some(daily),
            AppType::Public => public_daily,
        };
        let show_daily = matches!(app, AppType::Private { .. });
        let headers = |this: &Self| {
            let used = this.window.len() as u32;
            let secondly = max.div_ceil(10);
            let last_second = this
                .window
                .iter()
                .rev()
                .take_while(|t| **t > now_ms - 1_000)
                .count() as u32;
            RateHeaders {
                max,
                remaining: max.saturating_sub(used),
                secondly,
                secondly_remaining: secondly.saturating_sub(last_second),
                daily: if show_daily {
                    daily_limit.map(|d| (d, d.saturating_sub(this.day_count)))
                } else {
                    None
                },
            }
        };
        if let Some(limit) = daily_limit
            && self.day_count >= limit
        {
            return Verdict::Limited {
                policy: ember_hubspot::wire::rate_limit::POLICY_DAILY,
                headers: headers(self),
            };
        }
        if self.window.len() as u32 >= max {
            return Verdict::Limited {
                policy: ember_hubspot::wire::rate_limit::POLICY_TEN_SECONDLY_ROLLING,
                headers: headers(self),
            };
        }
        self.window.push_back(now_ms);
        self.day_count += 1;
        Verdict::Allowed(headers(self))
    }

    /// Admits or rejects one search call (5 per rolling second, docs/hubspot.md E.5).
    pub(crate) fn check_search(&mut self, now_ms: i64) -> bool {
        while self.search.front().is_some_and(|t| *t <= now_ms - 1_000) {
            self.search.pop_front();
        }
        if self.search.len() >= SEARCH_PER_SECOND {
            return false;
        }
        self.search.push_back(now_ms);
        true
    }

    /// Calls counted today.
    pub(crate) fn daily_used(&self) -> u64 {
        self.day_count
    }

    /// Sets today's count (to test the daily limit without a million calls).
    pub(crate) fn set_daily_used(&mut self, now_ms: i64, utc_offset_ms: i64, used: u64) {
        self.day = (now_ms + utc_offset_ms).div_euclid(DAY_MS);
        self.day_count = used;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_111th_call_in_ten_seconds_is_limited_and_the_window_rolls() {
        let mut l = Limiter::default();
        for i in 0..110 {
            match l.check(AppType::Public, None, 1_000 + i, 0) {
                Verdict::Allowed(h) => assert_eq!(h.remaining, 109 - i as u32),
                v => panic!("call {i}: {v:?}"),
            }
        }
        assert!(matches!(
            l.check(AppType::Public, None, 1_200, 0),
            Verdict::Limited {
                policy: "TEN_SECONDLY_ROLLING",
                ..
            }
        ));
        assert!(matches!(
            l.check(AppType::Public, None, 11_000, 0),
            Verdict::Allowed(_)
        ));
    }

    #[test]
    fn private_daily_limit_resets_at_local_midnight() {
        let mut l = Limiter::default();
        let app = AppType::Private {
            burst: 100,
            daily: 2,
        };
        let offset = -5 * 3_600_000;
        let before_midnight = DAY_MS * 10 + 5 * 3_600_000 - 1_000;
        assert!(matches!(
            l.check(app, None, before_midnight - 20_000, offset),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            l.check(app, None, before_midnight - 10_000, offset),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            l.check(app, None, before_midnight, offset),
            Verdict::Limited {
                policy: "DAILY",
                ..
            }
        ));
        assert!(matches!(
            l.check(app, None, before_midnight + 2_000, offset),
            Verdict::Allowed(_)
        ));
    }
}

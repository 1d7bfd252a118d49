//! Rate-limit telemetry: the `X-HubSpot-RateLimit-*` headers of one answer (docs/hubspot.md G), parsed
//! into [`RateLimitTelemetry`], returned with every result ([`Reply`]) and given to the
//! [`crate::CallGate`] so the limiter can adapt to what HubSpot reports.

use reqwest::header::HeaderMap;

use crate::wire::rate_limit::{
    HEADER_DAILY, HEADER_DAILY_REMAINING, HEADER_INTERVAL_MS, HEADER_MAX, HEADER_REMAINING,
    HEADER_SECONDLY, HEADER_SECONDLY_REMAINING,
};

/// What one answer said about the portal's rate limits. Every header is optional: OAuth
/// answers carry no daily headers, search answers carry none at all (docs/hubspot.md G, E.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitTelemetry {
    /// HTTP status of the answer (429 = over a limit).
    pub status: u16,
    /// `X-HubSpot-RateLimit-Max`: calls allowed per interval.
    pub max: Option<u32>,
    /// `X-HubSpot-RateLimit-Remaining`: calls left in the rolling interval.
    pub remaining: Option<u32>,
    /// `X-HubSpot-RateLimit-Interval-Milliseconds`.
    pub interval_ms: Option<u64>,
    /// `X-HubSpot-RateLimit-Daily` (private apps).
    pub daily: Option<u64>,
    /// `X-HubSpot-RateLimit-Daily-Remaining` (private apps).
    pub daily_remaining: Option<u64>,
    /// Deprecated `X-HubSpot-RateLimit-Secondly`.
    pub secondly: Option<u32>,
    /// Deprecated `X-HubSpot-RateLimit-Secondly-Remaining`.
    pub secondly_remaining: Option<u32>,
}

impl RateLimitTelemetry {
    /// Parses the headers of one answer; absent or malformed headers are `None`.
    pub fn from_headers(status: u16, headers: &HeaderMap) -> Self {
        fn num<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
            headers.get(name)?.to_str().ok()?.trim().parse().ok()
        }
        Self {
            status,
            max: num(headers, HEADER_MAX),
            remaining: num(headers, HEADER_REMAINING),
            interval_ms: num(headers, HEADER_INTERVAL_MS),
            daily: num(headers, HEADER_DAILY),
            daily_remaining: num(headers, HEADER_DAILY_REMAINING),
            secondly: num(headers, HEADER_SECONDLY),
            secondly_remaining: num(headers, HEADER_SECONDLY_REMAINING),
        }
    }

    /// Whether the answer carried any rate-limit header.
    pub fn is_empty(&self) -> bool {
        self.max.is_none()
            && self.remaining.is_none()
            && self.daily.is_none()
            && self.daily_remaining.is_none()
    }

    /// Whether HubSpot refused the call for a rate limit.
    pub fn rate_limited(&self) -> bool {
        self.status == 429
    }
}

/// A successful result with the rate-limit telemetry of the answer that carried it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<T> {
    /// The result.
    pub value: T,
    /// The answer's rate-limit headers.
    pub rate_limit: RateLimitTelemetry,
}

impl<T> Reply<T> {
    /// The result alone.
    pub fn into_value(self) -> T {
        self.value
    }

    /// Maps the result, keeping the telemetry.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply {
            value: f(self.value),
            rate_limit: self.rate_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_parsed_and_missing_ones_are_none() {
        let mut h = HeaderMap::new();
        h.insert("x-hubspot-ratelimit-max", "110".parse().unwrap());
        h.insert("x-hubspot-ratelimit-remaining", "109".parse().unwrap());
        h.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            "10000".parse().unwrap(),
        );
        h.insert("x-hubspot-ratelimit-daily", "bogus".parse().unwrap());
        let t = RateLimitTelemetry::from_headers(200, &h);
        assert_eq!(
            (t.max, t.remaining, t.interval_ms),
            (Some(110), Some(109), Some(10_000))
        );
        assert_eq!(t.daily, None);
        assert!(!t.is_empty());
        assert!(RateLimitTelemetry::from_headers(200, &HeaderMap::new()).is_empty());
    }
}

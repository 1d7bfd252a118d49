//! The limit figures of an account and where they come from: how its calls are authorized
//! ([`AppType`], with the private-app tiers' burst and daily figures), the portals table's
//! record of that ([`AccountLimits::of_portal`]), and what one HubSpot answer's
//! `X-HubSpot-RateLimit-*` headers say about them ([`Observation`]), which the engine feeds back
//! into Redis (docs/hubspot.md G).

use super::zone::PortalZone;
use crate::store::portals::AppKind;

/// How the portal's calls are authorized, which decides its limits (docs/hubspot.md G).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppType {
    /// The public (OAuth) app: `limiter.public_burst` (110) per window, no daily limit.
    Public,
    /// A private app: its tier's burst per window and the account's daily limit.
    Private { burst: u32, daily: u64 },
}

impl AppType {
    /// Free / Starter private app: 100 per 10 s, 250,000 per day.
    pub const PRIVATE_STARTER: AppType = AppType::Private {
        burst: 100,
        daily: 250_000,
    };
    /// Professional private app: 190 per 10 s, 625,000 per day (usage page; docs/hubspot.md G).
    pub const PRIVATE_PROFESSIONAL: AppType = AppType::Private {
        burst: 190,
        daily: 625_000,
    };
    /// Enterprise private app: 190 per 10 s, 1,000,000 per day.
    pub const PRIVATE_ENTERPRISE: AppType = AppType::Private {
        burst: 190,
        daily: 1_000_000,
    };

    pub(super) fn key_part(&self) -> &'static str {
        match self {
            AppType::Public => "public",
            AppType::Private { .. } => "private",
        }
    }
}

/// What the limiter needs to know about an account: its app type and time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    pub app: AppType,
    pub zone: PortalZone,
}

impl AccountLimits {
    /// The public app in a portal whose zone is `zone`.
    pub fn public(zone: PortalZone) -> Self {
        Self {
            app: AppType::Public,
            zone,
        }
    }

    /// The limits of a portal as the portals table records it: how it is authorized and, for a
    /// static credential (a private app or a Service Key, which HubSpot limits as a privately
    /// distributed app: docs/tenancy.md "Service Keys"), its tier in calls per 10 s. Tiers: 100 → Starter (250,000 a day), 150 → the
    /// former Professional figure (500,000 a day), 190 → Professional (625,000 a day;
    /// Enterprise's 1,000,000 is learnt from the headers). The portals table holds no time zone
    /// yet, so every daily budget resets at UTC midnight.
    pub fn of_portal(kind: AppKind, tier: Option<i32>) -> Self {
        if kind == AppKind::Public {
            return Self::public(PortalZone::UTC);
        }
        let app = match tier {
            Some(100) => AppType::PRIVATE_STARTER,
            Some(150) => AppType::Private {
                burst: 150,
                daily: 500_000,
            },
            Some(190) => AppType::PRIVATE_PROFESSIONAL,
            Some(t) if t > 0 => AppType::Private {
                burst: t as u32,
                daily: 250_000,
            },
            // A static credential without a tier breaks a CHECK constraint; be conservative.
            _ => AppType::PRIVATE_STARTER,
        };
        Self {
            app,
            zone: PortalZone::UTC,
        }
    }
}

/// What one HubSpot answer says about the account's limits. Build it with
/// [`Observation::from_headers`] and, for a 429, [`Observation::rate_limited`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// `X-HubSpot-RateLimit-Max`.
    pub max: Option<u32>,
    /// `X-HubSpot-RateLimit-Interval-Milliseconds`.
    pub interval_ms: Option<u64>,
    /// `X-HubSpot-RateLimit-Remaining`.
    pub remaining: Option<u32>,
    /// `X-HubSpot-RateLimit-Daily`.
    pub daily: Option<u64>,
    /// `X-HubSpot-RateLimit-Daily-Remaining`.
    pub daily_remaining: Option<u64>,
    /// The `policyName` of a 429 (`TEN_SECONDLY_ROLLING`, `DAILY`, ...).
    pub rate_limited: Option<String>,
}

impl Observation {
    /// Reads the `X-HubSpot-RateLimit-*` headers (names case-insensitive; bad values ignored).
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut o = Observation::default();
        for (name, value) in headers {
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "x-hubspot-ratelimit-max" => o.max = value.parse().ok(),
                "x-hubspot-ratelimit-interval-milliseconds" => o.interval_ms = value.parse().ok(),
                "x-hubspot-ratelimit-remaining" => o.remaining = value.parse().ok(),
                "x-hubspot-ratelimit-daily" => o.daily = value.parse().ok(),
                "x-hubspot-ratelimit-daily-remaining" => o.daily_remaining = value.parse().ok(),
                _ => {}
            }
        }
        o
    }

    /// Marks the answer as a 429 with this `policyName`.
    pub fn rate_limited(mut self, policy: impl Into<String>) -> Self {
        self.rate_limited = Some(policy.into());
        self
    }

    pub(super) fn is_empty(&self) -> bool {
        *self == Observation::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_settings_have_working_defaults_and_are_validated() {
        use crate::config::Settings;
        let s = Settings::load_from(None, Vec::<(String, String)>::new()).unwrap();
        assert_eq!(
            (
                s.limiter.public_burst,
                s.limiter.window_ms,
                s.limiter.processes
            ),
            (110, 10_000, 1)
        );
        assert!(s.limiter.safety_margin > 0.0);
        let env = [
            ("EMBER_LIMITER__SAFETY_MARGIN", "0.7"),
            ("EMBER_LIMITER__PROCESSES", "0"),
        ];
        let err =
            Settings::load_from(None, env.map(|(k, v)| (k.to_owned(), v.to_owned()))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("limiter.safety_margin") && text.contains("limiter.processes"),
            "{text}"
        );
    }

    #[test]
    fn observation_reads_hubspot_headers() {
        let o = Observation::from_headers([
            ("X-HubSpot-RateLimit-Max", "110"),
            ("x-hubspot-ratelimit-remaining", "7"),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
            ("X-HubSpot-RateLimit-Daily", "250000"),
            ("X-HubSpot-RateLimit-Daily-Remaining", "bad"),
            ("Content-Type", "application/json"),
        ])
        .rate_limited("TEN_SECONDLY_ROLLING");
        assert_eq!(o.max, Some(110));
        assert_eq!(o.remaining, Some(7));
        assert_eq!(o.interval_ms, Some(10_000));
        assert_eq!(o.daily, Some(250_000));
        assert_eq!(o.daily_remaining, None);
        assert_eq!(o.rate_limited.as_deref(), Some("TEN_SECONDLY_ROLLING"));
        assert!(Observation::from_headers([]).is_empty());
    }
}

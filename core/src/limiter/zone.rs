//! A portal's time zone, which decides when its daily API budget resets (HubSpot: midnight in
//! the account's time-zone setting, docs/hubspot.md G).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, FixedOffset, NaiveDate, Offset, TimeZone, Utc};

/// An IANA zone (`America/New_York`, daylight saving included) or a fixed offset (`+05:30`,
/// `UTC`), as HubSpot's account-info reports `timeZone` and `utcOffset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalZone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

/// Why a string is not a time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IANA time zone or a UTC offset like +02:00: {0:?}")]
pub struct ZoneError(String);

impl PortalZone {
    /// UTC.
    pub const UTC: PortalZone = PortalZone::Named(chrono_tz::UTC);

    /// A fixed offset in milliseconds (HubSpot's `utcOffsetMilliseconds`).
    pub fn from_offset_ms(ms: i64) -> Result<Self, ZoneError> {
        i32::try_from(ms / 1000)
            .ok()
            .and_then(FixedOffset::east_opt)
            .map(PortalZone::Fixed)
            .ok_or_else(|| ZoneError(format!("{ms} ms")))
    }

    /// The portal's local date at `now`, and how long until its next local midnight.
    pub fn day_and_reset(&self, now: DateTime<Utc>) -> (NaiveDate, chrono::Duration) {
        match self {
            PortalZone::Named(tz) => day_and_reset_in(tz, now),
            PortalZone::Fixed(off) => day_and_reset_in(off, now),
        }
    }
}

fn day_and_reset_in<Z: TimeZone>(zone: &Z, now: DateTime<Utc>) -> (NaiveDate, chrono::Duration) {
    let local = now.with_timezone(zone);
    let today = local.date_naive();
    let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
    let midnight = tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A DST gap at midnight (e.g. America/Santiago): the day starts at the first valid instant.
    let next = (0..4)
        .find_map(|h| {
            zone.from_local_datetime(&(midnight + chrono::Duration::hours(h)))
                .earliest()
        })
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(now + chrono::Duration::hours(24));
    (today, (next - now).max(chrono::Duration::milliseconds(1)))
}

impl FromStr for PortalZone {
    type Err = ZoneError;
    fn from_str(s: &str) -> Result<Self, ZoneError> {
        let t = s.trim();
        if let Ok(tz) = t.parse::<chrono_tz::Tz>() {
            return Ok(PortalZone::Named(tz));
        }
        let rest = t
            .strip_prefix("UTC")
            .or_else(|| t.strip_prefix("GMT"))
            .unwrap_or(t);
        let (sign, rest) = match rest.as_bytes().first() {
            Some(b'+') => (1, &rest[1..]),
            Some(b'-') => (-1, &rest[1..]),
            _ => return Err(ZoneError(s.to_owned())),
        };
        let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
        let (h, m): (i32, i32) = match (h.parse(), m.parse()) {
            (Ok(h), Ok(m)) if h <= 14 && m < 60 => (h, m),
            _ => return Err(ZoneError(s.to_owned())),
        };
        FixedOffset::east_opt(sign * (h * 3600 + m * 60))
            .map(PortalZone::Fixed)
            .ok_or_else(|| ZoneError(s.to_owned()))
    }
}

impl fmt::Display for PortalZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortalZone::Named(tz) => f.write_str(tz.name()),
            PortalZone::Fixed(off) => write!(f, "{}", off.fix()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn parses_names_and_offsets() {
        assert_eq!(
            "Europe/Berlin".parse::<PortalZone>().unwrap().to_string(),
            "Europe/Berlin"
        );
        assert_eq!(
            "+05:30".parse::<PortalZone>().unwrap(),
            PortalZone::Fixed(FixedOffset::east_opt(19800).unwrap())
        );
        assert_eq!(
            "UTC-05:00".parse::<PortalZone>().unwrap(),
            PortalZone::Fixed(FixedOffset::west_opt(18000).unwrap())
        );
        assert_eq!(
            PortalZone::from_offset_ms(-18_000_000).unwrap(),
            "-05:00".parse().unwrap()
        );
        assert!("Mars/Olympus".parse::<PortalZone>().is_err());
        assert!("+25:00".parse::<PortalZone>().is_err());
    }

    #[test]
    fn the_day_and_its_reset_follow_local_midnight() {
        let ny: PortalZone = "America/New_York".parse().unwrap();
        // 03:00 UTC on 28 Nov is 22:00 on 27 Nov in New York (EST, -5): 2 h to midnight.
        let (day, reset) = ny.day_and_reset(at("2026-11-28T03:00:00Z"));
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 11, 27).unwrap());
        assert_eq!(reset, chrono::Duration::hours(2));
        let tokyo: PortalZone = "+09:00".parse().unwrap();
        let (day, reset) = tokyo.day_and_reset(at("2026-11-28T14:30:00Z"));
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
        assert_eq!(reset, chrono::Duration::minutes(30));
        // DST end in New York (1 Nov 2026): the local day is 25 hours long.
        let (_, reset) = ny.day_and_reset(at("2026-11-01T04:00:00Z"));
        assert_eq!(reset, chrono::Duration::hours(25));
    }
}

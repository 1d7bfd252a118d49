//! Identifier newtypes. HubSpot ids are positive 64-bit integers; property names follow HubSpot's
//! internal-name rules.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a value is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be a positive integer, got {0}")]
    NotPositive(i64),
    #[error("must be a positive integer, got {0:?}")]
    NotAnInteger(String),
    #[error("must not be empty")]
    Empty,
    #[error("is {len} characters long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error(
        "may contain only lowercase letters, digits and underscores, and must start with a letter: {0:?}"
    )]
    BadPropertyName(String),
}

macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name(i64);

        impl $name {
            /// Accepts a positive integer.
            pub fn new(value: i64) -> Result<Self, IdError> {
                if value > 0 { Ok(Self(value)) } else { Err(IdError::NotPositive(value)) }
            }

            /// The id as HubSpot's integer.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = IdError;
            fn try_from(value: i64) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let value: i64 = s.trim().parse().map_err(|_| IdError::NotAnInteger(s.to_owned()))?;
                Self::new(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

positive_id!(
    /// A HubSpot account ("hub", "portal"): the tenant boundary of everything Ember stores.
    PortalId
);
positive_id!(
    /// A CRM record id (contact, company, deal...).
    ObjectId
);
positive_id!(
    /// A HubSpot app id.
    AppId
);
positive_id!(
    /// A webhook subscription id.
    SubscriptionId
);
positive_id!(
    /// A workflow id (from a workflow "Send a webhook" action).
    WorkflowId
);

/// HubSpot's `eventId`. Not unique on its own (HubSpot says so), which is why dedupe uses
/// [`EventKey`]. Zero is allowed: some generic events carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct EventId(i64);

impl EventId {
    pub fn new(value: i64) -> Result<Self, IdError> {
        if value >= 0 {
            Ok(Self(value))
        } else {
            Err(IdError::NotPositive(value))
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for EventId {
    type Error = IdError;
    fn try_from(value: i64) -> Result<Self, IdError> {
        Self::new(value)
    }
}

impl From<EventId> for i64 {
    fn from(id: EventId) -> i64 {
        id.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A HubSpot property's internal name (`lifecyclestage`, `hs_email_domain`, `ember_score`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PropertyName(String);

impl PropertyName {
    /// HubSpot limits internal names to 100 characters.
    pub const MAX_LEN: usize = 100;

    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if value.is_empty() {
            return Err(IdError::Empty);
        }
        if value.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                len: value.len(),
                max: Self::MAX_LEN,
            });
        }
        let mut chars = value.chars();
        let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        // HubSpot's own names are lowercase, but portals created before that rule have
        // mixed-case custom properties, and webhooks report them as they are.
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if starts_well && rest_ok {
            Ok(Self(value))
        } else {
            Err(IdError::BadPropertyName(value))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PropertyName {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::parse(value)
    }
}

impl From<PropertyName> for String {
    fn from(name: PropertyName) -> String {
        name.0
    }
}

impl AsRef<str> for PropertyName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PropertyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The per-portal dedupe key of one event: a SHA-256 over the fields that identify a
/// notification across HubSpot's retries (see [`crate::domain::AppEvent::key`]). Stored as 32
/// bytes; unique per portal in Postgres.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventKey([u8; 32]);

impl EventKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventKey({})", hex::encode(self.0))
    }
}

impl fmt::Display for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl TryFrom<String> for EventKey {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&value, &mut bytes).map_err(|_| IdError::NotAnInteger(value))?;
        Ok(Self(bytes))
    }
}

impl From<EventKey> for String {
    fn from(key: EventKey) -> String {
        hex::encode(key.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_reject_zero_and_negatives() {
        assert_eq!(PortalId::new(0), Err(IdError::NotPositive(0)));
        assert_eq!(ObjectId::new(-5), Err(IdError::NotPositive(-5)));
        assert!("abc".parse::<PortalId>().is_err());
        assert!(serde_json::from_str::<PortalId>("-1").is_err());
    }

    #[test]
    fn property_names_are_checked() {
        assert!(PropertyName::parse("").is_err());
        assert!(PropertyName::parse("1abc").is_err());
        assert!(PropertyName::parse("has space").is_err());
        assert!(PropertyName::parse("a".repeat(101)).is_err());
        assert!(PropertyName::parse("hs_email_domain").is_ok());
        assert!(serde_json::from_str::<PropertyName>("\"bad name\"").is_err());
    }

    #[test]
    fn event_key_round_trips_through_hex() {
        let key = EventKey::from_bytes([7; 32]);
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(serde_json::from_str::<EventKey>(&json).unwrap(), key);
        assert!(serde_json::from_str::<EventKey>("\"zz\"").is_err());
    }

    proptest! {
        #[test]
        fn every_positive_id_round_trips(v in 1i64..) {
            let id = PortalId::new(v).unwrap();
            prop_assert_eq!(id.to_string().parse::<PortalId>().unwrap(), id);
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<PortalId>(&json).unwrap(), id);
        }

        #[test]
        fn valid_property_names_parse(name in "[a-z][a-z0-9_]{0,99}") {
            let parsed = PropertyName::parse(name.clone()).unwrap();
            prop_assert_eq!(parsed.as_str(), name.as_str());
        }
    }
}

//! Webhook subscription types: an open set. HubSpot adds types over time, so an unknown type is
//! kept as it came rather than rejected; the worker decides what to do with it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::IdError;

/// The object a subscription is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Contact,
    Company,
    Deal,
    Other,
}

/// What happened to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionAction {
    Creation,
    Deletion,
    PropertyChange,
    Merge,
    Restore,
    AssociationChange,
    PrivacyDeletion,
    Other,
}

/// A webhook `subscriptionType` such as `contact.propertyChange`, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubscriptionType(String);

impl SubscriptionType {
    /// Longest value accepted; HubSpot's longest known type is well under this.
    pub const MAX_LEN: usize = 128;

    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if value.trim().is_empty() {
            return Err(IdError::Empty);
        }
        if value.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                len: value.len(),
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn object_kind(&self) -> ObjectKind {
        match self.0.split_once('.').map(|(object, _)| object) {
            Some("contact") => ObjectKind::Contact,
            Some("company") => ObjectKind::Company,
            Some("deal") => ObjectKind::Deal,
            _ => ObjectKind::Other,
        }
    }

    pub fn action(&self) -> SubscriptionAction {
        match self.0.split_once('.').map(|(_, action)| action) {
            Some("creation") => SubscriptionAction::Creation,
            Some("deletion") => SubscriptionAction::Deletion,
            Some("propertyChange") => SubscriptionAction::PropertyChange,
            Some("merge") => SubscriptionAction::Merge,
            Some("restore") => SubscriptionAction::Restore,
            Some("associationChange") => SubscriptionAction::AssociationChange,
            Some("privacyDeletion") => SubscriptionAction::PrivacyDeletion,
            _ => SubscriptionAction::Other,
        }
    }

    /// Whether Ember knows this type (metrics label unknown ones as such).
    pub fn is_known(&self) -> bool {
        self.object_kind() != ObjectKind::Other && self.action() != SubscriptionAction::Other
    }
}

impl TryFrom<String> for SubscriptionType {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::parse(value)
    }
}

impl From<SubscriptionType> for String {
    fn from(value: SubscriptionType) -> String {
        value.0
    }
}

impl fmt::Display for SubscriptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_are_classified() {
        let t = SubscriptionType::parse("contact.propertyChange").unwrap();
        assert_eq!(t.object_kind(), ObjectKind::Contact);
        assert_eq!(t.action(), SubscriptionAction::PropertyChange);
        assert!(t.is_known());
        let p = SubscriptionType::parse("contact.privacyDeletion").unwrap();
        assert_eq!(p.action(), SubscriptionAction::PrivacyDeletion);
    }

    #[test]
    fn unknown_types_are_kept_not_rejected() {
        let t = SubscriptionType::parse("object.propertyChange").unwrap();
        assert_eq!(t.as_str(), "object.propertyChange");
        assert!(!t.is_known());
        let t = SubscriptionType::parse("conversation.newMessage").unwrap();
        assert_eq!(t.object_kind(), ObjectKind::Other);
    }

    #[test]
    fn empty_and_huge_types_are_rejected() {
        assert_eq!(SubscriptionType::parse(" "), Err(IdError::Empty));
        assert!(SubscriptionType::parse("x".repeat(200)).is_err());
    }
}

//! The values of an agency invitation: its id, the opaque token its link carries, and the e-mail
//! it may be bound to. The token is a secret: only its SHA-256 is stored, its `Debug` hides it,
//! and it is never logged.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Random bytes in a token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;
/// Length of a token in its URL-safe base64 form (no padding).
const TOKEN_CHARS: usize = 43;
/// RFC 5321's limit on an address's length.
const MAX_EMAIL: usize = 254;

/// An invitation's id (`invites.invite_id`): not a secret, it names the invite in the admin API.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct InviteId(i64);

impl InviteId {
    /// Accepts a positive integer.
    pub fn new(value: i64) -> Result<Self, super::IdError> {
        if value > 0 {
            Ok(Self(value))
        } else {
            Err(super::IdError::NotPositive(value))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for InviteId {
    type Error = super::IdError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<InviteId> for i64 {
    fn from(id: InviteId) -> i64 {
        id.0
    }
}

impl fmt::Display for InviteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The secret an install link carries (`?invite=...`): 32 random bytes, URL-safe base64.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteToken(String);

/// Why a string is not an invite token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not an Ember invite token")]
pub struct InviteTokenError;

impl InviteToken {
    /// A fresh token from the operating system's random source.
    pub fn generate() -> Self {
        let bytes: [u8; TOKEN_BYTES] = rand::random();
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts exactly the shape [`Self::generate`] makes, so a malformed link is refused
    /// without a database lookup.
    pub fn parse(value: &str) -> Result<Self, InviteTokenError> {
        let decoded = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| InviteTokenError)?;
        if value.len() != TOKEN_CHARS || decoded.len() != TOKEN_BYTES {
            return Err(InviteTokenError);
        }
        Ok(Self(value.to_owned()))
    }

    /// The token as it goes into the link. Callers put it in a URL, never in a log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the token: what `invites.token_sha256` holds and lookups compare.
    pub fn sha256(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl fmt::Debug for InviteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteToken(<redacted>)")
    }
}

/// The e-mail an invite is bound to: trimmed, lowercased (HubSpot and people differ in case),
/// one `@` with something on both sides, a dot in the domain, no spaces, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct InviteEmail(String);

/// Why a string is not an e-mail an invite can be bound to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteEmailError {
    #[error("must not be empty")]
    Empty,
    #[error("is {0} characters long; at most 254 are allowed")]
    TooLong(usize),
    #[error("is not an e-mail address: {0:?}")]
    Malformed(String),
}

impl InviteEmail {
    pub fn parse(value: &str) -> Result<Self, InviteEmailError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(InviteEmailError::Empty);
        }
        let len = value.chars().count();
        if len > MAX_EMAIL {
            return Err(InviteEmailError::TooLong(len));
        }
        let malformed = || InviteEmailError::Malformed(value.to_owned());
        let (local, domain) = value.split_once('@').ok_or_else(malformed)?;
        let well_formed = !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if !well_formed {
            return Err(malformed());
        }
        Ok(Self(value.to_lowercase()))
    }

    /// Whether the e-mail HubSpot reports for the installing user is this one (case aside).
    pub fn matches(&self, reported: Option<&str>) -> bool {
        reported.is_some_and(|r| r.trim().to_lowercase() == self.0)
    }
}

impl AsRef<str> for InviteEmail {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InviteEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_generated_token_parses_hides_in_debug_and_hashes_to_32_bytes() {
        let token = InviteToken::generate();
        assert_eq!(InviteToken::parse(token.expose()).unwrap(), token);
        assert_eq!(format!("{token:?}"), "InviteToken(<redacted>)");
        assert_eq!(token.sha256().len(), 32);
        assert_ne!(InviteToken::generate(), token);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = InviteToken::generate();
        for bad in [
            "",
            "abc",
            &good.expose()[1..],
            &format!("{}A", good.expose()),
            &good.expose().replace(|_: char| true, "+"),
            "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJlbWJlci1pbnZpdGUifQ.c2ln",
        ] {
            assert!(InviteToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_are_lowercased_and_bad_ones_refused() {
        let e = InviteEmail::parse("  Ana@Example.COM ").unwrap();
        assert_eq!(e.as_ref(), "ana@example.com");
        assert!(e.matches(Some("ANA@example.com")));
        assert!(!e.matches(Some("bob@example.com")));
        assert!(!e.matches(None));
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "ana@example",
            "ana@@example.com",
            "a b@example.com",
            "ana@example.com.",
        ] {
            assert!(InviteEmail::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            InviteEmail::parse(&long),
            Err(InviteEmailError::TooLong(262))
        );
    }

    #[test]
    fn invite_ids_are_positive() {
        assert!(InviteId::new(0).is_err());
        assert_eq!(InviteId::new(7).unwrap().get(), 7);
    }

    proptest! {
        #[test]
        fn every_plain_address_parses_to_its_lowercase(
            local in "[A-Za-z0-9._%+-]{1,40}",
            domain in "[A-Za-z0-9-]{1,30}",
            tld in "[A-Za-z]{2,6}",
        ) {
            let raw = format!("{local}@{domain}.{tld}");
            let parsed = InviteEmail::parse(&raw).unwrap();
            prop_assert_eq!(parsed.as_ref(), raw.to_lowercase());
            prop_assert!(parsed.matches(Some(&raw)));
        }
    }
}

//! Tokens at rest: AES-256-GCM with a random 96-bit nonce per value. A sealed value is
//! `version (1) | key id (4) | nonce (12) | ciphertext+tag`, so every ciphertext names the key
//! that sealed it and old keys can keep opening old rows while new rows use the current key.
//! The associated data binds a value to its portal and purpose: a ciphertext copied to another
//! portal's row, or from the refresh column to the access column, does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::config::{Settings, SettingsError};
use crate::domain::PortalId;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// What a sealed value is for (part of the associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An OAuth access token or a private-app token.
    AccessToken,
    /// An OAuth refresh token.
    RefreshToken,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::AccessToken => "access",
            Purpose::RefreshToken => "refresh",
        }
    }
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Not a sealed value of a known version.
    #[error("the stored value is not a sealed token")]
    Malformed,
    /// Sealed with a key this process does not have (set EMBER_PREVIOUS_ENCRYPTION_KEYS).
    #[error("the stored token was sealed with key {0}, which is not configured")]
    UnknownKey(String),
    /// Wrong key, tampered, or moved to another portal or purpose.
    #[error("the stored token failed authentication (wrong key, or tampered)")]
    Authentication,
}

/// Seals and opens tokens with the current key and any previous keys.
pub struct TokenCipher {
    current: ([u8; KEY_ID_LEN], Aes256Gcm),
    previous: Vec<([u8; KEY_ID_LEN], Aes256Gcm)>,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCipher")
            .field("key_id", &self.key_id())
            .field("previous", &self.previous.len())
            .finish()
    }
}

/// The id of a key: the first 4 bytes of SHA-256 over a label and the key (reveals nothing
/// useful about the key, and is stable across processes).
pub fn key_id(key: &[u8; 32]) -> [u8; KEY_ID_LEN] {
    let digest = Sha256::new()
        .chain_update(b"ember token key id\0")
        .chain_update(key)
        .finalize();
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&digest[..KEY_ID_LEN]);
    id
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

fn aad(portal: PortalId, purpose: Purpose) -> Vec<u8> {
    format!("ember-token:v1:{}:{}", portal.get(), purpose.label()).into_bytes()
}

impl TokenCipher {
    /// A cipher sealing with `current` and also opening values sealed with `previous` keys.
    pub fn new(current: [u8; 32], previous: &[[u8; 32]]) -> Self {
        Self {
            current: (key_id(&current), cipher(&current)),
            previous: previous.iter().map(|k| (key_id(k), cipher(k))).collect(),
        }
    }

    /// From `EMBER_ENCRYPTION_KEY` (required) and `EMBER_PREVIOUS_ENCRYPTION_KEYS` (optional).
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        Ok(Self::new(
            settings.require_encryption_key()?,
            &settings.previous_encryption_keys()?,
        ))
    }

    /// The current key's id, hex (stored beside each row for rotation queries).
    pub fn key_id(&self) -> String {
        hex::encode(self.current.0)
    }

    /// Seals a token for one portal and purpose.
    pub fn seal(
        &self,
        portal: PortalId,
        purpose: Purpose,
        token: &str,
    ) -> Result<Vec<u8>, CryptoError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .current
            .1
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: token.as_bytes(),
                    aad: &aad(portal, purpose),
                },
            )
            .map_err(|_| CryptoError::Malformed)?;
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&self.current.0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a sealed token.
    pub fn open(
        &self,
        portal: PortalId,
        purpose: Purpose,
        sealed: &[u8],
    ) -> Result<SecretString, CryptoError> {
        if sealed.len() < HEADER_LEN + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Malformed);
        }
        let id = &sealed[1..1 + KEY_ID_LEN];
        let nonce: [u8; NONCE_LEN] = sealed[1 + KEY_ID_LEN..HEADER_LEN]
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        let cipher = std::iter::once(&self.current)
            .chain(self.previous.iter())
            .find(|(k, _)| k == id)
            .map(|(_, c)| c)
            .ok_or_else(|| CryptoError::UnknownKey(hex::encode(id)))?;
        let plain = cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: &aad(portal, purpose),
                },
            )
            .map_err(|_| CryptoError::Authentication)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Malformed)
    }

    /// Whether a sealed value was sealed with the current key.
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.len() > KEY_ID_LEN && sealed[1..1 + KEY_ID_LEN] == self.current.0
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn portal(n: i64) -> PortalId {
        PortalId::new(n).unwrap()
    }

    #[test]
    fn a_sealed_token_opens_only_for_its_portal_and_purpose() {
        let c = TokenCipher::new([7; 32], &[]);
        let sealed = c
            .seal(portal(1), Purpose::AccessToken, "CN-secret")
            .unwrap();
        assert!(!sealed.windows(9).any(|w| w == b"CN-secret"));
        assert_eq!(
            c.open(portal(1), Purpose::AccessToken, &sealed)
                .unwrap()
                .expose_secret(),
            "CN-secret"
        );
        assert_eq!(
            c.open(portal(2), Purpose::AccessToken, &sealed)
                .unwrap_err(),
            CryptoError::Authentication
        );
        assert_eq!(
            c.open(portal(1), Purpose::RefreshToken, &sealed)
                .unwrap_err(),
            CryptoError::Authentication
        );
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let c = TokenCipher::new([7; 32], &[]);
        assert_ne!(
            c.seal(portal(1), Purpose::AccessToken, "t").unwrap(),
            c.seal(portal(1), Purpose::AccessToken, "t").unwrap()
        );
    }

    #[test]
    fn rotated_keys_open_old_values_and_seal_with_the_new_key() {
        let old = TokenCipher::new([1; 32], &[]);
        let sealed = old.seal(portal(5), Purpose::RefreshToken, "r").unwrap();
        let rotated = TokenCipher::new([2; 32], &[[1; 32]]);
        assert_eq!(
            rotated
                .open(portal(5), Purpose::RefreshToken, &sealed)
                .unwrap()
                .expose_secret(),
            "r"
        );
        assert!(!rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal(portal(5), Purpose::RefreshToken, "r").unwrap()));
        let without_old = TokenCipher::new([2; 32], &[]);
        assert!(matches!(
            without_old.open(portal(5), Purpose::RefreshToken, &sealed),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn tampering_is_detected() {
        let c = TokenCipher::new([3; 32], &[]);
        let mut sealed = c.seal(portal(1), Purpose::AccessToken, "token").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(
            c.open(portal(1), Purpose::AccessToken, &sealed)
                .unwrap_err(),
            CryptoError::Authentication
        );
        assert_eq!(
            c.open(portal(1), Purpose::AccessToken, b"short")
                .unwrap_err(),
            CryptoError::Malformed
        );
    }
}

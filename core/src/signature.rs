//! HubSpot request signatures (v1, v2, v3), as HubSpot documents them (docs/hubspot.md,
//! sections B and J).
//!
//! Verification is the only way to obtain a [`VerifiedBody`], and the normalizer accepts nothing
//! else: an unverified body cannot reach the queue by construction.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// HubSpot rejects v3 requests older than five minutes; we also reject ones that claim to be
/// from more than five minutes in the future, so a captured request cannot be pre-dated.
pub const DEFAULT_WINDOW_MS: i64 = 5 * 60 * 1000;

/// Header names, lowercase as HTTP/2 and actix present them.
pub mod headers {
    pub const SIGNATURE: &str = "x-hubspot-signature";
    pub const SIGNATURE_VERSION: &str = "x-hubspot-signature-version";
    pub const SIGNATURE_V3: &str = "x-hubspot-signature-v3";
    pub const REQUEST_TIMESTAMP: &str = "x-hubspot-request-timestamp";
}

/// Why a request's signature was not accepted. Safe to log: it never holds the secret nor the
/// signature we expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("header {0} is not valid (expected {1})")]
    MalformedHeader(&'static str, &'static str),
    #[error("request timestamp is {age_ms} ms old; the limit is {window_ms} ms")]
    Stale { age_ms: i64, window_ms: i64 },
    #[error("request timestamp is {ahead_ms} ms in the future; the limit is {window_ms} ms")]
    FromTheFuture { ahead_ms: i64, window_ms: i64 },
    #[error("signature does not match the request")]
    Mismatch,
    #[error("signature version {0:?} is not accepted here")]
    UnsupportedVersion(String),
}

/// The raw body of a request whose signature has been checked.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedBody<'a>(&'a [u8]);

impl<'a> VerifiedBody<'a> {
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }

    /// For bodies whose authenticity was established by other means (a per-portal secret on a
    /// workflow webhook). The caller is the proof; keep such call sites few and obvious.
    pub fn authenticated_otherwise(body: &'a [u8]) -> Self {
        Self(body)
    }
}

/// The parts of an incoming request that a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'r, 'b> {
    pub method: &'r str,
    /// The URI exactly as HubSpot called it: scheme, host, path and query.
    pub uri: &'r str,
    pub body: &'b [u8],
}

/// v1: lowercase hex SHA-256 of `secret + body`.
pub fn v1_signature(secret: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// v2: lowercase hex SHA-256 of `secret + method + uri + body`; the URI is used as is.
pub fn v2_signature(secret: &str, method: &str, uri: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(method.as_bytes());
    h.update(uri.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// v3: base64 HMAC-SHA256, keyed with the secret, of `method + decoded uri + body + timestamp`.
pub fn v3_signature(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(method.as_bytes());
    mac.update(decode_v3_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// HubSpot's v3 URI step: decode exactly the listed escapes, uppercase, in one pass. Everything
/// else (`%20`, `%26`, `%3D`, `%25`...) stays encoded.
pub fn decode_v3_uri(uri: &str) -> Cow<'_, str> {
    if !uri.contains('%') {
        return Cow::Borrowed(uri);
    }
    let bytes = uri.as_bytes();
    let mut out = String::with_capacity(uri.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(c) = decoded_escape(&bytes[i + 1..i + 3])
        {
            out.push(c);
            i += 3;
            continue;
        }
        // Copy whole UTF-8 sequences: escapes are ASCII, so we never split a character.
        let ch_len = utf8_len(bytes[i]);
        out.push_str(&uri[i..i + ch_len]);
        i += ch_len;
    }
    Cow::Owned(out)
}

fn decoded_escape(hex_digits: &[u8]) -> Option<char> {
    Some(match hex_digits {
        b"3A" => ':',
        b"2F" => '/',
        b"3F" => '?',
        b"40" => '@',
        b"21" => '!',
        b"24" => '$',
        b"27" => '\'',
        b"28" => '(',
        b"29" => ')',
        b"2A" => '*',
        b"2C" => ',',
        b"3B" => ';',
        _ => return None,
    })
}

fn utf8_len(first_byte: u8) -> usize {
    match first_byte {
        b if b < 0x80 => 1,
        b if b >= 0xF0 => 4,
        b if b >= 0xE0 => 3,
        _ => 2,
    }
}

fn constant_time_eq(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Checks HubSpot signatures made with one app's client secret.
#[derive(Clone)]
pub struct Verifier {
    secret: SecretString,
    window_ms: i64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("window_ms", &self.window_ms)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(secret: SecretString) -> Self {
        Self {
            secret,
            window_ms: DEFAULT_WINDOW_MS,
        }
    }

    pub fn with_window_ms(mut self, window_ms: i64) -> Self {
        self.window_ms = window_ms;
        self
    }

    /// v3: `signature` from `X-HubSpot-Signature-v3`, `timestamp` from
    /// `X-HubSpot-Request-Timestamp` (epoch ms, used in the hash exactly as received).
    pub fn verify_v3<'b>(
        &self,
        request: SignedRequest<'_, 'b>,
        signature: Option<&str>,
        timestamp: Option<&str>,
        now_ms: i64,
    ) -> Result<VerifiedBody<'b>, SignatureError> {
        let signature = signature.ok_or(SignatureError::MissingHeader(headers::SIGNATURE_V3))?;
        let timestamp =
            timestamp.ok_or(SignatureError::MissingHeader(headers::REQUEST_TIMESTAMP))?;
        let sent_ms: i64 = timestamp.parse().map_err(|_| {
            SignatureError::MalformedHeader(headers::REQUEST_TIMESTAMP, "epoch milliseconds")
        })?;
        if signature.len() != 44 {
            return Err(SignatureError::MalformedHeader(
                headers::SIGNATURE_V3,
                "44 characters of base64",
            ));
        }
        let age_ms = now_ms.saturating_sub(sent_ms);
        if age_ms > self.window_ms {
            return Err(SignatureError::Stale {
                age_ms,
                window_ms: self.window_ms,
            });
        }
        if -age_ms > self.window_ms {
            return Err(SignatureError::FromTheFuture {
                ahead_ms: -age_ms,
                window_ms: self.window_ms,
            });
        }
        let expected = v3_signature(
            self.secret.expose_secret(),
            request.method,
            request.uri,
            request.body,
            timestamp,
        );
        if constant_time_eq(&expected, signature) {
            Ok(VerifiedBody(request.body))
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    /// v2 (workflow webhooks): `signature` from `X-HubSpot-Signature`, version header `v2`.
    pub fn verify_v2<'b>(
        &self,
        request: SignedRequest<'_, 'b>,
        signature: Option<&str>,
    ) -> Result<VerifiedBody<'b>, SignatureError> {
        let signature = signature.ok_or(SignatureError::MissingHeader(headers::SIGNATURE))?;
        check_hex_signature(signature)?;
        let expected = v2_signature(
            self.secret.expose_secret(),
            request.method,
            request.uri,
            request.body,
        );
        if constant_time_eq(&expected, &signature.to_ascii_lowercase()) {
            Ok(VerifiedBody(request.body))
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    /// v1: `signature` from `X-HubSpot-Signature`, version header `v1`. It has no replay
    /// protection, so the intake accepts it only where HubSpot sends nothing better.
    pub fn verify_v1<'a>(
        &self,
        body: &'a [u8],
        signature: Option<&str>,
    ) -> Result<VerifiedBody<'a>, SignatureError> {
        let signature = signature.ok_or(SignatureError::MissingHeader(headers::SIGNATURE))?;
        check_hex_signature(signature)?;
        let expected = v1_signature(self.secret.expose_secret(), body);
        if constant_time_eq(&expected, &signature.to_ascii_lowercase()) {
            Ok(VerifiedBody(body))
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

fn check_hex_signature(signature: &str) -> Result<(), SignatureError> {
    if signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(SignatureError::MalformedHeader(
            headers::SIGNATURE,
            "64 hexadecimal characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_only_the_listed_escapes() {
        assert_eq!(
            decode_v3_uri("https://h/x?a=%3A%2F%20%26"),
            "https://h/x?a=:/%20%26"
        );
        assert_eq!(
            decode_v3_uri("https://h/%28%29%2a"),
            "https://h/()%2a",
            "lowercase stays"
        );
        assert_eq!(
            decode_v3_uri("https://h/%252F"),
            "https://h/%252F",
            "single pass"
        );
        assert_eq!(decode_v3_uri("https://h/é%40"), "https://h/é@");
        assert_eq!(decode_v3_uri("https://h/%4"), "https://h/%4");
        assert_eq!(decode_v3_uri("%"), "%");
    }

    #[test]
    fn v3_window_rejects_stale_and_future_requests() {
        let secret = "s3cret";
        let body = b"[]";
        let ts = "1700000000000";
        let sig = v3_signature(secret, "POST", "https://e/w", body, ts);
        let v = Verifier::new(SecretString::from(secret));
        let req = SignedRequest {
            method: "POST",
            uri: "https://e/w",
            body,
        };
        assert!(
            v.verify_v3(req, Some(&sig), Some(ts), 1_700_000_000_000 + 300_000)
                .is_ok()
        );
        assert!(matches!(
            v.verify_v3(req, Some(&sig), Some(ts), 1_700_000_000_000 + 300_001),
            Err(SignatureError::Stale { .. })
        ));
        assert!(matches!(
            v.verify_v3(req, Some(&sig), Some(ts), 1_700_000_000_000 - 300_001),
            Err(SignatureError::FromTheFuture { .. })
        ));
        assert_eq!(
            v.verify_v3(req, Some(&sig), Some("abc"), 0).unwrap_err(),
            SignatureError::MalformedHeader(headers::REQUEST_TIMESTAMP, "epoch milliseconds")
        );
        assert_eq!(
            v.verify_v3(req, None, Some(ts), 0).unwrap_err(),
            SignatureError::MissingHeader(headers::SIGNATURE_V3)
        );
    }

    #[test]
    fn errors_never_print_the_secret() {
        let v = Verifier::new(SecretString::from("topsecret"));
        assert!(!format!("{v:?}").contains("topsecret"));
    }
}

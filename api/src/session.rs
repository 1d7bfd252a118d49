//! Signed tokens of the install flow and the console: the OAuth `state` (short-lived, bound to a
//! browser cookie, single use) and session cookies. Both are HS256 JWTs (jsonwebtoken) with a key
//! derived from the app's client secret, and each kind has its own audience, so one can never
//! stand in for another.
//!
//! Agency invitations are not signed tokens: a stateless token could be neither revoked nor
//! limited to one use. They are rows in Postgres (`ember_core::store::invites`) named by an opaque
//! random token; the `state` carries only the id of the invite checked at `/oauth/install`, and
//! the callback claims it.
//!
//! CSRF: a session's token is an HMAC of its id under a key of its own ([`Signer::csrf_token`]).
//! It is stable for the session's life and useless without the session cookie, so pages can embed
//! it and scripts can read it from `GET /admin/me`. Every unsafe request (not GET, HEAD or OPTIONS)
//! authenticated by the session cookie must present it: the JSON API in the `X-CSRF-Token` header,
//! checked by the [`crate::extract::CurrentPerson`] extractor; console forms in a `_csrf` field,
//! checked by their handler with [`check_csrf`] on routes marked [`crate::extract::CsrfForm`].

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::StatusCode;
use chrono::Utc;
use ember_core::domain::InviteId;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;

/// Cookie holding the browser nonce the `state` is bound to.
pub const STATE_COOKIE: &str = "ember_oauth";
/// Cookie holding the session token.
pub const SESSION_COOKIE: &str = "ember_session";

const AUD_STATE: &str = "ember-oauth-state";
const AUD_SESSION: &str = "ember-session";

/// The header the JSON API's unsafe requests carry their CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// The form field console forms carry their CSRF token in.
pub const CSRF_FIELD: &str = "_csrf";

/// The claims of an install `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateClaims {
    /// Single-use id (recorded when consumed).
    pub jti: Uuid,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    /// SHA-256 (hex) of the browser nonce in [`STATE_COOKIE`].
    pub nonce: String,
    /// The invitation the install link named (checked usable at `/oauth/install`; the callback
    /// claims it, so agency and role come from its row, never from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<InviteId>,
}

/// The claims of a session cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    pub sid: Uuid,
    pub sub: i64,
    pub aud: String,
    pub exp: i64,
}

/// Why a `state` was refused (also the log reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateProblem {
    Missing,
    Expired,
    Invalid,
    CookieMismatch,
}

impl StateProblem {
    pub fn reason(self) -> &'static str {
        match self {
            StateProblem::Missing => "missing_state",
            StateProblem::Expired => "expired_state",
            StateProblem::Invalid => "invalid_state",
            StateProblem::CookieMismatch => "state_cookie_mismatch",
        }
    }
}

/// The signing keys and cookie settings.
pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// HMAC key of CSRF tokens (derived apart from the JWT key).
    csrf_key: Vec<u8>,
    pub state_lifetime_secs: i64,
    pub session_lifetime_secs: i64,
    pub secure_cookies: bool,
}

fn derive_key(secret: &SecretString, label: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(label);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(value: &str) -> String {
    hex_string(&Sha256::digest(value.as_bytes()))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Signer {
    /// Keys derived from the app's client secret (HMAC-SHA256 with a label).
    pub fn new(
        client_secret: &SecretString,
        state_lifetime_secs: u64,
        session_lifetime_secs: u64,
        secure_cookies: bool,
    ) -> anyhow::Result<Self> {
        let key = derive_key(client_secret, b"ember jwt signing key v1");
        Ok(Self {
            encoding: EncodingKey::from_secret(&key)?,
            decoding: DecodingKey::from_secret(&key)?,
            csrf_key: derive_key(client_secret, b"ember csrf key v1"),
            state_lifetime_secs: state_lifetime_secs as i64,
            session_lifetime_secs: session_lifetime_secs as i64,
            secure_cookies,
        })
    }

    fn validation(audience: &str) -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_audience(&[audience]);
        v
    }

    fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.encoding,
        )?)
    }

    /// A new `state` and the browser nonce to put in [`STATE_COOKIE`].
    pub fn new_state(&self, invite: Option<InviteId>) -> anyhow::Result<(String, String)> {
        let mut nonce = [0u8; 32];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = hex_string(&nonce);
        let now = Utc::now().timestamp();
        let claims = StateClaims {
            jti: Uuid::new_v4(),
            aud: AUD_STATE.into(),
            iat: now,
            exp: now + self.state_lifetime_secs,
            nonce: sha256_hex(&nonce),
            invite,
        };
        Ok((self.sign(&claims)?, nonce))
    }

    /// Checks a `state` against the browser's nonce cookie (signature, expiry, binding). The
    /// caller then consumes its `jti` (single use).
    pub fn verify_state(
        &self,
        state: Option<&str>,
        cookie_nonce: Option<&str>,
    ) -> Result<StateClaims, StateProblem> {
        let state = state
            .filter(|s| !s.is_empty())
            .ok_or(StateProblem::Missing)?;
        let data = jsonwebtoken::decode::<StateClaims>(
            state,
            &self.decoding,
            &Self::validation(AUD_STATE),
        )
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => StateProblem::Expired,
            _ => StateProblem::Invalid,
        })?;
        let claims = data.claims;
        match cookie_nonce {
            Some(nonce) if subtle_eq(&sha256_hex(nonce), &claims.nonce) => Ok(claims),
            _ => Err(StateProblem::CookieMismatch),
        }
    }

    /// A session token for a stored session.
    pub fn new_session(&self, session: Uuid, person: i64) -> anyhow::Result<String> {
        let claims = SessionClaims {
            sid: session,
            sub: person,
            aud: AUD_SESSION.into(),
            exp: Utc::now().timestamp() + self.session_lifetime_secs,
        };
        self.sign(&claims)
    }

    /// The claims of a session token, if valid.
    pub fn verify_session(&self, token: &str) -> Option<SessionClaims> {
        jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &Self::validation(AUD_SESSION))
            .ok()
            .map(|d| d.claims)
    }

    /// The CSRF token of a session: HMAC-SHA256 of its id, hex. The same for the session's whole
    /// life; different for every session.
    pub fn csrf_token(&self, session: Uuid) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.csrf_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(session.as_bytes());
        hex_string(&mac.finalize().into_bytes())
    }

    /// An HttpOnly, SameSite=Lax cookie. Lax, not Strict: the callback is a top-level
    /// navigation from HubSpot, and Strict cookies would not come with it.
    pub fn cookie<'a>(
        &self,
        name: &'a str,
        value: String,
        path: &'a str,
        max_age_secs: i64,
    ) -> Cookie<'a> {
        Cookie::build(name, value)
            .path(path)
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::seconds(max_age_secs))
            .finish()
    }

    /// A cookie that deletes `name`.
    pub fn removal<'a>(&self, name: &'a str, path: &'a str) -> Cookie<'a> {
        let mut c = self.cookie(name, String::new(), path, 0);
        c.make_removal();
        c
    }
}

/// The name the console's contract uses for the session signer.
pub type SessionSigner = Signer;

/// Checks the CSRF token a request presented (header or `_csrf` form field) for its session:
/// missing or wrong is 403 `csrf`. Console form handlers on routes marked
/// [`crate::extract::CsrfForm`] call this with the form's `_csrf` before changing anything.
pub fn check_csrf(signer: &Signer, session: Uuid, presented: Option<&str>) -> Result<(), ApiError> {
    match presented {
        Some(token) if subtle_eq(token.trim(), &signer.csrf_token(session)) => Ok(()),
        _ => Err(csrf_refused()),
    }
}

/// 403 `csrf`: the answer to an unsafe request without a valid token.
pub fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "missing or invalid CSRF token",
    )
}

fn subtle_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(&SecretString::from("secret".to_owned()), 600, 3600, true).unwrap()
    }

    #[test]
    fn a_state_verifies_only_with_its_cookie() {
        let s = signer();
        let (state, nonce) = s.new_state(None).unwrap();
        assert!(s.verify_state(Some(&state), Some(&nonce)).is_ok());
        assert_eq!(
            s.verify_state(Some(&state), Some("other")).unwrap_err(),
            StateProblem::CookieMismatch
        );
        assert_eq!(
            s.verify_state(Some(&state), None).unwrap_err(),
            StateProblem::CookieMismatch
        );
        assert_eq!(
            s.verify_state(None, Some(&nonce)).unwrap_err(),
            StateProblem::Missing
        );
    }

    #[test]
    fn tokens_of_one_kind_do_not_pass_as_another() {
        let s = signer();
        let session = s.new_session(Uuid::new_v4(), 1).unwrap();
        assert_eq!(
            s.verify_state(Some(&session), Some("x")).unwrap_err(),
            StateProblem::Invalid
        );
        let (state, _) = s.new_state(Some(InviteId::new(3).unwrap())).unwrap();
        assert!(s.verify_session(&state).is_none());
    }

    #[test]
    fn a_state_carries_the_invite_id_it_was_made_with() {
        let s = signer();
        let invite = InviteId::new(42).unwrap();
        let (state, nonce) = s.new_state(Some(invite)).unwrap();
        let claims = s.verify_state(Some(&state), Some(&nonce)).unwrap();
        assert_eq!(claims.invite, Some(invite));
    }

    #[test]
    fn a_csrf_token_is_bound_to_its_session_and_key() {
        let s = signer();
        let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
        let token = s.csrf_token(one);
        assert_eq!(token, s.csrf_token(one), "stable for the session");
        assert_eq!(token.len(), 64);
        assert_ne!(token, s.csrf_token(two));
        assert!(check_csrf(&s, one, Some(&token)).is_ok());
        assert_eq!(check_csrf(&s, two, Some(&token)).unwrap_err().code, "csrf");
        assert_eq!(check_csrf(&s, one, None).unwrap_err().status, 403);
        assert!(check_csrf(&s, one, Some("")).is_err());
        let other = Signer::new(&SecretString::from("other".to_owned()), 600, 3600, true).unwrap();
        assert_ne!(
            other.csrf_token(one),
            token,
            "a different secret, a different token"
        );
    }

    #[test]
    fn an_expired_state_is_refused_as_expired() {
        let mut s = signer();
        s.state_lifetime_secs = -5;
        let (state, nonce) = s.new_state(None).unwrap();
        assert_eq!(
            s.verify_state(Some(&state), Some(&nonce)).unwrap_err(),
            StateProblem::Expired
        );
    }
}

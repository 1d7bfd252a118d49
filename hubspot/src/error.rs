//! The one error of the HubSpot client. It says whether retrying can help
//! ([`Error::is_transient`]), carries HubSpot's `category`, `correlationId` and any
//! `Retry-After`, and never holds a token: request URLs are stripped from transport errors
//! (the access-token-info path contains the token) and request bodies are never echoed.

use std::fmt;
use std::time::Duration;

use crate::gate::GateError;

/// Longest HubSpot message kept in an error (HubSpot messages can embed large JSON arrays).
const MAX_MESSAGE_CHARS: usize = 600;

/// A failed HubSpot call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// HubSpot answered with a non-success status.
    #[error("{0}")]
    Api(Box<ApiFailure>),
    /// The OAuth token endpoint refused a code exchange or refresh (docs/hubspot.md D.6).
    #[error("{0}")]
    OAuth(Box<OAuthFailure>),
    /// HubSpot could not be reached, or the connection broke (always transient).
    #[error("could not reach HubSpot: {message}")]
    Transport {
        /// reqwest's description, without the URL.
        message: String,
        /// Timed out (rather than refused or reset).
        timeout: bool,
    },
    /// HubSpot answered 2xx with a body that does not have the documented shape.
    #[error("HubSpot's answer to {endpoint} could not be read: {message}")]
    Decode {
        /// Which call, e.g. `POST /crm/objects/2026-09/contacts/batch/read`.
        endpoint: &'static str,
        /// serde's message (never the body).
        message: String,
    },
    /// The call gate (rate limiter) did not grant a permit.
    #[error("no permit for the HubSpot call: {0}")]
    Gate(#[from] GateError),
    /// The request cannot be sent as asked (e.g. more than 100 batch inputs).
    #[error("invalid HubSpot request: {0}")]
    Invalid(String),
}

/// A non-success answer from a HubSpot API path (docs/hubspot.md H, G).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// The call, e.g. `POST /crm/objects/2026-09/contacts/batch/update`.
    pub endpoint: &'static str,
    /// HTTP status.
    pub status: u16,
    /// HubSpot's `category` (or `errorType` on a 429), e.g. `VALIDATION_ERROR`.
    pub category: Option<String>,
    /// HubSpot's `correlationId`, for HubSpot support.
    pub correlation_id: Option<String>,
    /// HubSpot's message, shortened.
    pub message: String,
    /// `policyName` of a 429 (`TEN_SECONDLY_ROLLING`, `DAILY`).
    pub policy: Option<String>,
    /// `Retry-After` in seconds, when sent.
    pub retry_after: Option<Duration>,
    /// The body was not JSON (an HTML page from HubSpot's edge, not an answer of its API).
    pub not_json: bool,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HubSpot answered {} to {}", self.status, self.endpoint)?;
        if let Some(category) = &self.category {
            write!(f, " ({category})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(id) = &self.correlation_id {
            write!(f, " [correlationId {id}]")?;
        }
        Ok(())
    }
}

/// The token endpoint's refusal: RFC 6749 `error` plus HubSpot's `status` (docs/hubspot.md D.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFailure {
    /// RFC 6749 code, e.g. `invalid_grant`; absent on older bodies.
    pub error: Option<String>,
    /// HubSpot's code, e.g. `BAD_REFRESH_TOKEN`, `BAD_AUTH_CODE`.
    pub status: Option<String>,
    /// HubSpot's message.
    pub message: String,
    /// `correlationId`, when sent.
    pub correlation_id: Option<String>,
}

impl fmt::Display for OAuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HubSpot's token endpoint refused the request")?;
        match (&self.error, &self.status) {
            (Some(e), Some(s)) => write!(f, " ({e}, {s})")?,
            (Some(e), None) | (None, Some(e)) => write!(f, " ({e})")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)
    }
}

impl OAuthFailure {
    /// The grant (code or refresh token) is invalid, expired or revoked: the portal must
    /// re-authorize. HubSpot's older bodies only carry `BAD_REFRESH_TOKEN`/`BAD_AUTH_CODE`.
    pub fn is_invalid_grant(&self) -> bool {
        self.error.as_deref() == Some("invalid_grant")
            || matches!(
                self.status.as_deref(),
                Some("BAD_REFRESH_TOKEN" | "BAD_AUTH_CODE")
            )
    }
}

/// Statuses HubSpot documents as retryable (docs/hubspot.md G, "Retryable statuses").
fn transient_status(status: u16) -> bool {
    matches!(
        status,
        408 | 423 | 429 | 477 | 500 | 502 | 503 | 504 | 521 | 523 | 524
    )
}

impl Error {
    /// Whether the same call may succeed later (network trouble, 429, 423, 477, 5xx). A 5xx
    /// whose body is not JSON is always transient: it is an error page of HubSpot's edge, which
    /// says nothing about the request (docs/hubspot.md H).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api(a) if a.not_json && a.status >= 500 => true,
            Error::Api(a) => transient_status(a.status),
            Error::OAuth(_) | Error::Decode { .. } | Error::Invalid(_) => false,
            Error::Transport { .. } | Error::Gate(_) => true,
        }
    }

    /// How long HubSpot (or the gate) asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api(a) => a.retry_after,
            Error::Gate(g) => g.retry_after,
            _ => None,
        }
    }

    /// The access token was rejected (401): refresh once and retry once.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Api(a) if a.status == 401)
    }

    /// The refresh token or code was rejected (`invalid_grant`): revoked or uninstalled.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Error::OAuth(o) if o.is_invalid_grant())
    }

    /// HTTP status of an API answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(a) => Some(a.status),
            _ => None,
        }
    }

    /// HubSpot's error category, if any.
    pub fn category(&self) -> Option<&str> {
        match self {
            Error::Api(a) => a.category.as_deref(),
            Error::OAuth(o) => o.status.as_deref(),
            _ => None,
        }
    }

    /// HubSpot's correlation id, if any.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::Api(a) => a.correlation_id.as_deref(),
            Error::OAuth(o) => o.correlation_id.as_deref(),
            _ => None,
        }
    }

    /// A short, bounded label for metrics (`transient`, `unauthorized`, `invalid_grant`...).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Api(a) if a.status == 401 => "unauthorized",
            Error::Api(a) if a.status == 429 => "rate_limited",
            Error::Api(_) if self.is_transient() => "transient",
            Error::Api(_) => "rejected",
            Error::OAuth(o) if o.is_invalid_grant() => "invalid_grant",
            Error::OAuth(_) => "oauth_rejected",
            Error::Transport { .. } => "transport",
            Error::Decode { .. } => "decode",
            Error::Gate(_) => "gate",
            Error::Invalid(_) => "invalid",
        }
    }

    pub(crate) fn transport(e: reqwest::Error) -> Self {
        let timeout = e.is_timeout();
        // Never keep the URL: the access-token-info path holds a token.
        let e = e.without_url();
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Error::Transport {
            message: shorten(&message),
            timeout,
        }
    }

    /// Builds an [`Error::Api`] from a failed answer's status, headers and body.
    pub(crate) fn from_answer(
        endpoint: &'static str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Self {
        let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
        let not_json = parsed.is_none() && !body.is_empty();
        let json = parsed.unwrap_or(serde_json::Value::Null);
        let text = |key: &str| json.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let message = text("message")
            .or_else(|| not_json.then(|| not_json_message(headers, body)))
            .unwrap_or_else(|| "no message".into());
        Error::Api(Box::new(ApiFailure {
            endpoint,
            status,
            category: text("category").or_else(|| text("errorType")),
            correlation_id: text("correlationId"),
            message: shorten(&message),
            policy: text("policyName"),
            retry_after: retry_after(headers),
            not_json,
        }))
    }
}

/// What a non-JSON answer was: its content type, size and, for an HTML page, its title; never
/// the page itself (it can be large, and says nothing more).
fn not_json_message(headers: &reqwest::header::HeaderMap, body: &[u8]) -> String {
    let kind = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type");
    let text = String::from_utf8_lossy(body);
    let title = text
        .find("<title>")
        .map(|at| &text[at + "<title>".len()..])
        .and_then(|rest| rest.find("</title>").map(|end| rest[..end].trim()));
    match title {
        Some(t) => format!("a non-JSON answer ({kind}, {} bytes): {t}", body.len()),
        None => format!("a non-JSON answer ({kind}, {} bytes)", body.len()),
    }
}

/// `Retry-After` in seconds (HubSpot documents seconds for 477; dates are not used).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

pub(crate) fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> Error {
        Error::from_answer(
            "GET /x",
            status,
            &Default::default(),
            br#"{"message":"m","category":"C","correlationId":"abc"}"#,
        )
    }

    #[test]
    fn statuses_are_classified_as_hubspot_documents() {
        for s in [423, 429, 477, 500, 502, 503, 504, 521, 523, 524] {
            assert!(api(s).is_transient(), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 522] {
            assert!(!api(s).is_transient(), "{s}");
        }
        assert!(api(401).is_unauthorized());
        assert_eq!(api(400).category(), Some("C"));
        assert_eq!(api(400).correlation_id(), Some("abc"));
    }

    #[test]
    fn rate_limit_bodies_give_their_type_and_policy() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        let e = Error::from_answer(
            "POST /y",
            429,
            &headers,
            br#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c","policyName":"TEN_SECONDLY_ROLLING","requestId":"r"}"#,
        );
        let Error::Api(a) = &e else { panic!("{e:?}") };
        assert_eq!(a.category.as_deref(), Some("RATE_LIMIT"));
        assert_eq!(a.policy.as_deref(), Some("TEN_SECONDLY_ROLLING"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.is_transient());
    }

    #[test]
    fn an_html_5xx_from_hubspots_edge_is_transient_and_summarised() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("content-type", "text/html; charset=UTF-8".parse().unwrap());
        let page = b"<!DOCTYPE html>\n<html><head><title>api.hubapi.com | 522: Connection timed out</title></head><body><h1>Error 522</h1></body></html>";
        // 522 with a JSON body means "contact support" (docs/hubspot.md G); as an edge page it
        // is the edge's trouble, so it is retried like any other.
        for status in [500, 502, 522] {
            let e = Error::from_answer("POST /z", status, &headers, page);
            assert!(e.is_transient(), "{status}");
            assert_eq!(e.kind(), "transient");
            assert_eq!(e.category(), None);
            let Error::Api(a) = &e else { panic!("{e:?}") };
            assert!(a.not_json);
            assert_eq!(
                a.message,
                format!(
                    "a non-JSON answer (text/html; charset=UTF-8, {} bytes): api.hubapi.com | 522: Connection timed out",
                    page.len()
                )
            );
        }
        // A non-JSON 4xx is still the request's fault.
        assert!(!Error::from_answer("POST /z", 400, &headers, page).is_transient());
        assert!(!api(522).is_transient(), "a JSON 522 stays as documented");
    }

    #[test]
    fn old_oauth_bodies_without_an_rfc_code_still_mean_invalid_grant() {
        let f = OAuthFailure {
            error: None,
            status: Some("BAD_REFRESH_TOKEN".into()),
            message: "missing or unknown refresh token".into(),
            correlation_id: None,
        };
        assert!(Error::OAuth(Box::new(f)).is_invalid_grant());
    }
}

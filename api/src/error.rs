//! The one error type of the api: a status, a stable machine code, and a message that says what
//! was wrong. 5xx bodies never carry internals; those go to the log.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error answered to a client.
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable (`invalid_signature`, `payload_too_large`...).
    pub code: &'static str,
    /// What was wrong, for the person or system that sent the request.
    pub message: String,
    /// Seconds (or, for workflow webhooks, milliseconds) to put in `Retry-After`.
    pub retry_after: Option<u64>,
    /// The cause, logged but never sent.
    pub source: Option<anyhow::Error>,
}

#[derive(Serialize)]
struct Body<'a> {
    /// The machine code again, under the name the admin API's contract uses.
    error: &'a str,
    status: &'static str,
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
    }

    /// 429 with `Retry-After`: refused for now, without looking at the request.
    pub fn too_many_requests(
        code: &'static str,
        message: impl Into<String>,
        retry_after: u64,
    ) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    /// 503 with `Retry-After`: the request was not accepted and may be sent again.
    pub fn unavailable(
        message: impl Into<String>,
        retry_after: u64,
        source: anyhow::Error,
    ) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: message.into(),
            retry_after: Some(retry_after),
            source: Some(source),
        }
    }

    pub fn internal(source: anyhow::Error) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; it has been logged".into(),
            retry_after: None,
            source: Some(source),
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )?;
        if let Some(source) = &self.source {
            write!(f, "\nCaused by: {source:?}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            let cause = self
                .source
                .as_ref()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
            tracing::error!(code = self.code, status = self.status.as_u16(), cause = %cause, "request failed");
        }
        let mut response = HttpResponse::build(self.status);
        if let Some(after) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&after.to_string())
        {
            response.insert_header((header::RETRY_AFTER, value));
        }
        response.json(Body {
            error: self.code,
            status: "error",
            code: self.code,
            message: &self.message,
        })
    }
}

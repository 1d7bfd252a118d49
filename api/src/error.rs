//! The one error type of the api: a status, a stable machine code, and a message that says what
//! was wrong. 5xx bodies never carry internals; those go to the log.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

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

/// The body of every admin API error, as the OpenAPI document describes it (schema
/// `ErrorBody`); [`Body`] is what is written, with the same `error` and `message`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine code (`not_found`, `forbidden`, `csrf`...).
    #[schema(example = "not_found")]
    pub error: String,
    /// What was wrong.
    pub message: String,
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

    /// Our failure: 500, or 503 with Retry-After when the cause is that Postgres cannot be
    /// reached (the request may be sent again once it is back).
    pub fn internal(source: anyhow::Error) -> Self {
        if database_unreachable(&source) {
            return Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "database_unavailable",
                message: "Ember's database is unavailable; retry later".into(),
                retry_after: Some(DATABASE_RETRY_AFTER_SECS),
                source: Some(source),
            };
        }
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; it has been logged".into(),
            retry_after: None,
            source: Some(source),
        }
    }
}

/// Seconds a client is asked to wait when Postgres is unreachable.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

/// Whether an error's cause is that Postgres cannot be reached right now (no connection, a
/// closed pool, a pool timeout), as opposed to a query that failed.
pub fn database_unreachable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            )
        )
    })
}

/// Most bytes of a cause chain written into one log line.
const MAX_CAUSE_BYTES: usize = 4096;

/// An error's cause chain for the log: every message, no backtrace (anyhow's `Debug` adds one
/// under `RUST_BACKTRACE=1`, about half a megabyte a line), cut at [`MAX_CAUSE_BYTES`].
pub fn bounded_cause(error: &anyhow::Error) -> String {
    let mut text = format!("{error:#}");
    if text.len() > MAX_CAUSE_BYTES {
        let mut cut = MAX_CAUSE_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("… (cut)");
    }
    text
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
        // tracing-actix-web logs this on every 5xx: the chain, bounded, never a backtrace.
        if let Some(source) = &self.source {
            write!(f, "; caused by: {}", bounded_cause(source))?;
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
            let cause = self.source.as_ref().map(bounded_cause).unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_form_is_bounded_and_has_no_backtrace() {
        // The chain is printed with `{:#}` (messages only), so a backtrace anyhow captured under
        // RUST_BACKTRACE=1 never reaches the line; the length is what this can check.
        let deep = (0..200).fold(anyhow::anyhow!("{}", "x".repeat(10_000)), |e, i| {
            e.context(format!("step {i}"))
        });
        let logged = format!("{:?}", ApiError::internal(deep));
        assert!(logged.len() < 5_000, "{} bytes", logged.len());
        assert!(logged.starts_with("500 internal: "), "{logged}");
        assert!(logged.contains("step 199"));
    }

    #[test]
    fn an_unreachable_database_is_503_and_a_failed_query_500() {
        let down = anyhow::Error::new(sqlx::Error::PoolTimedOut).context("loading the portal");
        let e = ApiError::internal(down);
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.retry_after, Some(DATABASE_RETRY_AFTER_SECS));
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(
            ApiError::internal(refused.into()).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let broken = sqlx::Error::RowNotFound;
        assert_eq!(
            ApiError::internal(broken.into()).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}

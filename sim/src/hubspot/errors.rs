//! HubSpot's error bodies as the simulator sends them (docs/hubspot.md H, D.6, E.3, G).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use ember_hubspot::wire::error::{
    ErrorBody, ErrorContext, PROPERTY_VALIDATION_PREFIX, PropertyValidationResult, StandardError,
};
use ember_hubspot::wire::rate_limit::RateLimitError;

pub(crate) const CONTACTS_NOT_FOUND: &str = "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.";

pub(crate) fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The standard error body.
pub(crate) fn body(category: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody {
        status: Some("error".into()),
        message: message.into(),
        correlation_id: correlation_id(),
        category: category.into(),
        sub_category: None,
        context: None,
        links: None,
        errors: None,
        request_id: None,
    }
}

pub(crate) fn with_context(mut b: ErrorBody, key: &str, values: Vec<String>) -> ErrorBody {
    b.context
        .get_or_insert_with(ErrorContext::new)
        .insert(key.into(), values);
    b
}

pub(crate) fn respond(status: StatusCode, body: &ErrorBody) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// 401: no or unknown token (docs/hubspot.md D.6).
pub(crate) fn unauthenticated() -> HttpResponse {
    respond(
        StatusCode::UNAUTHORIZED,
        &body(
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        ),
    )
}

/// 401: an expired access token (docs/hubspot.md D.6).
pub(crate) fn expired(ago_ms: i64) -> HttpResponse {
    let minutes = ago_ms / 60_000;
    let message = if minutes >= 60 {
        format!(
            "The OAuth token used to make this call expired {} hour(s) ago.",
            minutes / 60
        )
    } else {
        format!("The OAuth token used to make this call expired {minutes} minute(s) ago.")
    };
    respond(
        StatusCode::UNAUTHORIZED,
        &body("EXPIRED_AUTHENTICATION", message),
    )
}

/// 403: a scope the call needs is missing.
pub(crate) fn missing_scopes(scopes: &[&str]) -> HttpResponse {
    let b = body(
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
    );
    let b = with_context(
        b,
        "requiredGranularScopes",
        scopes.iter().map(|s| s.to_string()).collect(),
    );
    respond(StatusCode::FORBIDDEN, &b)
}

pub(crate) fn not_found() -> HttpResponse {
    respond(
        StatusCode::NOT_FOUND,
        &body("OBJECT_NOT_FOUND", "resource not found"),
    )
}

pub(crate) fn validation(message: impl Into<String>) -> HttpResponse {
    respond(StatusCode::BAD_REQUEST, &body("VALIDATION_ERROR", message))
}

/// Malformed JSON: 400 without a category in real life; the spec requires one, so the
/// simulator sends `VALIDATION_ERROR` (spec over observation, README).
pub(crate) fn bad_json(detail: &str) -> HttpResponse {
    validation(format!("Invalid input JSON on line 1, column 1: {detail}"))
}

pub(crate) fn property_message(results: &[PropertyValidationResult]) -> String {
    format!(
        "{PROPERTY_VALIDATION_PREFIX}{}",
        serde_json::to_string(results).unwrap_or_else(|_| "[]".into())
    )
}

/// 400 of a single write whose values are invalid.
pub(crate) fn property_invalid(results: &[PropertyValidationResult]) -> HttpResponse {
    validation(property_message(results))
}

/// One failed row of a 207 (SPEC `StandardError`, every required field present).
pub(crate) fn row(
    category: &str,
    message: impl Into<String>,
    context: ErrorContext,
) -> StandardError {
    StandardError {
        status: "error".into(),
        category: category.into(),
        message: message.into(),
        context,
        errors: Vec::new(),
        links: Default::default(),
        id: None,
        sub_category: None,
    }
}

/// The 429 body (docs/hubspot.md G).
pub(crate) fn rate_limited(policy: &str) -> RateLimitError {
    let message = match policy {
        "DAILY" => "You have reached your daily limit.".to_string(),
        other => format!(
            "You have reached your {} limit.",
            other.to_ascii_lowercase()
        ),
    };
    RateLimitError {
        status: "error".into(),
        message,
        error_type: "RATE_LIMIT".into(),
        correlation_id: correlation_id(),
        policy_name: policy.into(),
        request_id: correlation_id(),
    }
}

//! HubSpot's error bodies as the simulator sends them (docs/hubspot.md H, D.6, E.3, G), and the
//! correlation step every HubSpot answer passes through: each carries an
//! `X-HubSpot-Correlation-Id` header, and each JSON error body a `category` and the same
//! `correlationId` (docs/hubspot.md H).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use ember_hubspot::wire::error::{
    ErrorBody, ErrorContext, ErrorDetail, PROPERTY_VALIDATION_PREFIX, PropertyValidationResult,
    StandardError,
};
use ember_hubspot::wire::rate_limit::RateLimitError;

use crate::setup::ValidationRule;

/// The header HubSpot puts on every answer (docs/hubspot.md H).
pub const CORRELATION_HEADER: &str = "x-hubspot-correlation-id";

/// Tag on a response that HubSpot's edge sent, not HubSpot's API: no correlation id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EdgeTag;

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

/// 403: a scope the call needs is missing. HubSpot names the scopes in an `errors[]` entry's
/// `context.requiredGranularScopes`, any one of which would do (docs/hubspot.md H).
pub(crate) fn missing_scopes(scopes: &[&str]) -> HttpResponse {
    let mut b = body(
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
    );
    b.errors = Some(vec![ErrorDetail {
        message: "One or more of the following scopes are required.".into(),
        code: None,
        in_: None,
        sub_category: None,
        context: Some(ErrorContext::from([(
            "requiredGranularScopes".to_string(),
            scopes.iter().map(|s| s.to_string()).collect(),
        )])),
    }]);
    b.links = Some(
        [(
            "scopes".to_string(),
            "https://developers.hubspot.com/scopes".to_string(),
        )]
        .into(),
    );
    respond(StatusCode::FORBIDDEN, &b)
}

pub(crate) fn not_found() -> HttpResponse {
    respond(
        StatusCode::NOT_FOUND,
        &body("OBJECT_NOT_FOUND", "resource not found"),
    )
}

/// A path HubSpot does not serve: a JSON 404 in the standard shape, never an empty body.
pub(crate) async fn unknown_path(req: HttpRequest) -> HttpResponse {
    respond(
        StatusCode::NOT_FOUND,
        &body(
            "OBJECT_NOT_FOUND",
            format!("No endpoint matches {} {}", req.method(), req.path()),
        ),
    )
}

pub(crate) fn validation(message: impl Into<String>) -> HttpResponse {
    respond(StatusCode::BAD_REQUEST, &body("VALIDATION_ERROR", message))
}

/// A 400 `VALIDATION_ERROR` whose `errors[]` name what was wrong: each detail a `code` and the
/// property in `context.propertyName` (docs/hubspot.md H).
pub(crate) fn validation_details(
    message: impl Into<String>,
    details: Vec<(String, String, String)>,
) -> HttpResponse {
    let mut b = body("VALIDATION_ERROR", message);
    b.errors = Some(
        details
            .into_iter()
            .map(|(code, property, message)| detail(code, property, message))
            .collect(),
    );
    respond(StatusCode::BAD_REQUEST, &b)
}

/// One `errors[]` entry about a property.
pub(crate) fn detail(code: String, property: String, message: String) -> ErrorDetail {
    ErrorDetail {
        message,
        code: Some(code),
        in_: None,
        sub_category: None,
        context: Some(ErrorContext::from([(
            "propertyName".to_string(),
            vec![property],
        )])),
    }
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

/// 400 of a write whose values are invalid: the message embeds the results, and `errors[]`
/// lists each with its code and `context.propertyName`.
pub(crate) fn property_invalid(results: &[PropertyValidationResult]) -> HttpResponse {
    validation_details(
        property_message(results),
        results
            .iter()
            .map(|r| (r.error.clone(), r.name.clone(), r.message.clone()))
            .collect(),
    )
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

/// The failed row of a batch write that breaks a portal's validation rule (docs/hubspot.md P3):
/// `VALIDATION_ERROR` with the rule's text, naming the property and the row.
pub(crate) fn rule_row(rule: &ValidationRule, id: &str, trace: Option<&str>) -> StandardError {
    let mut context = ErrorContext::from([
        ("propertyName".to_string(), vec![rule.property_name.clone()]),
        ("ids".to_string(), vec![id.to_string()]),
    ]);
    if let Some(trace) = trace {
        context.insert("objectWriteTraceId".into(), vec![trace.to_string()]);
    }
    let mut e = row("VALIDATION_ERROR", rule_message(rule), context);
    e.errors = vec![rule_detail(rule)];
    e
}

fn rule_message(rule: &ValidationRule) -> String {
    format!(
        "Property \"{}\" failed validation: {}",
        rule.property_name, rule.message
    )
}

fn rule_detail(rule: &ValidationRule) -> ErrorDetail {
    detail(
        "VALIDATION_RULE_FAILED".into(),
        rule.property_name.clone(),
        rule.message.clone(),
    )
}

/// 400 of a single write that breaks validation rules.
pub(crate) fn rules_broken(rules: &[&ValidationRule]) -> HttpResponse {
    let message = rules
        .iter()
        .map(|r| rule_message(r))
        .collect::<Vec<_>>()
        .join("; ");
    let mut b = body("VALIDATION_ERROR", message);
    b.errors = Some(rules.iter().map(|r| rule_detail(r)).collect());
    respond(StatusCode::BAD_REQUEST, &b)
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
        category: Some("RATE_LIMITS".into()),
        correlation_id: correlation_id(),
        policy_name: policy.into(),
        request_id: correlation_id(),
    }
}

/// An HTML error page as HubSpot's edge (its CDN) sends it in front of the API: not JSON, no
/// correlation id (docs/hubspot.md H).
pub(crate) fn edge_page(status: StatusCode) -> HttpResponse {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let mut resp = HttpResponse::build(status)
        .content_type("text/html; charset=UTF-8")
        .body(format!(
            "<!DOCTYPE html>\n<html><head><title>api.hubapi.com | {code}: {reason}</title></head>\n<body><h1>Error {code}</h1><p>{reason}. The web server reported an error; please try again in a few minutes.</p></body></html>\n"
        ));
    resp.extensions_mut().insert(EdgeTag);
    resp
}

/// The category HubSpot's standard shape needs, for a JSON error body that came without one.
fn fallback_category(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "VALIDATION_ERROR",
        401 => "INVALID_AUTHENTICATION",
        403 => "MISSING_SCOPES",
        404 => "OBJECT_NOT_FOUND",
        409 => "CONFLICT",
        429 => "RATE_LIMITS",
        _ => "INTERNAL_ERROR",
    }
}

fn is_json(resp: &HttpResponse) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Gives one HubSpot answer its correlation id. A JSON error body gets `category` and
/// `correlationId` if it lacks them, and the header repeats the body's id; any other answer
/// gets a fresh id in the header; only its header is touched, so a reset connection (a 200 whose
/// body fails) stays a reset. Edge pages are left as they are.
pub(crate) async fn correlate(res: ServiceResponse) -> ServiceResponse {
    let skip = {
        let resp = res.response();
        resp.extensions().get::<EdgeTag>().is_some()
            || resp.headers().contains_key(CORRELATION_HEADER)
    };
    if skip {
        return res;
    }
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || !is_json(res.response()) {
        let mut res = res;
        set_header(res.response_mut(), &correlation_id());
        return res;
    }
    let (req, resp) = res.into_parts();
    let (mut head, body) = resp.into_parts();
    // Every JSON error is built whole in memory (`HttpResponse::json`), so this is a copy of
    // bytes already there; only a streamed body would need reading, and none fails mid-way.
    let bytes = match body.try_into_bytes() {
        Ok(b) => b,
        Err(body) => actix_web::body::to_bytes(body).await.unwrap_or_default(),
    };
    let mut id = correlation_id();
    let bytes = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut map)) => {
            match map.get("correlationId").and_then(|v| v.as_str()) {
                Some(existing) => id = existing.to_string(),
                None => {
                    map.insert("correlationId".into(), id.clone().into());
                }
            }
            map.entry("category")
                .or_insert_with(|| fallback_category(status).into());
            serde_json::to_vec(&map)
                .map(actix_web::web::Bytes::from)
                .unwrap_or(bytes)
        }
        _ => bytes,
    };
    set_header(&mut head, &id);
    let resp = head.set_body(BoxBody::new(bytes));
    ServiceResponse::new(req, resp)
}

fn set_header<B>(resp: &mut HttpResponse<B>, id: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut()
            .insert(HeaderName::from_static(CORRELATION_HEADER), v);
    }
}

//! Reads a request body as raw bytes, refusing more than the limit: signatures cover the exact
//! bytes, so a parsed-JSON extractor is never used here.

use actix_web::http::StatusCode;
use actix_web::web::{self, BytesMut};
use futures_util::StreamExt;

use crate::error::ApiError;

pub async fn read_limited(
    request: &actix_web::HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    source: &'static str,
) -> Result<web::Bytes, ApiError> {
    let too_large = || {
        super::count_rejection(source, "body_too_large");
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body exceeds {limit} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("unreadable_body", format!("cannot read body: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

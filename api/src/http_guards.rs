//! What every response and request body of the api goes through, whatever the route:
//! - a deadline on reading the body (a client that trickles a body would otherwise hold a
//!   connection and a worker's attention for as long as it likes): 408 and the connection closed;
//! - security headers: `nosniff` and no framing everywhere, `no-store` on the admin API and the
//!   OAuth pages (they carry the CSRF token and session answers), HSTS when Ember is served over
//!   HTTPS;
//! - JSON error bodies for what actix answers before a handler runs: unreadable JSON, query,
//!   path or form values, and unknown paths outside the console.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::Stream;

use crate::error::ApiError;

/// A request body that fails once its deadline has passed, and says so in `expired`.
struct DeadlineBody {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl Stream for DeadlineBody {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => Poll::Ready(item),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.expired.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body did not arrive in time",
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// The deadline of a request's body, from the moment its head was read.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

/// Middleware: reads of the body fail after [`BodyDeadline`]; a request whose body was late is
/// answered 408 (whatever the handler made of the failed read) and its connection closed.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(BodyDeadline(limit)) = req
        .app_data::<web::Data<BodyDeadline>>()
        .map(|d| *d.get_ref())
    else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let expired = Arc::new(AtomicBool::new(false));
    let body = DeadlineBody {
        inner: req.take_payload(),
        deadline: Box::pin(tokio::time::sleep(limit)),
        expired: expired.clone(),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(body),
    });
    let response = next.call(req).await?;
    if !expired.load(Ordering::Relaxed) {
        return Ok(response.map_into_boxed_body());
    }
    tracing::info!(
        limit_ms = limit.as_millis() as u64,
        "request body too slow; answered 408"
    );
    let late = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        format!(
            "the request body did not arrive within {} ms",
            limit.as_millis()
        ),
    );
    let mut answer = late.error_response();
    answer
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    let (request, _) = response.into_parts();
    Ok(ServiceResponse::new(request, answer))
}

/// Whether responses carry HSTS (Ember's public URL is HTTPS).
#[derive(Debug, Clone, Copy)]
pub struct Hsts(pub bool);

/// Middleware: the security headers every response needs (a route that set its own keeps it).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hsts = req.app_data::<web::Data<Hsts>>().is_some_and(|h| h.0);
    let path = req.path().to_owned();
    let mut response = next.call(req).await?;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    let mut set_default = |name: header::HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set_default(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(header::X_FRAME_OPTIONS, "DENY");
    if is_html {
        set_default(header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'");
    }
    if path.starts_with("/admin") || path.starts_with("/oauth") {
        set_default(header::CACHE_CONTROL, "no-store");
    }
    if hsts {
        set_default(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    Ok(response)
}

/// JSON error bodies for what actix refuses before a handler runs.
pub fn configure_extractor_errors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().error_handler(|e, _| {
        let status = e.status_code();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            "unsupported_media_type"
        } else {
            "invalid_json"
        };
        ApiError::new(status, code, format!("the JSON body was refused: {e}")).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|e, _| {
        // Not found, as actix answers it: no resource has that name.
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such resource: {e}"),
        )
        .into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|e, _| {
        ApiError::bad_request(
            "invalid_query",
            format!("the query string is not valid: {e}"),
        )
        .into()
    }))
    .app_data(web::FormConfig::default().error_handler(|e, _| {
        ApiError::bad_request("invalid_form", format!("the form is not valid: {e}")).into()
    }));
}

/// `GET /`: a person who opens Ember's address lands in the console.
pub async fn root() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/app"))
        .finish()
}

/// The answer to a path no route serves (the console under `/app` has its own page).
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route serves {} {}", req.method(), req.path()),
    )
    .error_response()
}

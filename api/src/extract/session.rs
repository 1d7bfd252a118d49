//! [`CurrentPerson`]: the signed-in person, from the session cookie (signature, expiry, and a
//! live row in `sessions`). Anything else is 401 `unauthenticated`.
//!
//! CSRF is checked here too, after authentication: an unsafe request (not GET, HEAD or OPTIONS)
//! must carry the session's token in `X-CSRF-Token`, or the extractor answers 403 `csrf` before
//! the handler runs. The one exception is a console form: on a route marked with [`CsrfForm`]
//! (`web::resource(..).app_data(CsrfForm)`), a urlencoded body without the header is let through
//! and the handler checks the form's `_csrf` field with [`crate::session::check_csrf`] before it
//! changes anything. (An extractor cannot read the field itself: the body belongs to the
//! handler's `web::Form`.) A header that is present is always checked, marker or not.

use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use crate::error::ApiError;
use crate::session::{CSRF_HEADER, SESSION_COOKIE, check_csrf, csrf_refused};
use crate::state::Tenancy;

/// The person a request is made by.
#[derive(Debug, Clone, Copy)]
pub struct CurrentPerson {
    pub person_id: i64,
    pub session_id: Uuid,
}

/// Marks a route whose handler takes a urlencoded form and checks its `_csrf` field itself with
/// [`crate::session::check_csrf`]; register it as the route's app data.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsrfForm;

/// How an unsafe request's CSRF token is to be checked.
enum CsrfCheck {
    /// A safe method: nothing to check.
    None,
    /// The `X-CSRF-Token` header's value (`None`: absent or not text).
    Header(Option<String>),
    /// A form on a [`CsrfForm`] route: its handler checks `_csrf`.
    Handler,
}

fn csrf_check(req: &HttpRequest) -> CsrfCheck {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return CsrfCheck::None;
    }
    if let Some(value) = req.headers().get(CSRF_HEADER) {
        return CsrfCheck::Header(value.to_str().ok().map(str::to_owned));
    }
    let form_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if form_body && req.app_data::<CsrfForm>().is_some() {
        CsrfCheck::Handler
    } else {
        CsrfCheck::Header(None)
    }
}

fn unauthenticated() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "sign in with HubSpot first",
    )
}

impl FromRequest for CurrentPerson {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let tenancy = req.app_data::<web::Data<Tenancy>>().cloned();
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let csrf = csrf_check(req);
        Box::pin(async move {
            let tenancy = tenancy.ok_or_else(unauthenticated)?;
            let claims = token
                .and_then(|t| tenancy.signer.verify_session(&t))
                .ok_or_else(unauthenticated)?;
            let person = ember_core::store::sessions::person(&tenancy.pool, claims.sid)
                .await
                .map_err(|e| ApiError::internal(e.into()))?;
            let person = match person {
                Some(p) if p == claims.sub => CurrentPerson {
                    person_id: p,
                    session_id: claims.sid,
                },
                _ => return Err(unauthenticated()),
            };
            match csrf {
                CsrfCheck::None | CsrfCheck::Handler => Ok(person),
                CsrfCheck::Header(Some(value)) => {
                    check_csrf(&tenancy.signer, person.session_id, Some(&value))?;
                    Ok(person)
                }
                CsrfCheck::Header(None) => Err(csrf_refused()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

    #[test]
    fn safe_methods_need_no_token() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            let req = TestRequest::default().method(method).to_http_request();
            assert!(matches!(csrf_check(&req), CsrfCheck::None));
        }
    }

    #[test]
    fn an_unsafe_request_is_checked_by_its_header_when_it_has_one() {
        let req = TestRequest::post()
            .insert_header((CSRF_HEADER, "abc"))
            .insert_header((header::CONTENT_TYPE, FORM))
            .app_data(CsrfForm)
            .to_http_request();
        assert!(matches!(csrf_check(&req), CsrfCheck::Header(Some(t)) if t == "abc"));
        for method in [Method::PUT, Method::DELETE, Method::PATCH] {
            let req = TestRequest::default().method(method).to_http_request();
            assert!(matches!(csrf_check(&req), CsrfCheck::Header(None)));
        }
    }

    #[test]
    fn only_a_form_on_a_marked_route_leaves_the_check_to_its_handler() {
        let marked_form = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, FORM))
            .app_data(CsrfForm)
            .to_http_request();
        assert!(matches!(csrf_check(&marked_form), CsrfCheck::Handler));
        let unmarked_form = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, FORM))
            .to_http_request();
        assert!(matches!(
            csrf_check(&unmarked_form),
            CsrfCheck::Header(None)
        ));
        let marked_json = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .app_data(CsrfForm)
            .to_http_request();
        assert!(matches!(csrf_check(&marked_json), CsrfCheck::Header(None)));
    }
}

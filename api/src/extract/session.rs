//! [`CurrentPerson`]: the signed-in person, from the session cookie (signature, expiry, and a
//! live row in `sessions`). Anything else is 401 `unauthenticated`.

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use crate::error::ApiError;
use crate::routes::oauth::Tenancy;
use crate::session::SESSION_COOKIE;

/// The person a request is made by.
#[derive(Debug, Clone, Copy)]
pub struct CurrentPerson {
    pub person_id: i64,
    pub session_id: Uuid,
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
        Box::pin(async move {
            let tenancy = tenancy.ok_or_else(unauthenticated)?;
            let claims = token
                .and_then(|t| tenancy.signer.verify_session(&t))
                .ok_or_else(unauthenticated)?;
            let person = ember_core::store::sessions::person(&tenancy.pool, claims.sid)
                .await
                .map_err(|e| ApiError::internal(e.into()))?;
            match person {
                Some(p) if p == claims.sub => Ok(CurrentPerson {
                    person_id: p,
                    session_id: claims.sid,
                }),
                _ => Err(unauthenticated()),
            }
        })
    }
}

//! `GET /oauth/install[?invite=...]` (also `/oauth/login`): redirect to HubSpot's authorize page
//! with a fresh `state` bound to a cookie. `POST /oauth/logout` ends the session.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use ember_hubspot::AuthorizeRequest;
use serde::Deserialize;

use super::Tenancy;
use super::page::failure;
use crate::session::{CSRF_HEADER, SESSION_COOKIE, STATE_COOKIE, check_csrf};

#[derive(Debug, Deserialize)]
pub(crate) struct InstallQuery {
    /// A signed invitation into an agency (from `POST /admin/agencies/{id}/invites`).
    invite: Option<String>,
}

pub(crate) async fn install(
    tenancy: web::Data<Tenancy>,
    query: web::Query<InstallQuery>,
) -> HttpResponse {
    let invite = match query.invite.as_deref() {
        None => None,
        Some(token) => match tenancy.signer.verify_invite(token) {
            Some(invite) => Some(invite),
            None => {
                tracing::info!(reason = "invalid_invite", "Install link refused.");
                return failure(
                    StatusCode::BAD_REQUEST,
                    "invalid_invite",
                    "This install link is not valid or has expired. Ask your agency's owner for a new one.",
                );
            }
        },
    };
    let (state, nonce) = match tenancy.signer.new_state(invite) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::error!(error = %e, "Could not sign an OAuth state.");
            return failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on our side.",
            );
        }
    };
    let url = tenancy.hubspot.authorize_url(&AuthorizeRequest {
        redirect_uri: &tenancy.redirect_uri,
        scopes: &tenancy.scopes,
        optional_scopes: &tenancy.optional_scopes,
        state: &state,
        portal: None,
    });
    let cookie =
        tenancy
            .signer
            .cookie(STATE_COOKIE, nonce, "/", tenancy.signer.state_lifetime_secs);
    HttpResponse::Found()
        .insert_header(("Location", url.to_string()))
        .insert_header(("Cache-Control", "no-store"))
        .cookie(cookie)
        .finish()
}

/// `POST /oauth/logout`: ends the session. A signed-in request must carry its `X-CSRF-Token`
/// (403 otherwise, the session stays), so another site cannot sign a person out.
pub(crate) async fn logout(tenancy: web::Data<Tenancy>, req: HttpRequest) -> HttpResponse {
    if let Some(claims) = req
        .cookie(SESSION_COOKIE)
        .and_then(|c| tenancy.signer.verify_session(c.value()))
    {
        let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if let Err(refused) = check_csrf(&tenancy.signer, claims.sid, presented) {
            return refused.error_response();
        }
        if let Err(e) = ember_core::store::sessions::delete(&tenancy.pool, claims.sid).await {
            tracing::warn!(error = %e, "Could not delete a session.");
        }
    }
    HttpResponse::NoContent()
        .cookie(tenancy.signer.removal(SESSION_COOKIE, "/"))
        .finish()
}

//! `GET /oauth/install[?invite=...]` (also `/oauth/login`): redirect to HubSpot's authorize page
//! with a fresh `state` bound to a cookie. `POST /oauth/logout` ends the session.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use ember_core::domain::{InviteId, InviteToken};
use ember_core::store::invites::InviteRefusal;
use ember_hubspot::AuthorizeRequest;
use serde::Deserialize;

use super::page::{failure, invite_refused};
use crate::session::{CSRF_HEADER, SESSION_COOKIE, STATE_COOKIE, check_csrf};
use crate::state::Tenancy;

#[derive(Debug, Deserialize)]
pub(crate) struct InstallQuery {
    /// An invitation's token (from `POST /admin/agencies/{id}/invites`).
    invite: Option<String>,
}

/// Checks the invite a link names before the person is sent to HubSpot, so a revoked, expired
/// or used-up link is refused before consent. The callback checks it again when it claims it
/// (someone else may have used it meanwhile) and checks who installs.
pub(crate) async fn install(
    tenancy: web::Data<Tenancy>,
    query: web::Query<InstallQuery>,
) -> HttpResponse {
    let invite = match query.invite.as_deref() {
        None => None,
        Some(raw) => {
            let found = match InviteToken::parse(raw) {
                Err(_) => Ok(Err(InviteRefusal::Unknown)),
                Ok(token) => ember_core::store::invites::find_by_token(&tenancy.pool, &token).await,
            };
            match found {
                Ok(Ok(invite)) => Some(invite.invite_id),
                Ok(Err(refusal)) => {
                    tracing::info!(reason = refusal.code(), "Install link refused.");
                    return invite_refused(refusal);
                }
                Err(e) => {
                    tracing::error!(error = %e, "Could not look up an invite.");
                    return failure(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "Ember could not check this install link right now. Please try again in a minute.",
                    );
                }
            }
        }
    };
    let invite = invite.and_then(|id| InviteId::new(id).ok());
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

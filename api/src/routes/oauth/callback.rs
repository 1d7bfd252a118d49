//! `GET /oauth/callback`: state check (signature, expiry, cookie binding, single use), code
//! exchange, token info, install (claiming the state's invite, if any, in the install's
//! transaction), session, redirect. Denied consent, a bad state and a failed
//! exchange each get a page that says so and a log line with the reason (never the code, the
//! state or a token).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{TimeZone, Utc};
use ember_core::tenancy::install::{AgencyChoice, InstallError, complete_oauth_install};
use secrecy::SecretString;
use serde::Deserialize;

use super::page::{failure, invite_refused, page};
use crate::session::{SESSION_COOKIE, STATE_COOKIE};
use crate::state::Tenancy;

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub(crate) async fn callback(
    tenancy: web::Data<Tenancy>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let query = query.into_inner();
    let nonce = req.cookie(STATE_COOKIE).map(|c| c.value().to_owned());
    let claims = match tenancy
        .signer
        .verify_state(query.state.as_deref(), nonce.as_deref())
    {
        Ok(claims) => claims,
        Err(problem) => {
            tracing::warn!(
                reason = problem.reason(),
                "OAuth callback refused: bad state."
            );
            return failure(
                StatusCode::BAD_REQUEST,
                problem.reason(),
                "This sign-in link is not valid for this browser, or it has expired. Please start the installation again.",
            );
        }
    };
    let expires = Utc
        .timestamp_opt(claims.exp, 0)
        .single()
        .unwrap_or_else(Utc::now);
    match ember_core::store::sessions::consume_state(&tenancy.pool, claims.jti, expires).await {
        Ok(true) => {
            // Now and then, forget used states and sessions past their expiry.
            if rand::random::<u8>() < 8 {
                let pool = tenancy.pool.clone();
                actix_web::rt::spawn(async move {
                    if let Err(e) = ember_core::store::sessions::purge_expired(&pool).await {
                        tracing::warn!(error = %e, "Could not purge expired sessions and states.");
                    }
                });
            }
        }
        Ok(false) => {
            tracing::warn!(
                reason = "state_reused",
                "OAuth callback refused: state used before."
            );
            return failure(
                StatusCode::BAD_REQUEST,
                "state_reused",
                "This sign-in link was already used. Please start the installation again.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "Could not record the OAuth state.");
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Ember could not complete the installation right now. Please try again in a minute.",
            );
        }
    }
    if let Some(error) = query.error.as_deref() {
        tracing::info!(reason = "consent_denied", hubspot_error = %error, description = query.error_description.as_deref().unwrap_or(""),
            "OAuth callback: HubSpot reported an error.");
        let message = if error == "access_denied" {
            "You did not grant Ember access to your HubSpot account, so nothing was installed."
                .to_owned()
        } else {
            format!("HubSpot did not authorize the installation ({error}).")
        };
        return failure(StatusCode::BAD_REQUEST, "consent_denied", &message);
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()).map(SecretString::from) else {
        tracing::warn!(reason = "missing_code", "OAuth callback refused: no code.");
        return failure(
            StatusCode::BAD_REQUEST,
            "missing_code",
            "HubSpot did not send an authorization code.",
        );
    };
    let tokens = match tenancy
        .hubspot
        .exchange_code(&code, &tenancy.redirect_uri)
        .await
    {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!(reason = "exchange_failed", error = %e, "OAuth code exchange failed.");
            return failure(
                StatusCode::BAD_GATEWAY,
                "exchange_failed",
                "HubSpot did not accept the authorization. Please start the installation again.",
            );
        }
    };
    let info = match tenancy
        .hubspot
        .access_token_info(&tokens.access_token)
        .await
    {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(reason = "token_info_failed", error = %e, "Reading the access-token info failed.");
            return failure(
                StatusCode::BAD_GATEWAY,
                "token_info_failed",
                "Ember could not read your HubSpot account details. Please try again.",
            );
        }
    };
    let choice = claims
        .invite
        .map_or(AgencyChoice::Default, AgencyChoice::Invited);
    let installed = match complete_oauth_install(
        &tenancy.pool,
        &tenancy.hubspot,
        &tenancy.cipher,
        &tokens,
        &info,
        choice,
    )
    .await
    {
        Ok(installed) => installed,
        Err(InstallError::Invite(refusal)) => {
            // HubSpot has granted access, but Ember stored nothing: the person was told why
            // and can install without the link, or with a new one.
            tracing::warn!(
                reason = refusal.code(),
                hub_id = info.hub_id,
                "OAuth callback refused: the invite cannot be used by this person."
            );
            return invite_refused(refusal);
        }
        Err(e) => {
            tracing::error!(reason = "install_failed", hub_id = info.hub_id, error = %e, cause = ?std::error::Error::source(&e),
                "Completing the install failed.");
            return failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "install_failed",
                "Ember could not complete the installation. It has been logged; please try again.",
            );
        }
    };
    let portal = installed.portal.get();
    let expires_at = Utc::now() + chrono::Duration::seconds(tenancy.signer.session_lifetime_secs);
    let session = match ember_core::store::sessions::create(
        &tenancy.pool,
        installed.person,
        expires_at,
    )
    .await
    {
        Ok(id) => tenancy.signer.new_session(id, installed.person).ok(),
        Err(e) => {
            tracing::error!(error = %e, "Could not start a session.");
            None
        }
    };
    let mut response = if !installed.person_has_access {
        metrics::counter!("ember_oauth_installs_total", "outcome" => "other_agency").increment(1);
        page(
            StatusCode::OK,
            "Ember is installed",
            "This HubSpot account is managed by another Ember agency. Ask its owner for an invitation to see it.",
            "other_agency",
            None,
        )
    } else {
        match &installed.provision {
            Ok(report) if report.conflicts.is_empty() => {
                metrics::counter!("ember_oauth_installs_total", "outcome" => "installed")
                    .increment(1);
                HttpResponse::Found()
                    .insert_header(("Location", format!("/app/portals/{portal}")))
                    .finish()
            }
            Ok(report) => {
                metrics::counter!("ember_oauth_installs_total", "outcome" => "property_conflict")
                    .increment(1);
                let names: Vec<String> = report
                    .conflicts
                    .iter()
                    .map(|c| format!("{} (is {}, Ember needs {})", c.name, c.found, c.wanted))
                    .collect();
                page(
                    StatusCode::OK,
                    "Ember is installed, with a conflict",
                    &format!(
                        "These contact properties already exist with another type, so Ember cannot write them: {}. Rename or delete them in HubSpot, then install again.",
                        names.join("; ")
                    ),
                    "property_conflict",
                    Some((&format!("/app/portals/{portal}"), "Continue to the portal")),
                )
            }
            Err(e) => {
                metrics::counter!("ember_oauth_installs_total", "outcome" => "provision_failed")
                    .increment(1);
                tracing::warn!(portal_id = portal, error = %e, "Install completed, but properties were not provisioned.");
                page(
                    StatusCode::OK,
                    "Ember is installed, but not ready",
                    "Ember could not create its score properties in HubSpot. Please run the installation again in a few minutes.",
                    "provision_failed",
                    Some((&format!("/app/portals/{portal}"), "Continue to the portal")),
                )
            }
        }
    };
    let _ = response.add_removal_cookie(&tenancy.signer.removal(STATE_COOKIE, "/"));
    if let Some(token) = session {
        let _ = response.add_cookie(&tenancy.signer.cookie(
            SESSION_COOKIE,
            token,
            "/",
            tenancy.signer.session_lifetime_secs,
        ));
    }
    response
}

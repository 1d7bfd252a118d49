//! `GET /oauth/callback`: state check (signature, expiry, cookie binding, single use), code
//! exchange, access-token introspection, install (claiming the state's invite, if any, in the
//! install's transaction), session, redirect. Every way the install can fail is a [`CallbackError`]: one
//! page that says so and one log line with the reason (never the code, the state or a token).
//! The two HubSpot calls made here, code exchange and introspection, are [`exchange_code`] and
//! [`token_info`]; provisioning happens inside `complete_oauth_install`.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{TimeZone, Utc};
use ember_core::store::invites::InviteRefusal;
use ember_core::store::sessions;
use ember_core::tenancy::install::{AgencyChoice, InstallError, Installed, complete_oauth_install};
use ember_hubspot::TokenSet;
use ember_hubspot::wire::oauth::AccessTokenIntrospection;
use secrecy::SecretString;
use serde::Deserialize;

use super::page::{failure, invite_refused, page};
use crate::session::{SESSION_COOKIE, STATE_COOKIE, StateClaims, StateProblem};
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
    match install_portal(&tenancy, &req, query.into_inner()).await {
        Ok(installed) => installed_page(&tenancy, installed).await,
        Err(error) => {
            error.log();
            error.page()
        }
    }
}

/// Why an install did not complete, with what its page and its log line need.
#[derive(Debug)]
enum CallbackError {
    /// The `state` is missing, expired, forged, or bound to another browser.
    BadState(StateProblem),
    /// The `state` was consumed before (single use).
    StateReused,
    /// Postgres could not record the `state` as used.
    StateNotRecorded(sqlx::Error),
    /// HubSpot came back with an error instead of a code (`access_denied`: no consent).
    ConsentDenied {
        error: String,
        description: Option<String>,
    },
    /// HubSpot came back with neither a code nor an error.
    MissingCode,
    /// HubSpot refused to exchange the code for tokens.
    Exchange(ember_hubspot::Error),
    /// HubSpot would not describe the new access token.
    TokenInfo(ember_hubspot::Error),
    /// HubSpot's introspection says the access token it just issued is not active.
    TokenActivity,
    /// HubSpot granted access, but the state's invite cannot be used by this person; Ember
    /// stored nothing, and the page says how to install without the link or with a new one.
    InviteRefused { refusal: InviteRefusal, hub_id: u64 },
    /// Storing the install failed.
    Install { hub_id: u64, error: InstallError },
}

impl CallbackError {
    /// The reason: the page's reference code, the log line's `reason` and the outcome label of
    /// `ember_oauth_installs_total`.
    fn code(&self) -> &'static str {
        match self {
            CallbackError::BadState(problem) => problem.reason(),
            CallbackError::StateReused => "state_reused",
            CallbackError::StateNotRecorded(_) => "unavailable",
            CallbackError::ConsentDenied { .. } => "consent_denied",
            CallbackError::MissingCode => "missing_code",
            CallbackError::Exchange(_) => "exchange_failed",
            CallbackError::TokenInfo(_) => "token_info_failed",
            CallbackError::TokenActivity => "token_inactive",
            CallbackError::InviteRefused { refusal, .. } => refusal.code(),
            CallbackError::Install { .. } => "install_failed",
        }
    }

    /// The one log line of a failed callback. A denied consent is the person's choice (INFO);
    /// what Ember must fix is ERROR.
    fn log(&self) {
        let reason = self.code();
        match self {
            CallbackError::BadState(_) => {
                tracing::warn!(reason, "OAuth callback refused: bad state.");
            }
            CallbackError::StateReused => {
                tracing::warn!(reason, "OAuth callback refused: state used before.");
            }
            CallbackError::StateNotRecorded(e) => {
                tracing::error!(reason, error = %e, "Could not record the OAuth state.");
            }
            CallbackError::ConsentDenied { error, description } => {
                tracing::info!(reason, hubspot_error = %error, description = description.as_deref().unwrap_or(""),
                    "OAuth callback: HubSpot reported an error.");
            }
            CallbackError::MissingCode => {
                tracing::warn!(reason, "OAuth callback refused: no code.");
            }
            CallbackError::Exchange(e) => {
                tracing::warn!(reason, error = %e, "OAuth code exchange failed.");
            }
            CallbackError::TokenInfo(e) => {
                tracing::warn!(reason, error = %e, "Introspecting the access token failed.");
            }
            CallbackError::TokenActivity => {
                tracing::warn!(reason, "HubSpot says the new access token is not active.");
            }
            CallbackError::InviteRefused { hub_id, .. } => {
                tracing::warn!(
                    reason,
                    hub_id,
                    "OAuth callback refused: the invite cannot be used by this person."
                );
            }
            CallbackError::Install { hub_id, error } => {
                tracing::error!(reason, hub_id, error = %error, cause = ?std::error::Error::source(error),
                    "Completing the install failed.");
            }
        }
    }

    /// The page the person sees: status and message (the reference code is [`Self::code`]).
    fn page(&self) -> HttpResponse {
        let (status, message): (StatusCode, Cow<'_, str>) = match self {
            CallbackError::BadState(_) => (
                StatusCode::BAD_REQUEST,
                "This sign-in link is not valid for this browser, or it has expired. Please start the installation again.".into(),
            ),
            CallbackError::StateReused => (
                StatusCode::BAD_REQUEST,
                "This sign-in link was already used. Please start the installation again.".into(),
            ),
            CallbackError::StateNotRecorded(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Ember could not complete the installation right now. Please try again in a minute."
                    .into(),
            ),
            CallbackError::ConsentDenied { error, .. } if error == "access_denied" => (
                StatusCode::BAD_REQUEST,
                "You did not grant Ember access to your HubSpot account, so nothing was installed."
                    .into(),
            ),
            CallbackError::ConsentDenied { error, .. } => (
                StatusCode::BAD_REQUEST,
                format!("HubSpot did not authorize the installation ({error}).").into(),
            ),
            CallbackError::MissingCode => (
                StatusCode::BAD_REQUEST,
                "HubSpot did not send an authorization code.".into(),
            ),
            CallbackError::Exchange(_) => (
                StatusCode::BAD_GATEWAY,
                "HubSpot did not accept the authorization. Please start the installation again."
                    .into(),
            ),
            CallbackError::TokenInfo(_) | CallbackError::TokenActivity => (
                StatusCode::BAD_GATEWAY,
                "Ember could not read your HubSpot account details. Please try again.".into(),
            ),
            CallbackError::InviteRefused { refusal, .. } => return invite_refused(*refusal),
            CallbackError::Install { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Ember could not complete the installation. It has been logged; please try again."
                    .into(),
            ),
        };
        failure(status, self.code(), &message)
    }
}

/// The callback up to a completed install, in order: state, consent, code, tokens, install.
async fn install_portal(
    tenancy: &Tenancy,
    req: &HttpRequest,
    query: CallbackQuery,
) -> Result<Installed, CallbackError> {
    let nonce = req.cookie(STATE_COOKIE).map(|c| c.value().to_owned());
    let claims = tenancy
        .signer
        .verify_state(query.state.as_deref(), nonce.as_deref())
        .map_err(CallbackError::BadState)?;
    consume_state(tenancy, &claims).await?;
    if let Some(error) = query.error {
        return Err(CallbackError::ConsentDenied {
            error,
            description: query.error_description,
        });
    }
    let code = query
        .code
        .filter(|c| !c.is_empty())
        .map(SecretString::from)
        .ok_or(CallbackError::MissingCode)?;
    let tokens = exchange_code(tenancy, &code).await?;
    let info = token_info(tenancy, &tokens).await?;
    let choice = claims
        .invite
        .map_or(AgencyChoice::Default, AgencyChoice::Invited);
    complete_oauth_install(
        &tenancy.pool,
        &tenancy.hubspot,
        &tenancy.cipher,
        &tokens,
        &info,
        choice,
    )
    .await
    .map_err(|error| match error {
        InstallError::Invite(refusal) => CallbackError::InviteRefused {
            refusal,
            hub_id: info.hub_id,
        },
        error => CallbackError::Install {
            hub_id: info.hub_id,
            error,
        },
    })
}

/// Marks the state used (a second use is refused), and now and then forgets used states and
/// sessions past their expiry.
async fn consume_state(tenancy: &Tenancy, claims: &StateClaims) -> Result<(), CallbackError> {
    let expires = Utc
        .timestamp_opt(claims.exp, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let first_use = sessions::consume_state(&tenancy.pool, claims.jti, expires)
        .await
        .map_err(CallbackError::StateNotRecorded)?;
    if !first_use {
        return Err(CallbackError::StateReused);
    }
    if rand::random::<u8>() < 8 {
        let pool = tenancy.pool.clone();
        actix_web::rt::spawn(async move {
            if let Err(e) = sessions::purge_expired(&pool).await {
                tracing::warn!(error = %e, "Could not purge expired sessions and states.");
            }
        });
    }
    Ok(())
}

/// HubSpot call: the authorization code for the portal's tokens (docs/hubspot.md D.2).
async fn exchange_code(tenancy: &Tenancy, code: &SecretString) -> Result<TokenSet, CallbackError> {
    tenancy
        .hubspot
        .exchange_code(code, &tenancy.redirect_uri)
        .await
        .map_err(CallbackError::Exchange)
}

/// HubSpot call: who installed, into which portal, with which scopes, by introspecting the new
/// access token (docs/hubspot.md D.3).
async fn token_info(
    tenancy: &Tenancy,
    tokens: &TokenSet,
) -> Result<AccessTokenIntrospection, CallbackError> {
    tenancy
        .hubspot
        .introspect_access_token(&tokens.access_token)
        .await
        .map_err(CallbackError::TokenInfo)?
        .ok_or(CallbackError::TokenActivity)
}

/// After the install: a console session, and the redirect to the portal or a page about what
/// the install could not do (another agency's portal, a property conflict, no properties).
async fn installed_page(tenancy: &Tenancy, installed: Installed) -> HttpResponse {
    let session = start_session(tenancy, &installed).await;
    let mut response = outcome_page(&installed);
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

/// The installing person's session token; without one the install still stands, and the
/// person signs in again.
async fn start_session(tenancy: &Tenancy, installed: &Installed) -> Option<String> {
    let expires_at = Utc::now() + chrono::Duration::seconds(tenancy.signer.session_lifetime_secs);
    match sessions::create(&tenancy.pool, installed.person, expires_at).await {
        Ok(id) => tenancy.signer.new_session(id, installed.person).ok(),
        Err(e) => {
            tracing::error!(error = %e, "Could not start a session.");
            None
        }
    }
}

fn outcome_page(installed: &Installed) -> HttpResponse {
    let portal = installed.portal.get();
    if !installed.person_has_access {
        metrics::counter!("ember_oauth_installs_total", "outcome" => "other_agency").increment(1);
        return page(
            StatusCode::OK,
            "Ember is installed",
            "This HubSpot account is managed by another Ember agency. Ask its owner for an invitation to see it.",
            "other_agency",
            None,
        );
    }
    match &installed.provision {
        Ok(report) if report.conflicts.is_empty() => {
            metrics::counter!("ember_oauth_installs_total", "outcome" => "installed").increment(1);
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
}

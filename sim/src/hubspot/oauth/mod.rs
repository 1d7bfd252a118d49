//! OAuth 2.0 for the public app (docs/hubspot.md D): the authorize page (consent granted at once,
//! or denied by a control flag) and the 2026-03 token endpoint with both grants, every parameter
//! in the form body; `tokens` introspects and revokes; `legacy` serves the v1 endpoints
//! (docs/hubspot.md D.7), which `hubspot::legacy` counts or refuses. Access tokens live 1800 s
//! of simulator time.

mod legacy;
mod tokens;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use ember_hubspot::wire::oauth::{
    ACCESS_TOKEN_LIFETIME_SECS, AccessTokenResponse, GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN,
    OAuthError,
};

pub(crate) use legacy::{access_token_info, delete_refresh_token, refresh_token_info, token_v1};
pub(crate) use tokens::{introspect, revoke};

use super::errors;
use super::gate::PortalTag;
use super::query::Query;
use crate::state::{AccessToken, AuthCode, PortalId, RefreshToken, Shared, World};

const CODE_LIFETIME_MS: i64 = 10 * 60_000;

fn error_page(message: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/html; charset=utf-8")
        .body(format!("<!doctype html><title>Authorization error</title><h1>Something went wrong</h1><p>{message}</p>"))
}

fn redirect(to: String) -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", to))
        .finish()
}

fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let mut s = String::from(base);
    s.push(if base.contains('?') { '&' } else { '?' });
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    s.push_str(&ser.finish());
    s
}

/// `GET /oauth/authorize` and `GET /oauth/{portalId}/authorize`.
pub(crate) async fn authorize(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let q = Query::parse(req.query_string());
    let pinned: Option<PortalId> = req.match_info().get("portal").and_then(|p| p.parse().ok());
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let (Some(client_id), Some(redirect_uri), Some(scope)) =
        (q.get("client_id"), q.get("redirect_uri"), q.get("scope"))
    else {
        return error_page("The authorization URL is missing client_id, redirect_uri or scope.");
    };
    if client_id != w.app.client_id {
        return error_page("This app's client ID is not valid.");
    }
    if !w.app.redirect_uris.iter().any(|u| u == redirect_uri) {
        return error_page("The redirect URL does not match the app's redirect URLs.");
    }
    let scopes: Vec<String> = scope
        .split([' ', '+'])
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if let Some(missing) = w.app.required_scopes.iter().find(|r| !scopes.contains(r)) {
        return error_page(&format!(
            "The authorization URL is missing the required scope {missing}."
        ));
    }
    let mut granted = scopes;
    granted.extend(
        q.list("optional_scope")
            .iter()
            .flat_map(|s| s.split(' ').map(String::from)),
    );
    let state = q.get("state").unwrap_or("");
    if w.authorize.deny {
        let mut params = vec![
            ("error", "access_denied"),
            ("error_description", "The user denied the app access."),
        ];
        if !state.is_empty() {
            params.push(("state", state));
        }
        return redirect(with_params(redirect_uri, &params));
    }
    let portal = pinned
        .or(w.authorize.portal)
        .or_else(|| w.portals.keys().next().copied());
    let Some(portal) = portal.filter(|p| w.portals.contains_key(p)) else {
        return error_page("No HubSpot account is available to install this app.");
    };
    req.extensions_mut().insert(PortalTag(portal));
    let code = w.uuid();
    w.codes.insert(
        code.clone(),
        AuthCode {
            portal,
            redirect_uri: redirect_uri.into(),
            scopes: granted,
            expires_ms: now + CODE_LIFETIME_MS,
        },
    );
    let mut params = vec![("code", code.as_str())];
    if !state.is_empty() {
        params.push(("state", state));
    }
    redirect(with_params(redirect_uri, &params))
}

/// HubSpot's token-endpoint refusal: 400 with RFC 6749's `error`/`error_description`, its own
/// `status`/`message`, and the standard error's `category` and `correlationId`
/// (docs/hubspot.md D.6; the category value is K.13).
pub(super) fn oauth_error(error: &str, status: &str, message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(OAuthError {
        error: Some(error.into()),
        error_description: Some(message.into()),
        status: status.into(),
        message: message.into(),
        category: Some("VALIDATION_ERROR".into()),
        correlation_id: Some(errors::correlation_id()),
        request_id: None,
    })
}

/// The parameters of a token request. The 2026-03 endpoints read only the form body; v1 also
/// reads the query string (SPEC).
pub(super) struct Params {
    form: Query,
    query: Option<Query>,
}

impl Params {
    pub(super) fn form_only(body: &[u8]) -> Self {
        Self {
            form: Query::parse(std::str::from_utf8(body).unwrap_or("")),
            query: None,
        }
    }

    pub(super) fn form_or_query(req: &HttpRequest, body: &[u8]) -> Self {
        Self {
            query: Some(Query::parse(req.query_string())),
            ..Self::form_only(body)
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<String> {
        self.form
            .get(key)
            .or_else(|| self.query.as_ref().and_then(|q| q.get(key)))
            .map(String::from)
    }
}

/// The app's credentials, checked as the token endpoint checks them.
#[allow(clippy::result_large_err)] // an answer, built once per refused call
pub(super) fn check_client(w: &World, params: &Params) -> Result<(), HttpResponse> {
    if params.get("client_id").as_deref() != Some(w.app.client_id.as_str()) {
        return Err(oauth_error(
            "invalid_client",
            "BAD_CLIENT_ID",
            "missing or invalid client_id",
        ));
    }
    if params.get("client_secret").as_deref() != Some(w.app.client_secret.as_str()) {
        return Err(oauth_error(
            "invalid_client",
            "BAD_CLIENT_SECRET",
            "missing or invalid client_secret",
        ));
    }
    Ok(())
}

/// Issues a fresh access token for a portal.
pub(crate) fn issue_access(
    w: &mut World,
    portal: PortalId,
    scopes: Vec<String>,
    now: i64,
) -> String {
    let token = w.token("CN", 96);
    w.access_tokens.insert(
        token.clone(),
        AccessToken {
            portal,
            expires_ms: now + ACCESS_TOKEN_LIFETIME_SECS * 1000,
            scopes,
        },
    );
    token
}

fn token_response(
    w: &World,
    portal: PortalId,
    access: String,
    refresh: String,
    scopes: Vec<String>,
) -> AccessTokenResponse {
    AccessTokenResponse {
        access_token: access,
        refresh_token: refresh,
        expires_in: ACCESS_TOKEN_LIFETIME_SECS,
        token_type: "bearer".into(),
        token_use: "access_token".into(),
        hub_id: Some(portal),
        user_id: w.portals.get(&portal).map(|p| p.user_id),
        scopes: Some(scopes),
        id_token: None,
    }
}

/// `POST /oauth/2026-03/token`: every parameter in the form body (docs/hubspot.md D.2).
pub(crate) async fn token(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    grant(&shared, &req, &Params::form_only(&body))
}

/// Both grants of the token endpoint.
pub(super) fn grant(shared: &Shared, req: &HttpRequest, params: &Params) -> HttpResponse {
    let field = |k: &str| params.get(k);
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    if let Err(refused) = check_client(&w, params) {
        return refused;
    }
    match field("grant_type").as_deref() {
        Some(GRANT_AUTHORIZATION_CODE) => {
            let code = field("code").unwrap_or_default();
            let Some(c) = w.codes.remove(&code).filter(|c| c.expires_ms > now) else {
                return oauth_error(
                    "invalid_grant",
                    "BAD_AUTH_CODE",
                    "missing or unknown auth code",
                );
            };
            if field("redirect_uri").as_deref() != Some(c.redirect_uri.as_str()) {
                return oauth_error(
                    "invalid_grant",
                    "BAD_REDIRECT_URI",
                    "redirect_uri does not match the one used to authorize",
                );
            }
            req.extensions_mut().insert(PortalTag(c.portal));
            if let Some(p) = w.portals.get_mut(&c.portal) {
                p.installed = true;
            }
            let refresh = w.uuid();
            w.refresh_tokens.insert(
                refresh.clone(),
                RefreshToken {
                    portal: c.portal,
                    scopes: c.scopes.clone(),
                },
            );
            let access = issue_access(&mut w, c.portal, c.scopes.clone(), now);
            let body = token_response(&w, c.portal, access, refresh, c.scopes);
            HttpResponse::Ok().json(body)
        }
        Some(GRANT_REFRESH_TOKEN) => {
            let refresh = field("refresh_token").unwrap_or_default();
            let Some(r) = w.refresh_tokens.get(&refresh).cloned() else {
                return oauth_error(
                    "invalid_grant",
                    "BAD_REFRESH_TOKEN",
                    "refresh token is invalid, expired or revoked",
                );
            };
            req.extensions_mut().insert(PortalTag(r.portal));
            // HubSpot answers a refresh with the same refresh token (docs/hubspot.md D.2, OBS).
            let access = issue_access(&mut w, r.portal, r.scopes.clone(), now);
            let body = token_response(&w, r.portal, access, refresh, r.scopes);
            HttpResponse::Ok().json(body)
        }
        None => oauth_error("invalid_request", "BAD_GRANT_TYPE", "grant_type is missing"),
        Some(_) => oauth_error(
            "unsupported_grant_type",
            "BAD_GRANT_TYPE",
            "grant_type must be authorization_code or refresh_token",
        ),
    }
}

//! OAuth 2.0 for the public app (docs/hubspot.md D): the authorize page (consent granted at once, or
//! denied by a control flag), the v1 token endpoint with both grants, token info, and refresh
//! token deletion. Access tokens live 1800 s of simulator time.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use ember_hubspot::wire::oauth::{
    ACCESS_TOKEN_LIFETIME_SECS, AccessTokenInfo, AccessTokenResponse, GRANT_AUTHORIZATION_CODE,
    GRANT_REFRESH_TOKEN, OAuthError, RefreshTokenInfo, SignedAccessToken,
};

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

fn oauth_error(error: &str, status: &str, message: &str) -> HttpResponse {
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

/// `POST /oauth/v1/token` (form body; v1 also takes `client_secret` and `refresh_token` in
/// the query string, SPEC).
pub(crate) async fn token(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let form = Query::parse(std::str::from_utf8(&body).unwrap_or(""));
    let query = Query::parse(req.query_string());
    let field = |k: &str| form.get(k).or_else(|| query.get(k)).map(String::from);
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    if field("client_id").as_deref() != Some(w.app.client_id.as_str()) {
        return oauth_error(
            "invalid_client",
            "BAD_CLIENT_ID",
            "missing or invalid client_id",
        );
    }
    if field("client_secret").as_deref() != Some(w.app.client_secret.as_str()) {
        return oauth_error(
            "invalid_client",
            "BAD_CLIENT_SECRET",
            "missing or invalid client_secret",
        );
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
        _ => oauth_error(
            "unsupported_grant_type",
            "BAD_GRANT_TYPE",
            "grant_type must be authorization_code or refresh_token",
        ),
    }
}

fn token_not_found() -> HttpResponse {
    errors::respond(
        StatusCode::NOT_FOUND,
        &errors::body("OBJECT_NOT_FOUND", "Token not found"),
    )
}

/// `GET /oauth/v1/access-tokens/{token}`: `expires_in` is the remaining lifetime.
pub(crate) async fn access_token_info(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let now = shared.clock.now_ms();
    let w = shared.world();
    let Some(t) = w
        .access_tokens
        .get(path.as_str())
        .filter(|t| t.expires_ms > now)
    else {
        return token_not_found();
    };
    let Some(p) = w.portals.get(&t.portal) else {
        return token_not_found();
    };
    req.extensions_mut().insert(PortalTag(p.id));
    let app_id = w.app.app_id;
    HttpResponse::Ok().json(AccessTokenInfo {
        token: path.into_inner(),
        expires_in: (t.expires_ms - now) / 1000,
        hub_id: p.id,
        app_id,
        user_id: p.user_id,
        scopes: t.scopes.clone(),
        token_type: "access".into(),
        user: Some(p.user_email.clone()),
        hub_domain: Some(p.domain.clone()),
        is_private_distribution: Some(false),
        signed_access_token: Some(SignedAccessToken {
            expires_at: t.expires_ms,
            scopes: "AAEAAAAQ==".into(),
            hub_id: p.id,
            user_id: p.user_id,
            app_id,
            signature: "c2ltdWxhdGVk".into(),
            scope_to_scope_group_pks: "AAAAQAAAAAAAAAAC".into(),
            new_signature: "c2ltdWxhdGVk".into(),
            hublet: "na1".into(),
            trial_scopes: String::new(),
            trial_scope_to_scope_group_pks: String::new(),
            is_user_level: false,
            app_install_id: None,
            audience: None,
            installing_user_id: Some(p.user_id),
            is_private_distribution: Some(false),
            is_service_account: Some(false),
        }),
    })
}

/// `GET /oauth/v1/refresh-tokens/{token}`.
pub(crate) async fn refresh_token_info(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let w = shared.world();
    let Some(r) = w.refresh_tokens.get(path.as_str()) else {
        return token_not_found();
    };
    let Some(p) = w.portals.get(&r.portal) else {
        return token_not_found();
    };
    req.extensions_mut().insert(PortalTag(p.id));
    HttpResponse::Ok().json(RefreshTokenInfo {
        token: path.into_inner(),
        client_id: w.app.client_id.clone(),
        hub_id: p.id,
        user_id: p.user_id,
        scopes: r.scopes.clone(),
        token_type: "refresh".into(),
        user: Some(p.user_email.clone()),
        hub_domain: Some(p.domain.clone()),
    })
}

/// `DELETE /oauth/v1/refresh-tokens/{token}`: deletes only the refresh token; access tokens
/// keep working and the app stays installed (docs/hubspot.md D.4).
pub(crate) async fn delete_refresh_token(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let mut w = shared.world();
    match w.refresh_tokens.remove(path.as_str()) {
        Some(r) => {
            req.extensions_mut().insert(PortalTag(r.portal));
            HttpResponse::NoContent().finish()
        }
        None => token_not_found(),
    }
}

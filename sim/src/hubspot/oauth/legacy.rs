//! The legacy v1 endpoints (docs/hubspot.md D.7): the token endpoint (which also reads the query
//! string), access- and refresh-token info, and refresh-token deletion. Ember no longer calls
//! them; `hubspot::legacy` counts every call and can refuse them.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use ember_hubspot::wire::oauth_legacy::{AccessTokenInfo, RefreshTokenInfo};

use super::tokens::signed_access_token;
use super::{Params, grant};
use crate::hubspot::errors;
use crate::hubspot::gate::PortalTag;
use crate::state::Shared;

/// `POST /oauth/v1/token` (legacy): the form body, or the query string (SPEC).
pub(crate) async fn token_v1(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    grant(&shared, &req, &Params::form_or_query(&req, &body))
}

fn token_not_found() -> HttpResponse {
    errors::respond(
        StatusCode::NOT_FOUND,
        &errors::body("OBJECT_NOT_FOUND", "Token not found"),
    )
}

/// `GET /oauth/v1/access-tokens/{token}` (legacy): `expires_in` is the remaining lifetime.
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
        signed_access_token: Some(signed_access_token(p, app_id, t.expires_ms)),
    })
}

/// `GET /oauth/v1/refresh-tokens/{token}` (legacy).
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
/// keep working and the app stays installed (legacy, docs/hubspot.md D.7).
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

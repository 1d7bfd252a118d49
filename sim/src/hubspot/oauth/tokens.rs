//! Introspection and revocation on the 2026-03 endpoints (docs/hubspot.md D.3, D.4): the app's
//! credentials and the token in the form body.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use ember_hubspot::wire::oauth::{
    AccessTokenIntrospection, RefreshTokenIntrospection, SignedAccessToken, TOKEN_USE_ACCESS,
    TOKEN_USE_REFRESH, TokenActivity,
};

use super::{Params, check_client, oauth_error};
use crate::hubspot::gate::PortalTag;
use crate::state::{Portal, PortalId, Shared, World};

/// The token a form names, or the refusal of a form without one.
#[allow(clippy::result_large_err)] // an answer, built once per refused call
fn named_token(params: &Params) -> Result<String, HttpResponse> {
    params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| oauth_error("invalid_request", "BAD_TOKEN", "token is missing"))
}

/// `POST /oauth/2026-03/token/introspect` (docs/hubspot.md D.3): an active access or refresh
/// token's metadata (`token_type_hint` says which to look for first), or RFC 7662's
/// `{"active": false}` for a token HubSpot does not know or that has expired (K.14).
pub(crate) async fn introspect(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let params = Params::form_only(&body);
    let now = shared.clock.now_ms();
    let w = shared.world();
    if let Err(refused) = check_client(&w, &params) {
        return refused;
    }
    let token = match named_token(&params) {
        Ok(t) => t,
        Err(refused) => return refused,
    };
    let refresh_first = params.get("token_type_hint").as_deref() == Some(TOKEN_USE_REFRESH);
    let access = || access_introspection(&w, &token, now);
    let refresh = || refresh_introspection(&w, &token);
    let found = if refresh_first {
        refresh().or_else(access)
    } else {
        access().or_else(refresh)
    };
    match found {
        Some((portal, answer)) => {
            req.extensions_mut().insert(PortalTag(portal));
            HttpResponse::Ok().json(answer)
        }
        None => HttpResponse::Ok().json(TokenActivity { active: false }),
    }
}

/// What introspection found: an access or a refresh token.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Introspection {
    Access(Box<AccessTokenIntrospection>),
    Refresh(RefreshTokenIntrospection),
}

fn access_introspection(w: &World, token: &str, now: i64) -> Option<(PortalId, Introspection)> {
    let t = w.access_tokens.get(token).filter(|t| t.expires_ms > now)?;
    let p = w.portals.get(&t.portal)?;
    let app_id = w.app.app_id;
    let answer = AccessTokenIntrospection {
        active: true,
        token: token.into(),
        token_use: TOKEN_USE_ACCESS.into(),
        token_type: "bearer".into(),
        client_id: w.app.client_id.clone(),
        app_id,
        hub_id: p.id,
        user_id: p.user_id,
        expires_in: (t.expires_ms - now) / 1000,
        scopes: t.scopes.clone(),
        is_private_distribution: false,
        signed_access_token: signed_access_token(p, app_id, t.expires_ms),
        user: Some(p.user_email.clone()),
        hub_domain: Some(p.domain.clone()),
    };
    Some((p.id, Introspection::Access(Box::new(answer))))
}

fn refresh_introspection(w: &World, token: &str) -> Option<(PortalId, Introspection)> {
    let r = w.refresh_tokens.get(token)?;
    let p = w.portals.get(&r.portal)?;
    let answer = RefreshTokenIntrospection {
        active: true,
        token: token.into(),
        token_use: TOKEN_USE_REFRESH.into(),
        token_type: "refresh".into(),
        client_id: w.app.client_id.clone(),
        app_id: w.app.app_id,
        hub_id: p.id,
        user_id: p.user_id,
        scopes: r.scopes.clone(),
        user: Some(p.user_email.clone()),
        hub_domain: Some(p.domain.clone()),
    };
    Some((p.id, Introspection::Refresh(answer)))
}

/// `POST /oauth/2026-03/token/revoke` (docs/hubspot.md D.4): deletes a refresh token, so
/// refreshing with it is `invalid_grant`; access tokens keep working and the app stays
/// installed. 200 with no body for a known or an unknown token (RFC 7009; the spec names no
/// success status, K.15); an access token is `unsupported_token_type`.
pub(crate) async fn revoke(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let params = Params::form_only(&body);
    let mut w = shared.world();
    if let Err(refused) = check_client(&w, &params) {
        return refused;
    }
    let token = match named_token(&params) {
        Ok(t) => t,
        Err(refused) => return refused,
    };
    if let Some(r) = w.refresh_tokens.remove(&token) {
        req.extensions_mut().insert(PortalTag(r.portal));
    } else if w.access_tokens.contains_key(&token) {
        return oauth_error(
            "unsupported_token_type",
            "BAD_TOKEN_TYPE",
            "only refresh tokens can be revoked",
        );
    }
    HttpResponse::Ok().finish()
}

pub(super) fn signed_access_token(p: &Portal, app_id: u64, expires_ms: i64) -> SignedAccessToken {
    SignedAccessToken {
        expires_at: expires_ms,
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
        app_install_id: Some(format!("{app_id}-{}", p.id)),
        audience: Some("app".into()),
        installing_user_id: Some(p.user_id),
        is_private_distribution: Some(false),
        is_service_account: Some(false),
    }
}

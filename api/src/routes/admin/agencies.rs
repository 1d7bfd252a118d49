//! `/admin/me` and `/admin/agencies/{agency}/...`: memberships, an agency's portals and
//! private-app portals. Invitations (install links) are `super::invites`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use ember_core::domain::PortalId;
use ember_core::domain::Role;
use ember_core::tenancy::install::StaticCredential;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::db;
use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::scope::{agency_role, require};
use crate::state::Tenancy;

/// One of the person's agencies.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MembershipView {
    agency_id: i64,
    name: String,
    #[schema(value_type = super::members::RoleSchema)]
    role: Role,
}

/// The signed-in person.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MeView {
    person_id: i64,
    agencies: Vec<MembershipView>,
    /// Send it as `X-CSRF-Token` with every change.
    csrf_token: String,
}

/// `GET /admin/me`: the person, their agencies, and the session's CSRF token (to send as
/// `X-CSRF-Token` with every change).
#[utoipa::path(get, path = "/admin/me", tag = "agencies", operation_id = "get_me",
    responses((status = 200, description = "The person, their agencies with their role in each, and the CSRF token", body = MeView),
              (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn me(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
) -> Result<HttpResponse, ApiError> {
    let agencies = ember_core::store::agencies::memberships(&t.pool, person.person_id)
        .await
        .map_err(db)?;
    Ok(HttpResponse::Ok().json(MeView {
        person_id: person.person_id,
        agencies: agencies
            .into_iter()
            .map(|m| MembershipView {
                agency_id: m.agency_id,
                name: m.name,
                role: m.role,
            })
            .collect(),
        csrf_token: t.signer.csrf_token(person.session_id),
    }))
}

/// `GET /admin/agencies/{agency}/portals`: each with its health.
#[utoipa::path(get, path = "/admin/agencies/{agency}/portals", tag = "agencies",
    operation_id = "list_agency_portals", params(("agency" = i64, Path, description = "agency id")),
    responses((status = 200, description = "`{agency_id, portals: [...]}`, each portal with its health", body = Object),
              (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn portals(
    t: web::Data<Tenancy>,
    ops: web::Data<crate::state::Operations>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let agency = path.into_inner();
    agency_role(&t, person, agency).await?;
    let portals = ember_core::store::portals::list_for_agency(&t.pool, agency)
        .await
        .map_err(db)?;
    let portals = crate::ops::health::with_health(&t.pool, &ops, portals).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "agency_id": agency, "portals": portals })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct PrivatePortalRequest {
    portal_id: i64,
    token: String,
    tier: i32,
    /// What `token` is; a private app's token when absent.
    #[serde(default)]
    credential: CredentialKind,
}

/// The static credential of a portal registered without OAuth.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CredentialKind {
    /// A legacy private app's access token: tier 100, 150 or 190.
    #[default]
    PrivateApp,
    /// A Service Key (no webhooks; docs/tenancy.md "Service Keys"): tier 100 or 190.
    ServiceKey,
}

impl From<CredentialKind> for StaticCredential {
    fn from(kind: CredentialKind) -> Self {
        match kind {
            CredentialKind::PrivateApp => StaticCredential::PrivateApp,
            CredentialKind::ServiceKey => StaticCredential::ServiceKey,
        }
    }
}

/// `POST /admin/agencies/{agency}/portals` (editor): registers a portal that uses a private
/// app's token or a Service Key.
#[utoipa::path(post, path = "/admin/agencies/{agency}/portals", tag = "agencies",
    operation_id = "add_private_portal", params(("agency" = i64, Path, description = "agency id")), request_body = PrivatePortalRequest,
    responses((status = 201, description = "`{portal_id, tier, properties_created, property_conflicts}`", body = Object),
              (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(crate) async fn add_private_portal(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
    body: web::Json<PrivatePortalRequest>,
) -> Result<HttpResponse, ApiError> {
    let agency = path.into_inner();
    require(agency_role(&t, person, agency).await?, Role::Editor)?;
    let body = body.into_inner();
    let portal = PortalId::new(body.portal_id)
        .map_err(|e| ApiError::bad_request("invalid_portal", e.to_string()))?;
    let credential = StaticCredential::from(body.credential);
    credential
        .check_tier(body.tier)
        .map_err(|message| ApiError::bad_request("invalid_tier", message))?;
    if let Some(summary) = ember_core::store::portals::summary(&t.pool, portal)
        .await
        .map_err(db)?
        && summary.agency_id.is_some_and(|a| a != agency)
    {
        // Another agency's portal: say no more than that it cannot be added.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "portal_taken",
            "this portal cannot be added",
        ));
    }
    let token = SecretString::from(body.token);
    let report = ember_core::tenancy::install::add_static_token_portal(
        &t.pool,
        &t.hubspot,
        &t.cipher,
        portal,
        credential,
        &token,
        body.tier,
        Some(agency),
    )
    .await
    .map_err(|e| match e {
        ember_core::tenancy::install::InstallError::HubSpot(h) if !h.is_transient() => {
            ApiError::bad_request(
                "token_rejected",
                format!("HubSpot did not accept the token: {h}"),
            )
        }
        ember_core::tenancy::install::InstallError::WrongPortal { .. } => {
            ApiError::bad_request("wrong_portal", e.to_string())
        }
        ember_core::tenancy::install::InstallError::BadTier(message) => {
            ApiError::bad_request("invalid_tier", message)
        }
        other => ApiError::internal(anyhow::Error::new(other)),
    })?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "portal_id": portal.get(),
        "tier": body.tier,
        "app_kind": credential.app_kind(),
        "properties_created": report.created,
        "property_conflicts": report.conflicts.iter().map(|c| &c.name).collect::<Vec<_>>(),
    })))
}

//! `/admin/portals`: the person's portals, one portal, and uninstalling one.

use actix_web::{HttpResponse, web};
use ember_core::store::agencies::Role;
use ember_core::store::portals::PortalSummary;
use serde::Serialize;

use super::db;
use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::scope::{not_found, portal_role, require};
use crate::state::Tenancy;

/// A portal with the person's role in the agency that owns it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PortalView {
    #[serde(flatten)]
    portal: PortalSummary,
    #[schema(value_type = super::members::RoleSchema)]
    role: Role,
}

/// Every portal of the person's agencies.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PortalsView {
    portals: Vec<PortalView>,
}

/// `GET /admin/portals`: every portal of every agency the person belongs to.
#[utoipa::path(get, path = "/admin/portals", tag = "portals", operation_id = "list_portals",
    responses((status = 200, description = "Each portal with the person's role", body = PortalsView),
              (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn list(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    for m in ember_core::store::agencies::memberships(&t.pool, person.person_id)
        .await
        .map_err(db)?
    {
        for portal in ember_core::store::portals::list_for_agency(&t.pool, m.agency_id)
            .await
            .map_err(db)?
        {
            out.push(PortalView {
                portal,
                role: m.role,
            });
        }
    }
    Ok(HttpResponse::Ok().json(PortalsView { portals: out }))
}

/// `GET /admin/portals/{portal}`.
#[utoipa::path(get, path = "/admin/portals/{portal}", tag = "portals", operation_id = "get_portal",
    params(("portal" = i64, Path, description = "HubSpot portal id")),
    responses((status = 200, description = "The portal and the person's role", body = PortalView),
              (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (portal, agency, role) = portal_role(&t, person, path.into_inner()).await?;
    let summary = ember_core::store::portals::get_for_agency(&t.pool, portal, agency)
        .await
        .map_err(db)?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(PortalView {
        portal: summary,
        role,
    }))
}

/// `POST /admin/portals/{portal}/uninstall` (editor): deletes the refresh token, uninstalls the
/// app at HubSpot, marks the portal uninstalled and deletes its tokens.
#[utoipa::path(post, path = "/admin/portals/{portal}/uninstall", tag = "portals",
    operation_id = "uninstall_portal", params(("portal" = i64, Path, description = "HubSpot portal id")),
    responses((status = 200, description = "`{portal_id, status, refresh_token_deleted, app_uninstalled}`", body = Object),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(crate) async fn uninstall(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (portal, _, role) = portal_role(&t, person, path.into_inner()).await?;
    require(role, Role::Editor)?;
    let done = ember_core::tenancy::install::uninstall(&t.pool, &t.tokens, portal)
        .await
        .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("uninstall failed")))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "portal_id": portal.get(),
        "status": "uninstalled",
        "refresh_token_deleted": done.refresh_token_deleted,
        "app_uninstalled": done.app_uninstalled,
    })))
}

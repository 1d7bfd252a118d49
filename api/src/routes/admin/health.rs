//! `GET /admin/portals/{portal}/health`: the portal's health ([`crate::ops::health`]).

use actix_web::{HttpResponse, web};

use super::db;
use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::ops::health::{Health, health_of};
use crate::scope::{not_found, portal_role};
use crate::state::{Operations, Tenancy};

/// A portal's health.
#[utoipa::path(
    get,
    path = "/admin/portals/{portal}/health",
    operation_id = "portal_health",
    tag = "operations",
    params(("portal" = i64, Path, description = "HubSpot portal id")),
    responses(
        (status = 200, description = "The portal's health", body = Health),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
        (status = 404, description = "No such portal among the person's agencies", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn get(
    t: web::Data<Tenancy>,
    ops: web::Data<Operations>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (portal, agency, _) = portal_role(&t, person, path.into_inner()).await?;
    let summary = ember_core::store::portals::get_for_agency(&t.pool, portal, agency)
        .await
        .map_err(db)?
        .ok_or_else(not_found)?;
    let health = health_of(&t.pool, &ops, std::slice::from_ref(&summary))
        .await?
        .pop()
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(health))
}

//! Who may see and change what: every portal or agency is looked up through the signed-in
//! person's memberships, and one outside them is answered 404 exactly as one that does not exist;
//! a change below the needed role is 403. The admin API (`crate::routes::admin`) and the console
//! (`crate::console`) both call these, so they refuse the same requests.

use actix_web::http::StatusCode;
use ember_core::domain::PortalId;
use ember_core::domain::Role;

use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::state::Tenancy;

fn db(e: sqlx::Error) -> ApiError {
    ApiError::internal(e.into())
}

pub(crate) fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such portal or agency",
    )
}

fn forbidden(needed: Role) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("this needs the {needed:?} role").to_lowercase(),
    )
}

/// The person's role in `agency`, or 404.
pub(crate) async fn agency_role(
    t: &Tenancy,
    person: CurrentPerson,
    agency: i64,
) -> Result<Role, ApiError> {
    ember_core::store::agencies::role(&t.pool, agency, person.person_id)
        .await
        .map_err(db)?
        .ok_or_else(not_found)
}

/// The portal's agency and the person's role there, or 404.
pub(crate) async fn portal_role(
    t: &Tenancy,
    person: CurrentPerson,
    portal: i64,
) -> Result<(PortalId, i64, Role), ApiError> {
    let portal = PortalId::new(portal).map_err(|_| not_found())?;
    let (agency, role) =
        ember_core::store::agencies::role_for_portal(&t.pool, portal, person.person_id)
            .await
            .map_err(db)?
            .ok_or_else(not_found)?;
    Ok((portal, agency, role))
}

pub(crate) fn require(role: Role, needed: Role) -> Result<(), ApiError> {
    if role >= needed {
        Ok(())
    } else {
        Err(forbidden(needed))
    }
}

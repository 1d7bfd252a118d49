//! The admin JSON API, scoped to the signed-in person's agencies. Every lookup goes through the
//! person's membership first; a portal or agency outside it is answered 404, exactly as one
//! that does not exist. Changes need the editor role (owner for invitations): 403.

mod agencies;
mod portals;

use actix_web::http::StatusCode;
use actix_web::web;
use ember_core::domain::PortalId;
use ember_core::store::agencies::Role;

use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::routes::oauth::Tenancy;

/// Registers `/admin/...`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .route("/me", web::get().to(agencies::me))
            .route("/portals", web::get().to(portals::list))
            .route("/portals/{portal}", web::get().to(portals::get))
            .route(
                "/portals/{portal}/uninstall",
                web::post().to(portals::uninstall),
            )
            .route(
                "/agencies/{agency}/portals",
                web::get().to(agencies::portals),
            )
            .route(
                "/agencies/{agency}/portals",
                web::post().to(agencies::add_private_portal),
            )
            .route(
                "/agencies/{agency}/invites",
                web::post().to(agencies::invite),
            ),
    );
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

fn db(e: sqlx::Error) -> ApiError {
    ApiError::internal(e.into())
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

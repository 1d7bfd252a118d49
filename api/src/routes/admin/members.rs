//! `/admin/agencies/{agency}/members`: who belongs to an agency, and (owners only) changing a
//! member's role or removing them. An agency always keeps at least one owner: the last owner can
//! be neither demoted nor removed (409 `last_owner`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use ember_core::domain::Role;
use ember_core::store::agencies::{self, Member, TeamChangeError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::db;
use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::scope::{agency_role, require};
use crate::state::Tenancy;

/// A role, as the API spells it.
#[derive(ToSchema)]
#[schema(as = Role)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documentation only: the handlers use `ember_core`'s `Role`
pub(crate) enum RoleSchema {
    Owner,
    Editor,
    Viewer,
}

/// A member of an agency.
#[derive(Serialize, ToSchema)]
pub(crate) struct MemberView {
    person_id: i64,
    /// The email, or `HubSpot user <id>` when none is known (Ember keeps no names).
    name: String,
    email: Option<String>,
    #[schema(value_type = RoleSchema)]
    role: Role,
    joined_at: DateTime<Utc>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            person_id: m.person_id,
            name: m.name,
            email: m.email,
            role: m.role,
            joined_at: m.joined_at,
        }
    }
}

/// The members of an agency.
#[derive(Serialize, ToSchema)]
pub(crate) struct MembersView {
    members: Vec<MemberView>,
}

/// The body of a role change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleChange {
    #[schema(value_type = RoleSchema)]
    role: Role,
}

/// Every member of the agency (any member may look).
#[utoipa::path(
    get,
    path = "/admin/agencies/{agency}/members",
    operation_id = "list_members",
    tag = "team",
    params(("agency" = i64, Path, description = "Agency id")),
    responses(
        (status = 200, description = "Owners first, then editors and viewers", body = MembersView),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
        (status = 404, description = "No such agency among the person's", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn list(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let agency = path.into_inner();
    agency_role(&t, person, agency).await?;
    let members = agencies::members(&t.pool, agency).await.map_err(db)?;
    Ok(HttpResponse::Ok().json(MembersView {
        members: members.into_iter().map(MemberView::from).collect(),
    }))
}

/// Gives a member another role (owner only).
#[utoipa::path(
    put,
    path = "/admin/agencies/{agency}/members/{person}",
    operation_id = "set_member_role",
    tag = "team",
    params(
        ("agency" = i64, Path, description = "Agency id"),
        ("person" = i64, Path, description = "The member's person id"),
    ),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The member with the new role", body = MemberView),
        (status = 400, description = "The body is not `{\"role\": \"owner|editor|viewer\"}`", body = crate::error::ErrorBody),
        (status = 403, description = "Not an owner, or no valid CSRF token", body = crate::error::ErrorBody),
        (status = 404, description = "No such agency among the person's, or no such member", body = crate::error::ErrorBody),
        (status = 409, description = "The member is the agency's last owner", body = crate::error::ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
pub(crate) async fn set_role(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<(i64, i64)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (agency, member) = path.into_inner();
    require(agency_role(&t, person, agency).await?, Role::Owner)?;
    let change: RoleChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("expected {{\"role\": \"owner|editor|viewer\"}}: {e}"),
        )
    })?;
    let changed = agencies::set_role(&t.pool, agency, member, change.role)
        .await
        .map_err(team_error)?;
    tracing::info!(
        agency,
        member,
        role = ?change.role,
        by = person.person_id,
        "Changed a member's role."
    );
    Ok(HttpResponse::Ok().json(MemberView::from(changed)))
}

/// Removes a member from the agency (owner only).
#[utoipa::path(
    delete,
    path = "/admin/agencies/{agency}/members/{person}",
    operation_id = "remove_member",
    tag = "team",
    params(
        ("agency" = i64, Path, description = "Agency id"),
        ("person" = i64, Path, description = "The member's person id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not an owner, or no valid CSRF token", body = crate::error::ErrorBody),
        (status = 404, description = "No such agency among the person's, or no such member", body = crate::error::ErrorBody),
        (status = 409, description = "The member is the agency's last owner", body = crate::error::ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
pub(crate) async fn remove(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (agency, member) = path.into_inner();
    require(agency_role(&t, person, agency).await?, Role::Owner)?;
    agencies::remove_member(&t.pool, agency, member)
        .await
        .map_err(team_error)?;
    tracing::info!(
        agency,
        member,
        by = person.person_id,
        "Removed a member from an agency."
    );
    Ok(HttpResponse::NoContent().finish())
}

fn team_error(e: TeamChangeError) -> ApiError {
    match e {
        TeamChangeError::NotAMember { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such member")
        }
        TeamChangeError::LastOwner { .. } => {
            ApiError::new(StatusCode::CONFLICT, "last_owner", e.to_string())
        }
        TeamChangeError::Database(e) => db(e),
    }
}

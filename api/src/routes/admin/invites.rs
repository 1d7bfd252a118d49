//! `/admin/agencies/{agency}/invites` (owner only): create an install link, list the pending
//! ones, revoke one. The rules (docs/invites.md):
//!
//! - A link is a random token; Ember keeps only its SHA-256, so the link is shown once, in the
//!   answer that creates it, and never again (not in the list, not in logs).
//! - `role` is what a *new* member gets. Someone who already belongs to the agency keeps their
//!   role: roles change only through the members API and the team page.
//! - `email` binds the link to the HubSpot user with that e-mail (case-insensitive); anyone else
//!   is refused at the callback and nothing is installed.
//! - `expires_in_hours`: 1 to 720 (30 days), default 168 (7 days). `max_uses`: 1 to 100,
//!   default 1. Every completed install through the link counts one use.
//! - A person demoted in or removed from the agency cannot use a link created before that.
//! - Revoking is idempotent (204 again); an invite of another agency is 404 like one that does
//!   not exist. An owner who is demoted or removed loses their pending invites.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use ember_core::domain::Role;
use ember_core::store::invites::{self, Invite};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::db;
use super::members::RoleSchema;
use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::ops::invites::{InviteAsk, create_invite, revoke_invite};
use crate::scope::{agency_role, require};
use crate::state::Tenancy;

/// The body of `POST /admin/agencies/{agency}/invites`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteRequest {
    /// The role a new member gets (an existing member's role is never changed by a link).
    #[schema(value_type = RoleSchema)]
    role: String,
    /// Only the HubSpot user with this e-mail may use the link.
    #[serde(default)]
    #[schema(example = "ana@client.example")]
    email: Option<String>,
    /// Hours the link works: 1 to 720, default 168.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 720, example = 168)]
    expires_in_hours: Option<i64>,
    /// How many installs may use the link: 1 to 100, default 1.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100, example = 1)]
    max_uses: Option<i64>,
}

/// An invite, without its link (Ember cannot show the link again).
#[derive(Serialize, ToSchema)]
pub(crate) struct InviteView {
    invite_id: i64,
    agency_id: i64,
    #[schema(value_type = RoleSchema)]
    role: Role,
    email: Option<String>,
    /// The person id of the owner who created it.
    created_by: Option<i64>,
    created_by_name: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    max_uses: i32,
    uses: i32,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<Invite> for InviteView {
    fn from(i: Invite) -> Self {
        Self {
            invite_id: i.invite_id,
            agency_id: i.agency_id,
            role: i.role,
            email: i.email,
            created_by: i.created_by,
            created_by_name: i.created_by_name,
            created_at: i.created_at,
            expires_at: i.expires_at,
            max_uses: i.max_uses,
            uses: i.uses,
            revoked_at: i.revoked_at,
        }
    }
}

/// A new invite and its link, shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedInvite {
    invite: InviteView,
    /// `…/oauth/install?invite=<token>`: send it to the person; Ember keeps only its hash.
    install_url: String,
}

/// The agency's pending invites.
#[derive(Serialize, ToSchema)]
pub(crate) struct InvitesView {
    invites: Vec<InviteView>,
}

/// Creates an install link (owner only): whoever installs with it joins the agency with `role`
/// (unless already a member), and a portal without an agency joins it too.
#[utoipa::path(post, path = "/admin/agencies/{agency}/invites", tag = "agencies",
    operation_id = "create_invite", params(("agency" = i64, Path, description = "agency id")), request_body = InviteRequest,
    responses((status = 201, description = "The invite and its link (shown only this once)", body = CreatedInvite),
              (status = 400, description = "Unknown role, bad e-mail, expiry or max_uses out of range, unknown field", body = crate::error::ErrorBody),
              (status = 403, description = "Not an owner, or no valid CSRF token", body = crate::error::ErrorBody),
              (status = 404, description = "No such agency among the person's", body = crate::error::ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(crate) async fn create(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let agency = path.into_inner();
    require(agency_role(&t, person, agency).await?, Role::Owner)?;
    let ask: InviteRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!(
                "expected {{\"role\": \"owner|editor|viewer\", \"email\"?, \"expires_in_hours\"?, \"max_uses\"?}}: {e}"
            ),
        )
    })?;
    let (invite, install_url) = create_invite(
        &t,
        agency,
        person.person_id,
        InviteAsk {
            role: &ask.role,
            email: ask.email.as_deref(),
            expires_in_hours: ask.expires_in_hours,
            max_uses: ask.max_uses,
        },
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedInvite {
            invite: invite.into(),
            install_url,
        }))
}

/// The agency's invites that can still be used, newest first (owner only).
#[utoipa::path(get, path = "/admin/agencies/{agency}/invites", tag = "agencies",
    operation_id = "list_invites", params(("agency" = i64, Path, description = "agency id")),
    responses((status = 200, description = "Not revoked, not expired, uses left", body = InvitesView),
              (status = 403, description = "Not an owner", body = crate::error::ErrorBody),
              (status = 404, description = "No such agency among the person's", body = crate::error::ErrorBody)))]
pub(crate) async fn list(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let agency = path.into_inner();
    require(agency_role(&t, person, agency).await?, Role::Owner)?;
    let pending = invites::pending(&t.pool, agency).await.map_err(db)?;
    Ok(HttpResponse::Ok().json(InvitesView {
        invites: pending.into_iter().map(InviteView::from).collect(),
    }))
}

/// Revokes an invite (owner only): its link stops working at once. Revoking again is fine (204).
#[utoipa::path(delete, path = "/admin/agencies/{agency}/invites/{invite}", tag = "agencies",
    operation_id = "revoke_invite",
    params(("agency" = i64, Path, description = "agency id"), ("invite" = i64, Path, description = "invite id")),
    responses((status = 204, description = "Revoked (or it already was)"),
              (status = 403, description = "Not an owner, or no valid CSRF token", body = crate::error::ErrorBody),
              (status = 404, description = "No such agency among the person's, or no such invite in it", body = crate::error::ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(crate) async fn revoke(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (agency, invite) = path.into_inner();
    require(agency_role(&t, person, agency).await?, Role::Owner)?;
    revoke_invite(&t, agency, invite, person.person_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

//! Creating and revoking an agency's install links, as the admin API
//! (`/admin/agencies/{agency}/invites`) and the console's team page both do it, so both refuse
//! the same input with the same words. The rules are in `crate::routes::admin::invites` and
//! docs/invites.md.

use actix_web::http::StatusCode;
use ember_core::domain::Role;
use ember_core::domain::{InviteEmail, InviteId, InviteToken};
use ember_core::store::invites::{self, Invite, NewInvite};

use crate::error::ApiError;
use crate::state::Tenancy;

fn db(e: sqlx::Error) -> ApiError {
    ApiError::internal(e.into())
}

/// Hours a link is valid unless the owner says otherwise (a week).
pub(crate) const DEFAULT_EXPIRY_HOURS: i64 = 168;
/// The longest a link may be valid (30 days): a forgotten link should not work forever.
pub(crate) const MAX_EXPIRY_HOURS: i64 = 720;
/// The most installs one link may admit.
pub(crate) const MAX_USES: i64 = 100;

/// What an owner asked for, as the API and the console's form both give it.
pub(crate) struct InviteAsk<'a> {
    pub role: &'a str,
    pub email: Option<&'a str>,
    pub expires_in_hours: Option<i64>,
    pub max_uses: Option<i64>,
}

/// Checks the request, stores the invite and returns it with its link. Shared by the API and
/// the team page, so both refuse the same input with the same words.
pub(crate) async fn create_invite(
    t: &Tenancy,
    agency: i64,
    by: i64,
    ask: InviteAsk<'_>,
) -> Result<(Invite, String), ApiError> {
    let role: Role = ask
        .role
        .parse()
        .map_err(|e: ember_core::domain::UnknownRole| {
            ApiError::bad_request("invalid_role", e.to_string())
        })?;
    let email = ask
        .email
        .filter(|e| !e.trim().is_empty())
        .map(InviteEmail::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_email", format!("email {e}")))?;
    let hours = ask.expires_in_hours.unwrap_or(DEFAULT_EXPIRY_HOURS);
    if !(1..=MAX_EXPIRY_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(
            "invalid_expiry",
            format!(
                "expires_in_hours must be between 1 and {MAX_EXPIRY_HOURS} (30 days), got {hours}"
            ),
        ));
    }
    let max_uses = ask.max_uses.unwrap_or(1);
    if !(1..=MAX_USES).contains(&max_uses) {
        return Err(ApiError::bad_request(
            "invalid_max_uses",
            format!("max_uses must be between 1 and {MAX_USES}, got {max_uses}"),
        ));
    }
    let token = InviteToken::generate();
    let new = NewInvite {
        role,
        email,
        created_by: by,
        valid_for: chrono::Duration::hours(hours),
        max_uses: max_uses as i32,
    };
    let invite = invites::create(&t.pool, agency, &new, &token)
        .await
        .map_err(db)?;
    tracing::info!(
        agency,
        invite_id = invite.invite_id,
        role = ?role,
        bound_to_email = invite.email.is_some(),
        by,
        "Created an invite."
    );
    let url = format!(
        "{}/oauth/install?invite={}",
        t.public_base_url,
        token.expose()
    );
    Ok((invite, url))
}

/// Revokes an invite of the agency (idempotent); 404 when the agency has no such invite.
pub(crate) async fn revoke_invite(
    t: &Tenancy,
    agency: i64,
    invite: i64,
    by: i64,
) -> Result<(), ApiError> {
    let missing = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such invite");
    let id = InviteId::new(invite).map_err(|_| missing())?;
    if !invites::revoke(&t.pool, agency, id, by).await.map_err(db)? {
        return Err(missing());
    }
    tracing::info!(agency, invite_id = invite, by, "Revoked an invite.");
    Ok(())
}

//! `/app/agencies/{a}/team`: the agency's members and roles. Owners change roles and remove
//! members with forms; everyone else sees the list read-only. The last owner cannot be removed
//! or demoted (the store refuses it under a lock; the page says why).
//!
//! Owners also see the pending invites (with a revoke button) and a form that creates one. The
//! new link is shown once, in the page that answers the form (not after a redirect: the link
//! would have to travel in a URL), since Ember keeps only its hash. The rules are those of the
//! admin API (`crate::routes::admin::invites`), which checks the form's input too.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use ember_core::domain::Role;
use ember_core::store::agencies::TeamChangeError;
use serde::Deserialize;

use super::home::role_name;
use super::page::{Chrome, PageError, SignedIn, render, see_other};
use super::{DoneQuery, TokenForm};
use crate::ops::invites;

pub(crate) struct InviteRow {
    pub invite_id: i64,
    pub role: &'static str,
    /// The e-mail it is bound to, or "anyone with the link".
    pub who: String,
    pub uses: String,
    pub expires: String,
    pub created_by: String,
}

/// A link just created: shown this once.
pub(crate) struct NewLink {
    pub url: String,
    pub role: &'static str,
    pub expires: String,
}

pub(crate) struct MemberRow {
    pub person_id: i64,
    pub name: String,
    pub role: &'static str,
    pub joined: String,
    pub is_me: bool,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    chrome: Chrome,
    agency_id: i64,
    agency_name: String,
    my_role: &'static str,
    can_manage: bool,
    members: Vec<MemberRow>,
    roles: [&'static str; 3],
    invites: Vec<InviteRow>,
    new_link: Option<NewLink>,
    default_hours: i64,
    max_hours: i64,
    max_uses: i64,
}

/// The person's role in the agency, or the 404 page.
async fn agency_role(me: &SignedIn, agency: i64) -> Result<Role, PageError> {
    crate::scope::agency_role(&me.tenancy, me.person, agency)
        .await
        .map_err(PageError::from)
}

/// `GET /app/agencies/{a}/team`.
pub(crate) async fn show(
    me: SignedIn,
    path: web::Path<i64>,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let agency = path.into_inner();
    let role = agency_role(&me, agency).await?;
    team_page(&me, agency, role, done.notice(), None).await
}

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%-d %b %Y %H:%M UTC").to_string()
}

async fn team_page(
    me: &SignedIn,
    agency: i64,
    role: Role,
    notice: Option<super::page::Notice>,
    new_link: Option<NewLink>,
) -> Result<HttpResponse, PageError> {
    let members = ember_core::store::agencies::members(&me.tenancy.pool, agency)
        .await
        .map_err(PageError::database)?;
    let can_manage = role == Role::Owner;
    // Pending invites are the owners' business, as in the admin API.
    let invites = if can_manage {
        ember_core::store::invites::pending(&me.tenancy.pool, agency)
            .await
            .map_err(PageError::database)?
    } else {
        Vec::new()
    };
    let agency_name = me
        .memberships
        .iter()
        .find(|m| m.agency_id == agency)
        .map_or_else(|| format!("Agency {agency}"), |m| m.name.clone());
    let mut chrome = me
        .chrome(format!("{agency_name} team"), "team")
        .with_notice(notice);
    chrome.agency_id = Some(agency);
    let page = TeamPage {
        chrome,
        agency_id: agency,
        agency_name,
        my_role: role_name(role),
        can_manage,
        members: members
            .into_iter()
            .map(|m| MemberRow {
                is_me: m.person_id == me.person.person_id,
                person_id: m.person_id,
                name: m.name,
                role: role_name(m.role),
                joined: m.joined_at.format("%-d %b %Y").to_string(),
            })
            .collect(),
        roles: ["owner", "editor", "viewer"],
        invites: invites
            .into_iter()
            .map(|i| InviteRow {
                invite_id: i.invite_id,
                role: role_name(i.role),
                who: i.email.unwrap_or_else(|| "anyone with the link".into()),
                uses: format!("{} of {}", i.uses, i.max_uses),
                expires: when(i.expires_at),
                created_by: i.created_by_name.unwrap_or_default(),
            })
            .collect(),
        new_link,
        default_hours: invites::DEFAULT_EXPIRY_HOURS,
        max_hours: invites::MAX_EXPIRY_HOURS,
        max_uses: invites::MAX_USES,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(crate) struct InviteForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    role: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    expires_in_hours: String,
    #[serde(default)]
    max_uses: String,
}

/// An optional whole number from a form field (empty: the default).
fn number(field: &str, value: &str) -> Result<Option<i64>, PageError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| {
        PageError::bad_request(format!("{field} must be a whole number, got {value:?}."))
    })
}

/// `POST /app/agencies/{a}/team/invites` (owner): creates an invite and shows its link once.
pub(crate) async fn create_invite(
    me: SignedIn,
    path: web::Path<i64>,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let agency = path.into_inner();
    let mine = agency_role(&me, agency).await?;
    crate::scope::require(mine, Role::Owner).map_err(PageError::from)?;
    let ask = invites::InviteAsk {
        role: form.role.trim(),
        email: Some(form.email.as_str()),
        expires_in_hours: number("Valid for (hours)", &form.expires_in_hours)?,
        max_uses: number("Uses", &form.max_uses)?,
    };
    let (invite, url) = invites::create_invite(&me.tenancy, agency, me.person.person_id, ask)
        .await
        .map_err(PageError::from)?;
    let link = NewLink {
        url,
        role: role_name(invite.role),
        expires: when(invite.expires_at),
    };
    let notice = super::page::Notice {
        kind: "ok",
        text: "Invite created. Copy the link now: Ember shows it only once.".into(),
    };
    team_page(&me, agency, mine, Some(notice), Some(link)).await
}

/// `POST /app/agencies/{a}/team/invites/{invite}/revoke` (owner).
pub(crate) async fn revoke_invite(
    me: SignedIn,
    path: web::Path<(i64, i64)>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let (agency, invite) = path.into_inner();
    let mine = agency_role(&me, agency).await?;
    crate::scope::require(mine, Role::Owner).map_err(PageError::from)?;
    invites::revoke_invite(&me.tenancy, agency, invite, me.person.person_id)
        .await
        .map_err(PageError::from)?;
    Ok(see_other(&format!(
        "/app/agencies/{agency}/team?done=invite_revoked"
    )))
}

#[derive(Deserialize)]
pub(crate) struct RoleForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    role: String,
}

fn parse_role(role: &str) -> Result<Role, PageError> {
    match role {
        "owner" => Ok(Role::Owner),
        "editor" => Ok(Role::Editor),
        "viewer" => Ok(Role::Viewer),
        other => Err(PageError::bad_request(format!(
            "{other:?} is not a role: choose owner, editor or viewer."
        ))),
    }
}

fn team_error(e: TeamChangeError) -> PageError {
    match e {
        TeamChangeError::NotAMember { .. } => PageError::NotFound,
        TeamChangeError::LastOwner { .. } => PageError::Refused {
            status: StatusCode::CONFLICT,
            message: "This person is the team's last owner. Make someone else an owner first."
                .into(),
        },
        TeamChangeError::Database(e) => PageError::database(e),
    }
}

/// `POST /app/agencies/{a}/team/{person}/role` (owner).
pub(crate) async fn change_role(
    me: SignedIn,
    path: web::Path<(i64, i64)>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let (agency, person) = path.into_inner();
    let mine = agency_role(&me, agency).await?;
    crate::scope::require(mine, Role::Owner).map_err(PageError::from)?;
    let role = parse_role(&form.role)?;
    ember_core::store::agencies::set_role(&me.tenancy.pool, agency, person, role)
        .await
        .map_err(team_error)?;
    Ok(see_other(&format!(
        "/app/agencies/{agency}/team?done=role_changed"
    )))
}

/// `POST /app/agencies/{a}/team/{person}/remove` (owner).
pub(crate) async fn remove(
    me: SignedIn,
    path: web::Path<(i64, i64)>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let (agency, person) = path.into_inner();
    let mine = agency_role(&me, agency).await?;
    crate::scope::require(mine, Role::Owner).map_err(PageError::from)?;
    ember_core::store::agencies::remove_member(&me.tenancy.pool, agency, person)
        .await
        .map_err(team_error)?;
    if person == me.person.person_id {
        return Ok(see_other("/app"));
    }
    Ok(see_other(&format!(
        "/app/agencies/{agency}/team?done=removed"
    )))
}

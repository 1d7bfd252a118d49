//! `/app/agencies/{a}/team`: the agency's members and roles. Owners change roles and remove
//! members with forms; everyone else sees the list read-only. The last owner cannot be removed
//! or demoted (the store refuses it under a lock; the page says why).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use ember_core::store::agencies::{Role, TeamChangeError};
use serde::Deserialize;

use super::home::role_name;
use super::page::{Chrome, PageError, SignedIn, render, see_other};
use super::{DoneQuery, TokenForm};

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
}

/// The person's role in the agency, or the 404 page.
async fn agency_role(me: &SignedIn, agency: i64) -> Result<Role, PageError> {
    crate::routes::admin::agency_role(&me.tenancy, me.person, agency)
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
    let members = ember_core::store::agencies::members(&me.tenancy.pool, agency)
        .await
        .map_err(PageError::database)?;
    let agency_name = me
        .memberships
        .iter()
        .find(|m| m.agency_id == agency)
        .map_or_else(|| format!("Agency {agency}"), |m| m.name.clone());
    let mut chrome = me
        .chrome(format!("{agency_name} team"), "team")
        .with_notice(done.notice());
    chrome.agency_id = Some(agency);
    let page = TeamPage {
        chrome,
        agency_id: agency,
        agency_name,
        my_role: role_name(role),
        can_manage: role == Role::Owner,
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
    };
    Ok(render(StatusCode::OK, &page))
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
    crate::routes::admin::require(mine, Role::Owner).map_err(PageError::from)?;
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
    crate::routes::admin::require(mine, Role::Owner).map_err(PageError::from)?;
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

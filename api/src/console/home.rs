//! `GET /app`: every portal of the person's agencies with its health at a glance.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use ember_core::store::portals::{AppKind, PortalStatus, PortalSummary};

use super::health::{HealthView, portal_health};
use super::page::{Chrome, PageError, SignedIn, render};
use crate::state::Operations;

pub(crate) struct PortalCard {
    pub portal_id: i64,
    pub name: String,
    pub kind: &'static str,
    pub status_text: &'static str,
    pub status_tone: &'static str,
    pub health: HealthView,
}

pub(crate) struct AgencyPortals {
    pub agency_id: i64,
    pub name: String,
    pub role: &'static str,
    pub portals: Vec<PortalCard>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    agencies: Vec<AgencyPortals>,
}

/// The name a person knows a portal by: its HubSpot domain, else its id.
pub(crate) fn portal_name(summary: &PortalSummary) -> String {
    summary
        .hub_domain
        .clone()
        .unwrap_or_else(|| format!("Portal {}", summary.portal_id))
}

/// The portal's lifecycle state as a badge (text and tone); health may refine it.
pub(crate) fn status_badge(status: PortalStatus) -> (&'static str, &'static str) {
    match status {
        PortalStatus::Active => ("Installed", "good"),
        PortalStatus::NeedsReauth => ("Needs re-auth", "bad"),
        PortalStatus::Uninstalled => ("Uninstalled", "muted"),
    }
}

pub(crate) fn role_name(role: ember_core::domain::Role) -> &'static str {
    match role {
        ember_core::domain::Role::Viewer => "viewer",
        ember_core::domain::Role::Editor => "editor",
        ember_core::domain::Role::Owner => "owner",
    }
}

/// `GET /app`.
pub(crate) async fn home(
    me: SignedIn,
    ops: web::Data<Operations>,
) -> Result<HttpResponse, PageError> {
    let mut agencies = Vec::with_capacity(me.memberships.len());
    for membership in &me.memberships {
        let summaries =
            ember_core::store::portals::list_for_agency(&me.tenancy.pool, membership.agency_id)
                .await
                .map_err(PageError::database)?;
        let health = portal_health(&me.tenancy.pool, &ops, &summaries).await?;
        let mut portals = Vec::with_capacity(summaries.len());
        for (summary, health) in summaries.into_iter().zip(health) {
            let (status_text, status_tone) = health.badge();
            portals.push(PortalCard {
                portal_id: summary.portal_id,
                name: portal_name(&summary),
                kind: match summary.app_kind {
                    AppKind::Public => "public app",
                    AppKind::Private => "private app",
                    AppKind::ServiceKey => "service key",
                },
                status_text,
                status_tone,
                health,
            });
        }
        agencies.push(AgencyPortals {
            agency_id: membership.agency_id,
            name: membership.name.clone(),
            role: role_name(membership.role),
            portals,
        });
    }
    let page = HomePage {
        chrome: me.chrome("Portals", "home"),
        agencies,
    };
    Ok(render(StatusCode::OK, &page))
}

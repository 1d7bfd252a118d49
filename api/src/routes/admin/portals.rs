//! `/admin/portals`: the person's portals, one portal, uninstalling one, and rotating its
//! workflow webhook secret.

use actix_web::{HttpResponse, web};
use ember_core::domain::PortalId;
use ember_core::domain::Role;
use ember_core::store::portals::PortalSummary;
use serde::Serialize;

use super::db;
use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::routes::webhooks::workflow::SECRET_HEADER;
use crate::scope::{not_found, portal_role, require};
use crate::state::{Intake, Tenancy};

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

/// A portal's new workflow webhook secret, as shown once, with where to put it.
#[derive(Serialize)]
pub(crate) struct NewWebhookSecret {
    pub portal_id: i64,
    /// The secret. Ember keeps only its SHA-256: this answer is the only place it appears.
    pub secret: String,
    /// The URL for the workflow's "Send a webhook" action (add `?workflowId=<id>` or put
    /// `workflowId` in the body).
    pub webhook_url: String,
    /// The header to send the secret in (the action's "API key" option, "Request header").
    pub header: &'static str,
    /// Or the query parameter (the "API key" option, "Query parameter").
    pub query_parameter: &'static str,
}

/// Replaces the portal's webhook secret with a new random one and makes this process use it at
/// once (the other api processes within `intake.webhook_secret.cache_secs`). For the admin route
/// and the console.
pub(crate) async fn rotate_webhook_secret(
    t: &Tenancy,
    intake: &Intake,
    portal: PortalId,
) -> Result<NewWebhookSecret, ApiError> {
    let secret = ember_core::store::portals::rotate_webhook_secret(&t.pool, portal)
        .await
        .map_err(db)?
        .ok_or_else(not_found)?;
    intake.secrets.put(portal, secret.expose());
    // Who rotated it is in the request log; the secret never is.
    tracing::info!(portal_id = %portal, "Workflow webhook secret rotated.");
    Ok(NewWebhookSecret {
        portal_id: portal.get(),
        secret: secret.expose().to_owned(),
        webhook_url: format!(
            "{}/webhooks/workflow/{}",
            intake.public_base_url,
            portal.get()
        ),
        header: SECRET_HEADER,
        query_parameter: "ember_secret",
    })
}

/// `POST /admin/portals/{portal}/webhook-secret` (editor): generates a new random secret for
/// the portal's workflow webhooks, replacing any earlier one, and returns it once.
#[utoipa::path(post, path = "/admin/portals/{portal}/webhook-secret", tag = "portals",
    operation_id = "rotate_webhook_secret", params(("portal" = i64, Path, description = "HubSpot portal id")),
    responses((status = 200, description = "`{portal_id, secret, webhook_url, header, query_parameter}`: the new \
        secret, shown this once (Ember stores only its SHA-256), and where a workflow's \"Send a webhook\" \
        action sends it. The earlier secret stops working at once in this api process, and within \
        `intake.webhook_secret.cache_secs` in the others.", body = Object),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(crate) async fn webhook_secret(
    t: web::Data<Tenancy>,
    intake: web::Data<Intake>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (portal, _, role) = portal_role(&t, person, path.into_inner()).await?;
    require(role, Role::Editor)?;
    let created = rotate_webhook_secret(&t, &intake, portal).await?;
    Ok(HttpResponse::Ok()
        // The secret must not stay in a cache on the way.
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(created))
}

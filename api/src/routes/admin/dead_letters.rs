//! `/admin/portals/{portal}/dead-letters` (list, replay) and `/admin/portals/{portal}/rejections`:
//! the HTTP side of [`crate::ops::dead_letters`] and the intake's recent rejections.

use actix_web::{HttpResponse, web};
use ember_core::domain::Role;
use ember_core::store::writeback_dead_letters::Replayed;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::ops::dead_letters::{DeadLetterItem, dead_letters_of, replay_dead_letter};
use crate::rejections::Rejection;
use crate::scope::{portal_role, require};
use crate::state::{Operations, Tenancy};

#[derive(Serialize, ToSchema)]
pub(crate) struct DeadLettersView {
    items: Vec<DeadLetterItem>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ReplayedView {
    /// The id replayed.
    replayed: String,
    /// `requeued`, or for a write-back whose contact has newer values since, `superseded`
    /// (the dead letter is removed and the newer values are what HubSpot gets).
    #[schema(value_type = String, example = "requeued")]
    outcome: Replayed,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RejectionsView {
    items: Vec<Rejection>,
}

/// The portal's dead letters.
#[utoipa::path(
    get,
    path = "/admin/portals/{portal}/dead-letters",
    operation_id = "list_dead_letters",
    tag = "operations",
    params(("portal" = i64, Path, description = "HubSpot portal id")),
    responses(
        (status = 200, description = "Write-back and event dead letters, newest first", body = DeadLettersView),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
        (status = 404, description = "No such portal among the person's agencies", body = crate::error::ErrorBody),
        (status = 503, description = "RabbitMQ cannot be reached", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn list(
    t: web::Data<Tenancy>,
    ops: web::Data<Operations>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (portal, _, _) = portal_role(&t, person, path.into_inner()).await?;
    let items = dead_letters_of(&t.pool, &ops, portal).await?;
    Ok(HttpResponse::Ok().json(DeadLettersView { items }))
}

/// Replays one dead letter (editor).
#[utoipa::path(
    post,
    path = "/admin/portals/{portal}/dead-letters/{id}/replay",
    operation_id = "replay_dead_letter",
    tag = "operations",
    params(
        ("portal" = i64, Path, description = "HubSpot portal id"),
        ("id" = String, Path, description = "A dead letter's id: `writeback-<n>` or `event-<digest>`"),
    ),
    responses(
        (status = 200, description = "Replayed", body = ReplayedView),
        (status = 400, description = "Not a dead-letter id", body = crate::error::ErrorBody),
        (status = 403, description = "Not an editor, or no valid CSRF token", body = crate::error::ErrorBody),
        (status = 404, description = "No such portal among the person's agencies, or no such dead letter", body = crate::error::ErrorBody),
        (status = 503, description = "RabbitMQ cannot be reached", body = crate::error::ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
pub(crate) async fn replay(
    t: web::Data<Tenancy>,
    ops: web::Data<Operations>,
    person: CurrentPerson,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (portal, id) = path.into_inner();
    let (portal, _, role) = portal_role(&t, person, portal).await?;
    require(role, Role::Editor)?;
    let outcome = replay_dead_letter(&t.pool, &ops, portal, &id).await?;
    tracing::info!(
        portal_id = %portal,
        dead_letter = %id,
        outcome = ?outcome,
        by = person.person_id,
        "Replayed a dead letter."
    );
    Ok(HttpResponse::Ok().json(ReplayedView {
        replayed: id,
        outcome,
    }))
}

/// The intake's recent rejections of the portal's requests (this api process's).
#[utoipa::path(
    get,
    path = "/admin/portals/{portal}/rejections",
    operation_id = "list_rejections",
    tag = "operations",
    params(("portal" = i64, Path, description = "HubSpot portal id")),
    responses(
        (status = 200, description = "Newest first", body = RejectionsView),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
        (status = 404, description = "No such portal among the person's agencies", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn rejections(
    t: web::Data<Tenancy>,
    ops: web::Data<Operations>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (portal, _, _) = portal_role(&t, person, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(RejectionsView {
        items: ops.rejections.recent(portal),
    }))
}

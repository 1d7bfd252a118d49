//! The admin JSON API, scoped to the signed-in person's agencies. Every lookup goes through the
//! person's membership first; a portal or agency outside it is answered 404, exactly as one
//! that does not exist. Changes need the editor role (owner for invitations and the team): 403.
//! Every change also needs the session's CSRF token (see `crate::extract`). The OpenAPI document
//! of these routes is `crate::openapi`: a route added here is added to its `paths(...)` too.

pub(crate) mod agencies;
pub(crate) mod dead_letters;
pub(crate) mod health;
pub(crate) mod invites;
pub(crate) mod members;
pub(crate) mod models;
pub(crate) mod portals;
pub(crate) mod scores;

use actix_web::web;

use crate::error::ApiError;

/// Largest request body of the admin API (model documents).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Registers `/admin/...`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            // Model documents with long custom lists outgrow actix's 256 KiB default.
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route("/me", web::get().to(agencies::me))
            .route("/portals", web::get().to(portals::list))
            .route("/portals/{portal}", web::get().to(portals::get))
            .route(
                "/portals/{portal}/uninstall",
                web::post().to(portals::uninstall),
            )
            .route(
                "/portals/{portal}/webhook-secret",
                web::post().to(portals::webhook_secret),
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
                web::post().to(invites::create),
            )
            .route("/agencies/{agency}/invites", web::get().to(invites::list))
            .route(
                "/agencies/{agency}/invites/{invite}",
                web::delete().to(invites::revoke),
            )
            // Scoring models and scores.
            .route("/portals/{portal}/models", web::get().to(models::list))
            .route("/portals/{portal}/models", web::post().to(models::save))
            .route("/portals/{portal}/model", web::get().to(models::active))
            .route(
                "/portals/{portal}/models/validate",
                web::post().to(models::validate),
            )
            .route(
                "/portals/{portal}/models/preview",
                web::post().to(models::preview),
            )
            .route(
                "/portals/{portal}/models/{version}",
                web::get().to(models::version),
            )
            .route(
                "/portals/{portal}/models/{version}/activate",
                web::post().to(models::activate),
            )
            .route("/portals/{portal}/scores", web::get().to(scores::scores))
            .route(
                "/portals/{portal}/contacts",
                web::get().to(scores::contacts),
            )
            .route(
                "/portals/{portal}/contacts/{contact}",
                web::get().to(scores::contact),
            )
            // Operations and team (health, dead letters, rejections, members).
            .route("/portals/{portal}/health", web::get().to(health::get))
            .route(
                "/portals/{portal}/dead-letters",
                web::get().to(dead_letters::list),
            )
            .route(
                "/portals/{portal}/dead-letters/{id}/replay",
                web::post().to(dead_letters::replay),
            )
            .route(
                "/portals/{portal}/rejections",
                web::get().to(dead_letters::rejections),
            )
            .route("/agencies/{agency}/members", web::get().to(members::list))
            .route(
                "/agencies/{agency}/members/{person}",
                web::put().to(members::set_role),
            )
            .route(
                "/agencies/{agency}/members/{person}",
                web::delete().to(members::remove),
            ),
    );
}

pub(crate) fn db(e: sqlx::Error) -> ApiError {
    ApiError::internal(e.into())
}

//! HubSpot's own paths, served as HubSpot serves them. Each route module answers one resource;
//! `gate` admits authenticated calls (token, scopes, faults, rate limits).

mod account;
mod batch;
mod contacts;
pub(crate) mod errors;
pub(crate) mod gate;
pub(crate) mod oauth;
mod properties;
mod query;
mod search;

use actix_web::web;

/// Registers every HubSpot route.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    const CONTACTS: &str = "/crm/v3/objects/contacts";
    cfg.route("/oauth/authorize", web::get().to(oauth::authorize))
        .route("/oauth/{portal}/authorize", web::get().to(oauth::authorize))
        .route("/oauth/v1/token", web::post().to(oauth::token))
        .route(
            "/oauth/v1/access-tokens/{token}",
            web::get().to(oauth::access_token_info),
        )
        .route(
            "/oauth/v1/refresh-tokens/{token}",
            web::get().to(oauth::refresh_token_info),
        )
        .route(
            "/oauth/v1/refresh-tokens/{token}",
            web::delete().to(oauth::delete_refresh_token),
        )
        .route(CONTACTS, web::get().to(contacts::list))
        .route(CONTACTS, web::post().to(contacts::create_one))
        .route(
            &format!("{CONTACTS}/batch/read"),
            web::post().to(batch::read),
        )
        .route(
            &format!("{CONTACTS}/batch/create"),
            web::post().to(batch::create),
        )
        .route(
            &format!("{CONTACTS}/batch/update"),
            web::post().to(batch::update),
        )
        .route(
            &format!("{CONTACTS}/batch/upsert"),
            web::post().to(batch::upsert),
        )
        .route(
            &format!("{CONTACTS}/batch/archive"),
            web::post().to(batch::archive),
        )
        .route(
            &format!("{CONTACTS}/search"),
            web::post().to(search::search),
        )
        .route(
            &format!("{CONTACTS}/merge"),
            web::post().to(contacts::merge),
        )
        .route(
            &format!("{CONTACTS}/gdpr-delete"),
            web::post().to(contacts::gdpr_delete),
        )
        .route(
            &format!("{CONTACTS}/{{contactId}}"),
            web::get().to(contacts::get_one),
        )
        .route(
            &format!("{CONTACTS}/{{contactId}}"),
            web::patch().to(contacts::patch_one),
        )
        .route(
            &format!("{CONTACTS}/{{contactId}}"),
            web::delete().to(contacts::delete_one),
        )
        .route(
            "/crm/v3/properties/{objectType}",
            web::get().to(properties::list),
        )
        .route(
            "/crm/v3/properties/{objectType}",
            web::post().to(properties::create),
        )
        .route(
            "/crm/v3/properties/{objectType}/groups",
            web::get().to(properties::list_groups),
        )
        .route(
            "/crm/v3/properties/{objectType}/groups",
            web::post().to(properties::create_group),
        )
        .route(
            "/crm/v3/properties/{objectType}/groups/{groupName}",
            web::get().to(properties::get_group),
        )
        .route(
            "/crm/v3/properties/{objectType}/{propertyName}",
            web::get().to(properties::get_one),
        )
        .route("/account-info/v3/details", web::get().to(account::details))
        .route(
            "/appinstalls/v3/external-install",
            web::delete().to(account::uninstall),
        );
    properties::batch_routes(cfg, "/crm/v3/properties");
    properties::batch_routes(cfg, "/crm/properties/2026-09");
}

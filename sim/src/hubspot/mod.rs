//! HubSpot's own paths, served as HubSpot serves them. Each route module answers one resource;
//! `gate` admits authenticated calls (token, scopes, faults, rate limits). Every resource is
//! served on its date-versioned path and on its legacy one; `legacy` counts (and can refuse)
//! the legacy calls.

mod account;
mod batch;
mod contacts;
pub(crate) mod errors;
pub(crate) mod gate;
pub(crate) mod legacy;
pub(crate) mod oauth;
mod properties;
mod query;
mod search;

use actix_web::middleware::from_fn;
use actix_web::web;

/// The OAuth version served (docs/hubspot.md D.2).
const OAUTH: &str = "/oauth/2026-03";
/// The CRM objects version served (docs/hubspot.md E).
const OBJECTS: &str = "/crm/objects/2026-09";
/// The properties version served (docs/hubspot.md F).
const PROPERTIES: &str = "/crm/properties/2026-09";
/// Account info and app installs, dated.
const ACCOUNT_INFO: &str = "/account-info/2026-09";
const APP_INSTALLS: &str = "/appinstalls/2026-09";

/// The legacy prefixes (docs/hubspot.md P2).
const OAUTH_V1: &str = "/oauth/v1";
const OBJECTS_V3: &str = "/crm/v3/objects";
const PROPERTIES_V3: &str = "/crm/v3/properties";
const ACCOUNT_INFO_V3: &str = "/account-info/v3";
const APP_INSTALLS_V3: &str = "/appinstalls/v3";

/// Registers every HubSpot route.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/authorize", web::get().to(oauth::authorize))
        .route("/oauth/{portal}/authorize", web::get().to(oauth::authorize))
        .service(
            web::scope(OAUTH)
                .route("/token", web::post().to(oauth::token))
                .route("/token/introspect", web::post().to(oauth::introspect))
                .route("/token/revoke", web::post().to(oauth::revoke)),
        )
        .service(web::scope(OBJECTS).configure(object_routes))
        .service(web::scope(PROPERTIES).configure(property_routes))
        .service(web::scope(ACCOUNT_INFO).configure(account_routes))
        .service(web::scope(APP_INSTALLS).configure(install_routes))
        .service(
            web::scope(OAUTH_V1)
                .wrap(from_fn(legacy::gate))
                .route("/token", web::post().to(oauth::token_v1))
                .route(
                    "/access-tokens/{token}",
                    web::get().to(oauth::access_token_info),
                )
                .route(
                    "/refresh-tokens/{token}",
                    web::get().to(oauth::refresh_token_info),
                )
                .route(
                    "/refresh-tokens/{token}",
                    web::delete().to(oauth::delete_refresh_token),
                ),
        )
        .service(
            web::scope(OBJECTS_V3)
                .wrap(from_fn(legacy::gate))
                .configure(object_routes),
        )
        .service(
            web::scope(PROPERTIES_V3)
                .wrap(from_fn(legacy::gate))
                .configure(property_routes),
        )
        .service(
            web::scope(ACCOUNT_INFO_V3)
                .wrap(from_fn(legacy::gate))
                .configure(account_routes),
        )
        .service(
            web::scope(APP_INSTALLS_V3)
                .wrap(from_fn(legacy::gate))
                .configure(install_routes),
        );
}

/// The contacts object, under an objects prefix.
fn object_routes(cfg: &mut web::ServiceConfig) {
    const CONTACTS: &str = "/contacts";
    cfg.route(CONTACTS, web::get().to(contacts::list))
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
        );
}

/// Property definitions and groups, under a properties prefix.
fn property_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/{objectType}", web::get().to(properties::list))
        .route("/{objectType}", web::post().to(properties::create))
        .route(
            "/{objectType}/groups",
            web::get().to(properties::list_groups),
        )
        .route(
            "/{objectType}/groups",
            web::post().to(properties::create_group),
        )
        .route(
            "/{objectType}/groups/{groupName}",
            web::get().to(properties::get_group),
        )
        .route(
            "/{objectType}/{propertyName}",
            web::get().to(properties::get_one),
        );
    properties::batch_routes(cfg);
}

fn account_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/details", web::get().to(account::details));
}

fn install_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/external-install", web::delete().to(account::uninstall));
}

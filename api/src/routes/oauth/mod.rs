//! The OAuth install flow (docs/hubspot.md D): `GET /oauth/install` sends the person to HubSpot with a
//! signed, cookie-bound, single-use `state`; `GET /oauth/callback` checks it, exchanges the code,
//! introspects the access token, installs the portal (tokens sealed, properties provisioned, default
//! model), starts a console session and redirects to the portal's page. Every failure shows a
//! small page that says what happened, and logs why.

mod callback;
mod install;
mod page;

use actix_web::web;

/// Registers `/oauth/install`, `/oauth/login`, the callback (at `redirect_path`) and
/// `/oauth/logout`.
pub fn configure(cfg: &mut web::ServiceConfig, redirect_path: &str) {
    cfg.route("/oauth/install", web::get().to(install::install))
        .route("/oauth/login", web::get().to(install::install))
        .route("/oauth/logout", web::post().to(install::logout))
        .route(redirect_path, web::get().to(callback::callback));
}

//! The console: server-rendered pages under `/app` where agencies watch their portals and tune
//! scoring, and the static assets under `/assets` (templates and assets live in `frontend/` and
//! are compiled into the binary).
//!
//! Pages read through the same core store functions as the admin JSON API and are scoped the
//! same way: every portal or agency is looked up through the person's memberships first, and
//! one outside them is the same 404 page as one that does not exist. Forms post with the
//! session's CSRF token in `_csrf` (checked before anything changes) and redirect back (303).
//! The model editor is a small script that edits the model as a form and talks to the JSON API
//! with the token in `X-CSRF-Token`.
//!
//! Every response here carries a strict Content-Security-Policy: nothing loads from elsewhere,
//! no inline script or style runs, and no other site may frame the console.

mod assets;
mod charts;
mod contacts;
mod dead_letters;
mod health;
mod home;
mod model;
mod page;
mod portal;
mod team;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};
use ember_core::domain::PortalId;
use ember_core::domain::Role;
use serde::Deserialize;

use crate::extract::CsrfForm;
use crate::state::Tenancy;
use page::{PageError, SignedIn, see_other};

/// The console's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

/// A form route: POST only, its handler checks `_csrf` itself (see [`CsrfForm`]).
fn form<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .app_data(CsrfForm)
        .route(web::post().to(handler))
}

/// Registers `/app/...` and `/assets/...`. The console needs the install flow's state (sessions),
/// so it is served only when that is configured; see `crate::startup`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/assets")
            .wrap(security_headers())
            .route("/{name}", web::get().to(assets::serve)),
    )
    .service(
        web::scope("/app")
            .wrap(security_headers())
            .route("", web::get().to(home::home))
            .route("/", web::get().to(home::home))
            .route("/sign-in", web::get().to(sign_in))
            .service(form("/sign-out", sign_out))
            .route("/portals/{portal}", web::get().to(portal::show))
            .service(form(
                "/portals/{portal}/webhook-secret",
                portal::rotate_webhook_secret,
            ))
            .route(
                "/portals/{portal}/contacts/{contact}",
                web::get().to(contacts::show),
            )
            .route("/portals/{portal}/model", web::get().to(model::editor))
            .route(
                "/portals/{portal}/model/versions",
                web::get().to(model::versions),
            )
            .service(form(
                "/portals/{portal}/model/versions/{version}/activate",
                model::activate,
            ))
            .route(
                "/portals/{portal}/dead-letters",
                web::get().to(dead_letters::list),
            )
            .service(form(
                "/portals/{portal}/dead-letters/{id}/replay",
                dead_letters::replay,
            ))
            .route("/agencies/{agency}/team", web::get().to(team::show))
            .service(form(
                "/agencies/{agency}/team/{person}/role",
                team::change_role,
            ))
            .service(form(
                "/agencies/{agency}/team/{person}/remove",
                team::remove,
            ))
            .service(form("/agencies/{agency}/team/invites", team::create_invite))
            .service(form(
                "/agencies/{agency}/team/invites/{invite}/revoke",
                team::revoke_invite,
            ))
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> Result<HttpResponse, PageError> {
    Err(PageError::NotFound)
}

async fn sign_in() -> HttpResponse {
    page::sign_in_page(None)
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub(crate) struct TokenForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /app/sign-out`: ends the session and shows the sign-in page.
async fn sign_out(me: SignedIn, form: web::Form<TokenForm>) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    ember_core::store::sessions::delete(&me.tenancy.pool, me.person.session_id)
        .await
        .map_err(PageError::database)?;
    let mut response = see_other("/app/sign-in");
    let _ = response.add_removal_cookie(
        &me.tenancy
            .signer
            .removal(crate::session::SESSION_COOKIE, "/"),
    );
    Ok(response)
}

/// The header every portal page shows: name, status, the person's role, the open tab.
pub(crate) struct PortalHead {
    pub portal_id: i64,
    pub name: String,
    pub agency_name: String,
    pub role: &'static str,
    pub status_text: &'static str,
    pub status_tone: &'static str,
    pub tab: &'static str,
}

/// A portal the person may see, with their role there.
pub(crate) struct PortalContext {
    pub portal: PortalId,
    pub role: Role,
    pub head: PortalHead,
}

impl PortalContext {
    /// Looks the portal up through the person's agencies: outside them, or unknown, is 404.
    pub(crate) async fn load(
        me: &SignedIn,
        portal: i64,
        tab: &'static str,
    ) -> Result<Self, PageError> {
        let tenancy: &Tenancy = &me.tenancy;
        let person = me.person;
        let (portal, agency, role) = crate::scope::portal_role(tenancy, person, portal)
            .await
            .map_err(PageError::from)?;
        let summary = ember_core::store::portals::get_for_agency(&tenancy.pool, portal, agency)
            .await
            .map_err(PageError::database)?
            .ok_or(PageError::NotFound)?;
        let (status_text, status_tone) = home::status_badge(summary.status);
        let agency_name = me
            .memberships
            .iter()
            .find(|m| m.agency_id == agency)
            .map_or_else(|| format!("Agency {agency}"), |m| m.name.clone());
        Ok(Self {
            portal,
            role,
            head: PortalHead {
                portal_id: portal.get(),
                name: home::portal_name(&summary),
                agency_name,
                role: home::role_name(role),
                status_text,
                status_tone,
                tab,
            },
        })
    }

    /// Refuses a change below `needed` with a 403 page.
    pub(crate) fn require(&self, needed: Role) -> Result<(), PageError> {
        crate::scope::require(self.role, needed).map_err(PageError::from)
    }
}

/// Which notice a page shows after a redirect (`?done=...`): fixed texts only, so a link cannot
/// put words on the page.
#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

impl DoneQuery {
    pub(crate) fn notice(&self) -> Option<page::Notice> {
        let text = match self.done.as_deref()? {
            "activated" => "That version is now active. Contacts are being rescored.",
            "replayed" => "The dead letter was sent again.",
            "role_changed" => "The role was changed.",
            "removed" => "The member was removed from the team.",
            "invite_revoked" => "The invite was revoked: its link no longer works.",
            "saved" => "Saved as a new version. Contacts are being rescored.",
            _ => return None,
        };
        Some(page::Notice {
            kind: "ok",
            text: text.into(),
        })
    }
}

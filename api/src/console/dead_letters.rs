//! `/app/portals/{p}/dead-letters`: the portal's dead letters (write-backs HubSpot refused, event
//! messages the workers gave up on) with a replay button for editors, and the intake's recent
//! rejections of the portal's webhooks.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use ember_core::domain::Role;

use super::page::{Chrome, PageError, SignedIn, render, see_other};
use super::{DoneQuery, PortalContext, PortalHead, TokenForm};
use crate::ops::dead_letters::{DeadLetterKind, dead_letters_of, replay_dead_letter};
use crate::state::Operations;

pub(crate) struct DeadLetterRow {
    pub id: String,
    pub kind: &'static str,
    pub tone: &'static str,
    pub reason: String,
    pub at: String,
    pub contact_id: Option<i64>,
    pub detail: String,
}

pub(crate) struct RejectionRow {
    pub at: String,
    pub status: u16,
    pub reason: String,
    pub detail: String,
    /// Unauthenticated rejections after this one within a minute, not listed.
    pub suppressed: u64,
}

#[derive(Template)]
#[template(path = "dead_letters.html")]
struct DeadLettersPage {
    chrome: Chrome,
    head: PortalHead,
    can_edit: bool,
    dead_letters: Vec<DeadLetterRow>,
    /// Why the list could not be read (the broker is down), instead of the list.
    dead_letters_problem: Option<String>,
    rejections: Vec<RejectionRow>,
}

pub(crate) fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "unknown".into(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// `GET /app/portals/{p}/dead-letters`.
pub(crate) async fn list(
    me: SignedIn,
    ops: web::Data<Operations>,
    path: web::Path<i64>,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let ctx = PortalContext::load(&me, path.into_inner(), "dead-letters").await?;
    let (dead_letters, dead_letters_problem) =
        match dead_letters_of(&me.tenancy.pool, &ops, ctx.portal).await {
            Ok(items) => (items, None),
            // The broker's dead-letter queue may be unreachable: say so, show the rest.
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => (Vec::new(), Some(e.message)),
            Err(e) => return Err(e.into()),
        };
    let rejections = ops
        .rejections
        .recent(ctx.portal)
        .into_iter()
        .map(|r| RejectionRow {
            at: when(Some(r.at)),
            status: r.status,
            reason: r.reason,
            detail: r.detail,
            suppressed: r.suppressed,
        })
        .collect();
    let page = DeadLettersPage {
        chrome: me
            .chrome(format!("Dead letters · {}", ctx.head.name), "portal")
            .with_notice(done.notice()),
        can_edit: ctx.role >= Role::Editor,
        dead_letters: dead_letters
            .into_iter()
            .map(|d| {
                let (kind, tone) = match d.kind {
                    DeadLetterKind::Writeback => ("write-back", "warn"),
                    DeadLetterKind::Event => ("event", "info"),
                };
                DeadLetterRow {
                    id: d.id,
                    kind,
                    tone,
                    reason: d.reason,
                    at: when(d.at),
                    contact_id: d.contact_id,
                    detail: d.detail,
                }
            })
            .collect(),
        dead_letters_problem,
        rejections,
        head: ctx.head,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /app/portals/{p}/dead-letters/{id}/replay` (editor).
pub(crate) async fn replay(
    me: SignedIn,
    ops: web::Data<Operations>,
    path: web::Path<(i64, String)>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let (portal, id) = path.into_inner();
    let ctx = PortalContext::load(&me, portal, "dead-letters").await?;
    ctx.require(Role::Editor)?;
    replay_dead_letter(&me.tenancy.pool, &ops, ctx.portal, &id).await?;
    Ok(see_other(&format!(
        "/app/portals/{}/dead-letters?done=replayed",
        ctx.portal.get()
    )))
}

//! `GET /app/portals/{p}/contacts/{id}`: why a contact has its score: each rule with its raw and
//! decayed points, the reasons text written to HubSpot, and when decay next changes the score.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use ember_core::domain::ObjectId;
use ember_core::scoring::Axis;
use ember_core::store::console;

use super::charts;
use super::dead_letters::when;
use super::page::{Chrome, PageError, SignedIn, render};
use super::portal::active_model;
use super::{PortalContext, PortalHead};

pub(crate) struct RuleRow {
    pub label: String,
    pub rule: String,
    pub axis: &'static str,
    pub count: u32,
    pub raw: String,
    pub decayed: String,
    /// `pos` or `neg` (colours the decayed points).
    pub tone: &'static str,
}

pub(crate) struct ContactView {
    pub contact_id: i64,
    pub name: String,
    pub email: Option<String>,
    pub total: i64,
    pub fit: i64,
    pub engagement: i64,
    pub grade: String,
    pub grade_class: String,
    pub next_change: String,
    pub reasons: String,
    pub rules: Vec<RuleRow>,
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    chrome: Chrome,
    head: PortalHead,
    contact: ContactView,
}

fn points(x: f64) -> String {
    format!("{x:+.1}")
}

/// `GET /app/portals/{p}/contacts/{id}`.
pub(crate) async fn show(
    me: SignedIn,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, PageError> {
    let (portal, contact) = path.into_inner();
    let ctx = PortalContext::load(&me, portal, "scores").await?;
    let contact = ObjectId::new(contact).map_err(|_| PageError::NotFound)?;
    let pool = &me.tenancy.pool;
    let input = console::contact(pool, ctx.portal, contact)
        .await
        .map_err(PageError::database)?
        .ok_or(PageError::NotFound)?;
    let active = active_model(pool, ctx.portal).await?;
    let e = console::explain(&active.compiled, &input, Utc::now());
    let grade = e.grade.unwrap_or_else(|| "—".into());
    let title = e
        .name
        .clone()
        .or(e.email.clone())
        .unwrap_or_else(|| format!("Contact {}", e.contact_id));
    let view = ContactView {
        contact_id: e.contact_id,
        name: title.clone(),
        email: e.email.clone(),
        total: e.total,
        fit: e.fit,
        engagement: e.engagement,
        grade_class: charts::grade_class(&grade),
        grade,
        next_change: e.next_change_at.map_or_else(
            || "Never: no engagement points left to fade.".into(),
            |t| when(Some(t)),
        ),
        reasons: if e.reasons.is_empty() {
            "No reasons.".into()
        } else {
            e.reasons
        },
        rules: e
            .rules
            .into_iter()
            .map(|r| RuleRow {
                label: if r.label.is_empty() {
                    r.rule.clone()
                } else {
                    r.label
                },
                rule: r.rule,
                axis: match r.axis {
                    Axis::Fit => "fit",
                    Axis::Engagement => "engagement",
                },
                count: r.count,
                raw: points(r.raw),
                decayed: points(r.decayed),
                tone: if r.decayed < 0.0 { "neg" } else { "pos" },
            })
            .collect(),
    };
    let page = ContactPage {
        chrome: me.chrome(format!("{title} · {}", ctx.head.name), "portal"),
        contact: view,
        head: ctx.head,
    };
    Ok(render(StatusCode::OK, &page))
}

//! `GET /app/portals/{p}`: the portal's score distribution (server-drawn histogram, grade split,
//! matrix cells) and its top and fastest-rising contacts, each linking to its explanation.
//! The OAuth callback lands here after an install. It also says which properties the active
//! model reads that the latest recorded HubSpot app render does not subscribe to
//! (docs/hubspot-app.md, "When a model reads a new property").

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use ember_core::domain::PortalId;
use ember_core::scoring::{CompiledModel, Model};
use ember_core::store::console::{self, ContactSummary};
use sqlx::PgPool;

use super::charts::{self, Bucket, GradeShare};
use super::page::{Chrome, PageError, SignedIn, render};
use super::{PortalContext, PortalHead, TokenForm};
use crate::state::Intake;
use ember_core::domain::Role;

/// Contacts per list (top, rising).
const LIST_SIZE: usize = 10;

/// The portal's active model: its version (0 for the built-in one), document and compiled form.
pub(crate) struct ActiveModel {
    pub version: i32,
    pub model: Model,
    pub compiled: CompiledModel,
}

/// Loads and compiles the portal's active model, as the worker scores with it.
pub(crate) async fn active_model(
    pool: &PgPool,
    portal: PortalId,
) -> Result<ActiveModel, PageError> {
    let (version, model) = match ember_core::store::models::active(pool, portal)
        .await
        .map_err(PageError::database)?
    {
        Some((version, document)) => (
            version,
            serde_json::from_value::<Model>(document).map_err(|e| {
                PageError::Internal(anyhow::Error::new(e).context(format!(
                    "stored model v{version} of portal {} does not parse",
                    portal.get()
                )))
            })?,
        ),
        None => (0, Model::default_model()),
    };
    let compiled = model.validate().map_err(|e| {
        PageError::Internal(anyhow::anyhow!(
            "stored model v{version} of portal {} is invalid: {e}",
            portal.get()
        ))
    })?;
    Ok(ActiveModel {
        version,
        model,
        compiled,
    })
}

pub(crate) struct ContactRow {
    pub contact_id: i64,
    pub name: String,
    pub email: Option<String>,
    pub grade: String,
    pub grade_class: String,
    pub total: i64,
    pub fit: i64,
    pub engagement: i64,
    pub change_7d: String,
}

impl From<ContactSummary> for ContactRow {
    fn from(c: ContactSummary) -> Self {
        let grade = c.grade.unwrap_or_else(|| "—".into());
        Self {
            contact_id: c.contact_id,
            name: c
                .name
                .or_else(|| c.email.clone())
                .unwrap_or_else(|| format!("Contact {}", c.contact_id)),
            email: c.email,
            grade_class: charts::grade_class(&grade),
            grade,
            total: c.total,
            fit: c.fit,
            engagement: c.engagement,
            change_7d: match c.change_7d {
                0 => "—".into(),
                n if n > 0 => format!("+{n}"),
                n => n.to_string(),
            },
        }
    }
}

pub(crate) struct ContactList {
    pub key: &'static str,
    pub title: &'static str,
    pub rows: Vec<ContactRow>,
}

pub(crate) struct ScoresView {
    pub contacts: i64,
    pub mean: String,
    pub model_version: i32,
    pub rescore: String,
    pub histogram_svg: String,
    pub grade_svg: String,
    pub grades: Vec<GradeShare>,
    /// The fit × engagement grid, when the model has a matrix.
    pub matrix: Option<MatrixView>,
}

/// The fit × engagement matrix as HubSpot users read it: fit bands down (A best), engagement
/// bands across (1 most engaged), every cell shown, empty ones as 0.
pub(crate) struct MatrixView {
    pub engagement: Vec<String>,
    /// Fit band label and the count of each engagement column.
    pub rows: Vec<(String, Vec<i64>)>,
}

fn matrix_view(model: &Model, cells: &BTreeMap<String, i64>) -> Option<MatrixView> {
    let m = model.matrix.as_ref()?;
    let engagement: Vec<String> = m.engagement.iter().map(|b| b.label.clone()).collect();
    let rows = m
        .fit
        .iter()
        .map(|fit| {
            let counts = engagement
                .iter()
                .map(|e| {
                    cells
                        .get(&format!("{}{e}", fit.label))
                        .copied()
                        .unwrap_or(0)
                })
                .collect();
            (fit.label.clone(), counts)
        })
        .collect();
    Some(MatrixView { engagement, rows })
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage {
    chrome: Chrome,
    head: PortalHead,
    scores: ScoresView,
    lists: Vec<ContactList>,
    /// Editors and owners may rotate the workflow webhook secret.
    can_edit: bool,
    subscriptions: Subscriptions,
}

/// How the HubSpot app's webhook subscriptions compare with what the active model reads.
pub(crate) enum Subscriptions {
    /// No `ember hubspot-app render` was recorded: nothing to compare with.
    NoRender,
    /// The latest render subscribes to every property the model reads.
    Covered,
    /// Properties the model reads that the latest render does not subscribe to, sorted.
    Missing(Vec<String>),
}

async fn subscriptions(pool: &PgPool, active: &ActiveModel) -> Result<Subscriptions, PageError> {
    let render = ember_core::store::hubspot_app::latest(pool)
        .await
        .map_err(PageError::database)?;
    Ok(match render {
        None => Subscriptions::NoRender,
        Some(render) => {
            let missing = ember_core::store::hubspot_app::missing_subscriptions(
                &active.model.read_properties(),
                &render,
            );
            if missing.is_empty() {
                Subscriptions::Covered
            } else {
                Subscriptions::Missing(missing)
            }
        }
    })
}

/// The new secret, shown once (pages are `no-store`).
#[derive(Template)]
#[template(path = "webhook_secret.html")]
struct WebhookSecretPage {
    chrome: Chrome,
    head: PortalHead,
    secret: String,
    webhook_url: String,
    header: &'static str,
    query_parameter: &'static str,
}

async fn scores(
    pool: &PgPool,
    portal: PortalId,
    active: &ActiveModel,
) -> Result<ScoresView, PageError> {
    let model = &active.model;
    let groups = console::score_groups(pool, portal, model.output.matrix.as_deref())
        .await
        .map_err(PageError::database)?;
    let range = console::histogram_range(groups.iter().map(|(total, _, _)| *total));
    let dist = console::distribution(
        model,
        groups
            .iter()
            .map(|(total, _, count)| (*total, console::grade_of(model, *total), *count)),
        range,
    );
    let mut matrix: BTreeMap<String, i64> = BTreeMap::new();
    for (_, cell, count) in &groups {
        if let Some(cell) = cell {
            *matrix.entry(cell.clone()).or_default() += count;
        }
    }
    let contacts: i64 = groups.iter().map(|(_, _, count)| count).sum();
    let buckets: Vec<Bucket> = dist
        .histogram
        .iter()
        .map(|b| Bucket {
            from: b.from as f64,
            to: b.to as f64,
            count: b.count,
        })
        .collect();
    // Grades in the model's order (highest band first), not alphabetical.
    let grades: Vec<(String, i64)> = model
        .grades
        .iter()
        .map(|b| {
            (
                b.label.clone(),
                dist.grades.get(&b.label).copied().unwrap_or(0),
            )
        })
        .collect();
    let shares = charts::grade_shares(&grades);
    let rescore = match ember_core::store::models::latest_rescore(pool, portal)
        .await
        .map_err(PageError::database)?
    {
        Some((version, done, total, None)) => match total {
            Some(total) => format!("v{version} running: {done}/{total}"),
            None => format!("v{version} starting"),
        },
        _ => "Up to date".into(),
    };
    Ok(ScoresView {
        contacts,
        mean: format!("{:.1}", dist.mean),
        model_version: active.version,
        rescore,
        histogram_svg: charts::histogram(&buckets, "Contacts by score"),
        grade_svg: charts::grade_split(&shares),
        grades: shares,
        matrix: matrix_view(model, &matrix),
    })
}

async fn lists(
    pool: &PgPool,
    portal: PortalId,
    active: &ActiveModel,
) -> Result<Vec<ContactList>, PageError> {
    let now = Utc::now();
    let top = console::top(pool, portal, LIST_SIZE as i64)
        .await
        .map_err(PageError::database)?;
    let candidates = console::engaged_since(
        pool,
        portal,
        now - Duration::days(console::RISING_DAYS),
        console::RISING_CANDIDATES,
    )
    .await
    .map_err(PageError::database)?;
    Ok(vec![
        ContactList {
            key: "top",
            title: "Top contacts",
            rows: top
                .iter()
                .map(|c| console::summarize(&active.compiled, c, now).into())
                .collect(),
        },
        ContactList {
            key: "rising",
            title: "Rising fastest (7 days)",
            rows: console::rising(&active.compiled, &candidates, now, LIST_SIZE)
                .into_iter()
                .map(ContactRow::from)
                .collect(),
        },
    ])
}

/// `GET /app/portals/{p}`.
pub(crate) async fn show(me: SignedIn, path: web::Path<i64>) -> Result<HttpResponse, PageError> {
    let ctx = PortalContext::load(&me, path.into_inner(), "scores").await?;
    let pool = &me.tenancy.pool;
    let active = active_model(pool, ctx.portal).await?;
    let page = PortalPage {
        chrome: me.chrome(ctx.head.name.clone(), "portal"),
        scores: scores(pool, ctx.portal, &active).await?,
        lists: lists(pool, ctx.portal, &active).await?,
        can_edit: ctx.role >= Role::Editor,
        subscriptions: subscriptions(pool, &active).await?,
        head: ctx.head,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /app/portals/{p}/webhook-secret` (editor): a new workflow webhook secret, shown once on
/// the page this answers with (no redirect: the secret is nowhere to be read again).
pub(crate) async fn rotate_webhook_secret(
    me: SignedIn,
    intake: web::Data<Intake>,
    path: web::Path<i64>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let ctx = PortalContext::load(&me, path.into_inner(), "scores").await?;
    ctx.require(Role::Editor)?;
    let created =
        crate::routes::admin::portals::rotate_webhook_secret(&me.tenancy, &intake, ctx.portal)
            .await?;
    let page = WebhookSecretPage {
        chrome: me.chrome(format!("Webhook secret · {}", ctx.head.name), "portal"),
        head: ctx.head,
        secret: created.secret,
        webhook_url: created.webhook_url,
        header: created.header,
        query_parameter: created.query_parameter,
    };
    Ok(render(StatusCode::OK, &page))
}

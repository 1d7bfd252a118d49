//! The model editor (`/app/portals/{p}/model`), the version history
//! (`/app/portals/{p}/model/versions`) and rolling back or forward to a version (a form).
//!
//! The editor page carries the active model document as JSON; `frontend/assets/model-editor.js`
//! turns it into a form and calls the admin JSON API to check, preview and save. Viewers get the
//! same form read-only, without a save button (the API refuses their saves too).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use ember_core::domain::Role;
use ember_core::scoring::Model;
use ember_core::store::models;

use super::dead_letters::when;
use super::page::{Chrome, PageError, SignedIn, render, see_other};
use super::{DoneQuery, PortalContext, PortalHead, TokenForm};

#[derive(Template)]
#[template(path = "model.html")]
struct EditorPage {
    chrome: Chrome,
    head: PortalHead,
    read_only: bool,
    version: i32,
    version_note: String,
    document_json: String,
}

/// JSON that is safe inside a `<script>` element: `<` is escaped, so the text can never close
/// the element or open a comment, whatever a model's strings hold.
pub(crate) fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `GET /app/portals/{p}/model`.
pub(crate) async fn editor(me: SignedIn, path: web::Path<i64>) -> Result<HttpResponse, PageError> {
    let ctx = PortalContext::load(&me, path.into_inner(), "model").await?;
    let active = ember_core::store::models::active(&me.tenancy.pool, ctx.portal)
        .await
        .map_err(PageError::database)?;
    let (version, document, version_note) = match active {
        Some((version, document)) => (
            version,
            document,
            "The active model. Saving makes your draft a new version and rescores every contact."
                .to_owned(),
        ),
        None => (
            0,
            serde_json::to_value(Model::default_model())
                .map_err(|e| PageError::Internal(e.into()))?,
            "Ember's starter model (this portal has not saved its own yet).".to_owned(),
        ),
    };
    let page = EditorPage {
        chrome: me.chrome(format!("Model · {}", ctx.head.name), "portal"),
        read_only: ctx.role < Role::Editor,
        version,
        version_note,
        document_json: script_json(&document),
        head: ctx.head,
    };
    Ok(render(StatusCode::OK, &page))
}

pub(crate) struct VersionRow {
    pub version: i32,
    pub created_by: String,
    pub created_at: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "versions.html")]
struct VersionsPage {
    chrome: Chrome,
    head: PortalHead,
    can_edit: bool,
    active_version: i32,
    versions: Vec<VersionRow>,
    /// Progress of the latest rescore, while one runs.
    rescore: Option<String>,
}

/// `GET /app/portals/{p}/model/versions`: who saved each version and when, which is active.
pub(crate) async fn versions(
    me: SignedIn,
    path: web::Path<i64>,
    done: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let ctx = PortalContext::load(&me, path.into_inner(), "versions").await?;
    let pool = &me.tenancy.pool;
    let stored = models::list_versions(pool, ctx.portal)
        .await
        .map_err(PageError::database)?;
    let active_version = models::active_version(pool, ctx.portal)
        .await
        .map_err(PageError::database)?
        .unwrap_or(0);
    let mut versions: Vec<VersionRow> = stored
        .into_iter()
        .map(|v| VersionRow {
            active: v.version == active_version,
            version: v.version,
            created_by: v.created_by,
            created_at: when(Some(v.created_at)),
        })
        .collect();
    if versions.is_empty() {
        versions.push(VersionRow {
            version: 0,
            created_by: "Ember".into(),
            created_at: "built in".into(),
            active: true,
        });
    }
    let rescore = models::latest_rescore(pool, ctx.portal)
        .await
        .map_err(PageError::database)?
        .filter(|(_, _, _, finished)| finished.is_none())
        .map(|(version, done, total, _)| match total {
            Some(total) => format!("v{version}: {done} of {total} contacts done"),
            None => format!("v{version}: starting"),
        });
    let page = VersionsPage {
        chrome: me
            .chrome(format!("Versions · {}", ctx.head.name), "portal")
            .with_notice(done.notice()),
        can_edit: ctx.role >= Role::Editor,
        active_version,
        versions,
        rescore,
        head: ctx.head,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /app/portals/{p}/model/versions/{v}/activate` (editor): roll back or forward.
pub(crate) async fn activate(
    me: SignedIn,
    path: web::Path<(i64, i32)>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let (portal, version) = path.into_inner();
    let ctx = PortalContext::load(&me, portal, "versions").await?;
    ctx.require(Role::Editor)?;
    let pool = &me.tenancy.pool;
    models::get_version(pool, ctx.portal, version)
        .await
        .map_err(PageError::database)?
        .ok_or(PageError::NotFound)?;
    models::activate(pool, ctx.portal, version)
        .await
        .map_err(PageError::database)?;
    tracing::info!(
        portal_id = portal,
        version,
        person_id = me.person.person_id,
        "Model version activated from the console."
    );
    Ok(see_other(&format!(
        "/app/portals/{portal}/model/versions?done=activated"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_its_element() {
        let value = serde_json::json!({ "name": "</script><!-- & more" });
        let text = script_json(&value);
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}

//! `/admin/portals/{portal}/model(s)...`: a portal's scoring model versions. Reading, validating
//! and previewing need any role; saving a version and activating one (roll back or forward)
//! need the editor role, and both queue a background rescore of the portal's contacts.
//!
//! Bodies are model documents in JSON (`ember_core::scoring::Model`). An invalid one is answered
//! 422 with every problem at once, each with its path as the model validation reports it
//! (`engagement[3].points`), and the warnings found alongside.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use chrono::{DateTime, Utc};
use ember_core::domain::PortalId;
use ember_core::domain::Role;
use ember_core::scoring::{CompiledModel, Model, ValidationErrors, ValidationIssue};
use ember_core::store::{console, models};
use serde::Serialize;
use utoipa::ToSchema;

use super::db;
use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::scope::{portal_role, require};
use crate::state::Tenancy;

/// Who "created" version 0, the built-in default model.
const BUILT_IN: &str = "Ember (built-in default model)";

/// One problem of a model document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Issue {
    /// Where, e.g. `engagement[3].points`; empty for the whole document.
    #[schema(example = "engagement[3].points")]
    path: String,
    #[schema(example = "expected a number")]
    message: String,
}

impl From<&ValidationIssue> for Issue {
    fn from(i: &ValidationIssue) -> Self {
        Self {
            path: i.path.clone(),
            message: i.message.clone(),
        }
    }
}

fn issues(list: &[ValidationIssue]) -> Vec<Issue> {
    list.iter().map(Issue::from).collect()
}

/// The 422 body of an invalid model.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvalidModel {
    #[schema(example = "invalid_model")]
    error: &'static str,
    #[schema(example = "2 errors")]
    message: String,
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
}

/// A handler's failure: an [`ApiError`], or a model document that is not valid (422).
pub(crate) enum ModelFailure {
    Api(ApiError),
    Invalid(ValidationErrors),
}

impl From<ApiError> for ModelFailure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl fmt::Debug for ModelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(e) => fmt::Debug::fmt(e, f),
            Self::Invalid(e) => write!(f, "422 invalid_model: {e}"),
        }
    }
}

impl fmt::Display for ModelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(e) => fmt::Display::fmt(e, f),
            Self::Invalid(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl ResponseError for ModelFailure {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Api(e) => e.status,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Api(e) => e.error_response(),
            Self::Invalid(v) => {
                let n = v.errors.len();
                HttpResponse::UnprocessableEntity().json(InvalidModel {
                    error: "invalid_model",
                    message: format!("{n} error{}", if n == 1 { "" } else { "s" }),
                    errors: issues(&v.errors),
                    warnings: issues(&v.warnings),
                })
            }
        }
    }
}

/// Reads, validates and compiles a model document sent as JSON.
fn compile(body: &[u8]) -> Result<CompiledModel, ModelFailure> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ModelFailure::Invalid(ValidationErrors {
            errors: vec![ValidationIssue::new(
                "",
                format!("the body is not UTF-8 text: {e}"),
            )],
            warnings: Vec::new(),
        })
    })?;
    Model::from_json_str(text)
        .and_then(|m| m.validate())
        .map_err(ModelFailure::Invalid)
}

/// The portal's active model, compiled, with its version (0: the built-in default).
pub(crate) async fn active_model(
    t: &Tenancy,
    portal: PortalId,
) -> Result<(i32, CompiledModel), ApiError> {
    let (version, model) = match models::active(&t.pool, portal).await.map_err(db)? {
        None => (0, Model::default_model()),
        Some((version, document)) => {
            let model: Model = serde_json::from_value(document).map_err(|e| {
                ApiError::internal(anyhow::anyhow!(
                    "stored model version {version} of portal {portal} is unreadable: {e}"
                ))
            })?;
            (version, model)
        }
    };
    let compiled = model.validate().map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "stored model version {version} of portal {portal} is invalid: {e}"
        ))
    })?;
    Ok((version, compiled))
}

fn unknown_version(version: i32) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("this portal has no model version {version}"),
    )
}

/// One version in the history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionView {
    version: i32,
    /// Who saved it: a person's e-mail and id (or the tool that did).
    created_by: String,
    /// `null` for version 0, the built-in model.
    created_at: Option<DateTime<Utc>>,
    active: bool,
}

/// `GET .../models`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionList {
    active_version: i32,
    /// Newest first; version 0 (the built-in model) is listed when no stored version is active.
    versions: Vec<VersionView>,
}

/// A version with its document.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelView {
    version: i32,
    created_by: String,
    created_at: Option<DateTime<Utc>>,
    active: bool,
    /// The model document (see `scoring/data/model.schema.json`).
    #[schema(value_type = Object)]
    document: serde_json::Value,
}

fn built_in(active: bool) -> Result<ModelView, ApiError> {
    Ok(ModelView {
        version: 0,
        created_by: BUILT_IN.into(),
        created_at: None,
        active,
        document: serde_json::to_value(Model::default_model())
            .map_err(|e| ApiError::internal(e.into()))?,
    })
}

async fn version_view(
    t: &Tenancy,
    portal: PortalId,
    version: i32,
    active: Option<i32>,
) -> Result<ModelView, ApiError> {
    if version == 0 {
        return built_in(active.is_none());
    }
    let stored = models::get_version(&t.pool, portal, version)
        .await
        .map_err(db)?
        .ok_or_else(|| unknown_version(version))?;
    Ok(ModelView {
        version,
        created_by: stored.info.created_by,
        created_at: Some(stored.info.created_at),
        active: active == Some(version),
        document: stored.document,
    })
}

/// The model versions of a portal.
#[utoipa::path(get, path = "/admin/portals/{portal}/models", tag = "models",
    operation_id = "list_model_versions",
    params(("portal" = i64, Path, description = "HubSpot portal id")),
    responses((status = 200, body = VersionList), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn list(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (portal, _, _) = portal_role(&t, person, path.into_inner()).await?;
    let active = models::active_version(&t.pool, portal).await.map_err(db)?;
    let mut versions: Vec<VersionView> = models::list_versions(&t.pool, portal)
        .await
        .map_err(db)?
        .into_iter()
        .map(|v| VersionView {
            active: active == Some(v.version),
            version: v.version,
            created_by: v.created_by,
            created_at: Some(v.created_at),
        })
        .collect();
    if active.is_none() {
        versions.push(VersionView {
            version: 0,
            created_by: BUILT_IN.into(),
            created_at: None,
            active: true,
        });
    }
    Ok(HttpResponse::Ok().json(VersionList {
        active_version: active.unwrap_or(0),
        versions,
    }))
}

/// The active model of a portal.
#[utoipa::path(get, path = "/admin/portals/{portal}/model", tag = "models",
    operation_id = "get_active_model",
    params(("portal" = i64, Path, description = "HubSpot portal id")),
    responses((status = 200, body = ModelView), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn active(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (portal, _, _) = portal_role(&t, person, path.into_inner()).await?;
    let active = models::active_version(&t.pool, portal).await.map_err(db)?;
    let view = version_view(&t, portal, active.unwrap_or(0), active).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// One model version of a portal (0: the built-in default model).
#[utoipa::path(get, path = "/admin/portals/{portal}/models/{version}", tag = "models",
    operation_id = "get_model_version",
    params(("portal" = i64, Path, description = "HubSpot portal id"),
           ("version" = i32, Path, description = "model version")),
    responses((status = 200, body = ModelView), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn version(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<(i64, i32)>,
) -> Result<HttpResponse, ApiError> {
    let (portal, version) = path.into_inner();
    let (portal, _, _) = portal_role(&t, person, portal).await?;
    if version < 0 {
        return Err(unknown_version(version));
    }
    let active = models::active_version(&t.pool, portal).await.map_err(db)?;
    Ok(HttpResponse::Ok().json(version_view(&t, portal, version, active).await?))
}

/// `POST .../models/validate`: a valid model.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Validated {
    valid: bool,
    warnings: Vec<Issue>,
}

/// Validates a model document without saving it.
#[utoipa::path(post, path = "/admin/portals/{portal}/models/validate", tag = "models",
    operation_id = "validate_model",
    params(("portal" = i64, Path, description = "HubSpot portal id")),
    request_body(content = Object, description = "a model document", content_type = "application/json"),
    responses((status = 200, body = Validated), (status = 422, body = InvalidModel),
              (status = 404, body = crate::error::ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(crate) async fn validate(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ModelFailure> {
    portal_role(&t, person, path.into_inner()).await?;
    let compiled = compile(&body)?;
    Ok(HttpResponse::Ok().json(Validated {
        valid: true,
        warnings: issues(compiled.warnings()),
    }))
}

/// Scores a sample of the portal's contacts with the active model and a draft, now.
#[utoipa::path(post, path = "/admin/portals/{portal}/models/preview", tag = "models",
    operation_id = "preview_model",
    params(("portal" = i64, Path, description = "HubSpot portal id")),
    request_body(content = Object, description = "a draft model document", content_type = "application/json"),
    responses((status = 200, body = console::Preview), (status = 422, body = InvalidModel),
              (status = 404, body = crate::error::ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(crate) async fn preview(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ModelFailure> {
    let (portal, _, _) = portal_role(&t, person, path.into_inner()).await?;
    let draft = compile(&body)?;
    let (_, current) = active_model(&t, portal).await?;
    let sample = console::sample(&t.pool, portal, console::PREVIEW_SAMPLE)
        .await
        .map_err(db)?;
    Ok(HttpResponse::Ok().json(console::preview(&current, &draft, &sample, Utc::now())))
}

/// `POST .../models` and `.../activate`: what changed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Saved {
    version: i32,
    #[schema(example = "queued")]
    rescore: &'static str,
}

/// `POST .../models/{version}/activate`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Activated {
    active_version: i32,
    #[schema(example = "queued")]
    rescore: &'static str,
}

/// Saves a model document as the portal's next version and makes it active (editor).
#[utoipa::path(post, path = "/admin/portals/{portal}/models", tag = "models",
    operation_id = "save_model",
    params(("portal" = i64, Path, description = "HubSpot portal id")),
    request_body(content = Object, description = "a model document", content_type = "application/json"),
    responses((status = 201, body = Saved), (status = 422, body = InvalidModel),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(crate) async fn save(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ModelFailure> {
    let (portal, _, role) = portal_role(&t, person, path.into_inner()).await?;
    require(role, Role::Editor)?;
    let compiled = compile(&body)?;
    let created_by = console::person_label(&t.pool, person.person_id)
        .await
        .map_err(db)?;
    let version = models::insert_and_activate(&t.pool, portal, compiled.model(), &created_by)
        .await
        .map_err(db)?
        .ok_or_else(crate::scope::not_found)?;
    tracing::info!(portal_id = %portal, version, person_id = person.person_id, "Model version saved and activated.");
    Ok(HttpResponse::Created().json(Saved {
        version,
        rescore: "queued",
    }))
}

/// Makes a stored version the active one again (roll back or forward; editor).
#[utoipa::path(post, path = "/admin/portals/{portal}/models/{version}/activate", tag = "models",
    operation_id = "activate_model_version",
    params(("portal" = i64, Path, description = "HubSpot portal id"),
           ("version" = i32, Path, description = "a stored model version (1 or more)")),
    responses((status = 200, body = Activated), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(crate) async fn activate(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<(i64, i32)>,
) -> Result<HttpResponse, ApiError> {
    let (portal, version) = path.into_inner();
    let (portal, _, role) = portal_role(&t, person, portal).await?;
    require(role, Role::Editor)?;
    if version == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "version 0 is the built-in model and cannot be activated; save it as a new version instead",
        ));
    }
    models::get_version(&t.pool, portal, version)
        .await
        .map_err(db)?
        .ok_or_else(|| unknown_version(version))?;
    models::activate(&t.pool, portal, version)
        .await
        .map_err(db)?;
    tracing::info!(portal_id = %portal, version, person_id = person.person_id, "Model version activated.");
    Ok(HttpResponse::Ok().json(Activated {
        active_version: version,
        rescore: "queued",
    }))
}

//! The OpenAPI document of the admin JSON API, generated from the handlers' `#[utoipa::path]`
//! annotations and served at `GET /api/openapi.json` (public: it describes routes, never data).
//!
//! Every `/admin` route registered in `crate::routes::admin::configure` is listed in
//! [`AdminApi`]'s `paths(...)`; `tests/tests/it/admin_openapi.rs` calls every documented operation,
//! so a route documented but not served (or served but broken) fails the build's tests.

use std::sync::OnceLock;

use actix_web::{HttpResponse, get, http::header};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::admin::{
    agencies, dead_letters, health, invites, members, models, portals, scores,
};
use crate::session::{CSRF_HEADER, SESSION_COOKIE};

/// The admin API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ember admin API",
        description = "Agencies, portals, scoring models and scores, scoped to the signed-in \
            person's agencies (anything outside them is 404). Sign in with HubSpot \
            (`/oauth/login`) for the session cookie; every change also carries the session's \
            CSRF token (`csrf_token` of `GET /admin/me`) in `X-CSRF-Token`. Roles: viewer < \
            editor < owner; changes need editor (team changes need owner), else 403."
    ),
    paths(
        // Me, agencies and portals.
        agencies::me,
        agencies::portals,
        agencies::add_private_portal,
        invites::create,
        invites::list,
        invites::revoke,
        portals::list,
        portals::get,
        portals::uninstall,
        portals::webhook_secret,
        // Scoring models.
        models::list,
        models::save,
        models::active,
        models::version,
        models::validate,
        models::preview,
        models::activate,
        // Scores.
        scores::scores,
        scores::contacts,
        scores::contact,
        // Operations and team.
        health::get,
        dead_letters::list,
        dead_letters::replay,
        dead_letters::rejections,
        members::list,
        members::set_role,
        members::remove,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&SessionAuth, &OperationSecurity),
    security(("session" = [])),
    tags(
        (name = "agencies", description = "The signed-in person, their agencies and invitations"),
        (name = "portals", description = "HubSpot portals of the person's agencies"),
        (name = "models", description = "Scoring model versions: validate, preview, save, roll back"),
        (name = "scores", description = "Score distribution, top and rising contacts, explanations"),
        (name = "operations", description = "Portal health, dead letters and replay, recent intake rejections"),
        (name = "team", description = "An agency's members and their roles"),
    )
)]
pub struct AdminApi;

/// Declares the two credentials: the session cookie, and the CSRF header of changes.
struct SessionAuth;

impl Modify for SessionAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The console session, set by signing in with HubSpot.",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                CSRF_HEADER,
                "The session's CSRF token (`csrf_token` of `GET /admin/me`); every change needs it.",
            ))),
        );
    }
}

/// Gives every operation its own security requirement rather than leaving it to the document's
/// default: reads need the session cookie, changes need the session and the CSRF header. A
/// client generator or a checker such as schemathesis then sends the right credentials to each.
struct OperationSecurity;

impl Modify for OperationSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::SecurityRequirement;
        let none: [&str; 0] = [];
        let read = || vec![SecurityRequirement::new("session", none)];
        let change = || vec![SecurityRequirement::new("session", none).add("csrf", none)];
        for item in openapi.paths.paths.values_mut() {
            let reads = [&mut item.get, &mut item.head, &mut item.options];
            for op in reads.into_iter().flatten() {
                op.security = Some(read());
            }
            let changes = [
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in changes.into_iter().flatten() {
                op.security = Some(change());
            }
        }
    }
}

/// The document as JSON, built once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        // Serializing a document of plain maps and strings cannot fail.
        AdminApi::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| unreachable!("the OpenAPI document serializes: {e}"))
    })
}

/// `GET /api/openapi.json`.
#[get("/api/openapi.json")]
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(document_json())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_operation_is_an_admin_route_with_its_own_operation_id() {
        let doc: serde_json::Value = serde_json::from_str(document_json()).unwrap();
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            assert!(path.starts_with("/admin/"), "{path}");
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(!id.is_empty(), "{method} {path}");
                assert!(ids.insert(id.to_owned()), "operationId {id} used twice");
                let expected = if method == "get" {
                    serde_json::json!([{"session": []}])
                } else {
                    serde_json::json!([{"session": [], "csrf": []}])
                };
                assert_eq!(
                    op["security"], expected,
                    "{method} {path} declares its security"
                );
            }
        }
    }
}

//! Single-record contact endpoints: GET, PATCH (both with `idProperty`, both following
//! merged ids), create, DELETE, list, merge and GDPR delete (docs/hubspot.md E.2, E.4).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ember_hubspot::wire::crm::{
    CollectionResponse, NextPage, Paging, PublicMergeInput, SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
};
use serde::Deserialize;

use super::errors;
use super::gate::{Limit, admit, admit_json};
use super::query::Query;
use crate::state::{ChangeSource, Shared, WriteError};

pub(crate) const READ: &[&str] = &["crm.objects.contacts.read", "crm.objects.contacts.write"];
pub(crate) const WRITE: &[&str] = &["crm.objects.contacts.write"];

pub(crate) fn write_error(e: WriteError) -> HttpResponse {
    match e {
        WriteError::Conflict { existing, .. } => errors::respond(
            StatusCode::CONFLICT,
            &errors::body(
                "CONFLICT",
                format!("Contact already exists. Existing ID: {existing}"),
            ),
        ),
    }
}

pub(crate) async fn get_one(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let caller = match admit(&shared, &req, READ, Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = Query::parse(req.query_string());
    let w = shared.world();
    let Some(p) = w.portals.get(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let archived = q.flag("archived");
    let id = if archived {
        path.parse::<u64>()
            .ok()
            .filter(|id| p.contacts.get(id).is_some_and(|c| c.archived))
    } else {
        p.lookup(&path, q.get("idProperty"), true)
    };
    match id.and_then(|id| p.contacts.get(&id)) {
        Some(c) => caller.json(
            StatusCode::OK,
            &p.record(c, &q.list("properties"), &q.list("propertiesWithHistory")),
        ),
        None => caller.finish(errors::not_found()),
    }
}

pub(crate) async fn patch_one(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (caller, input) =
        match admit_json::<SimplePublicObjectInput>(&shared, &req, &body, WRITE, Limit::Standard)
            .await
        {
            Ok(admitted) => admitted,
            Err(r) => return r,
        };
    let q = Query::parse(req.query_string());
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let app_id = w.app.app_id;
    let Some(p) = w.portals.get_mut(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let Some(id) = p.lookup(&path, q.get("idProperty"), true) else {
        return caller.finish(errors::not_found());
    };
    let values = match p.validate(&input.properties, false) {
        Ok(v) => v,
        Err(results) => return caller.finish(errors::property_invalid(&results)),
    };
    let broken = p.broken_rules(&values);
    if !broken.is_empty() {
        return caller.finish(errors::rules_broken(&broken));
    }
    let mut names: Vec<String> = values.iter().map(|(k, _)| k.clone()).collect();
    let changes = match p.update_contact(id, values, now) {
        Ok(c) => c,
        Err(e) => return caller.finish(write_error(e)),
    };
    names.extend(crate::state::contacts_default_properties());
    let record = p.contacts.get(&id).map(|c| p.record(c, &names, &[]));
    let portal = caller.portal;
    w.emit(portal, changes, &ChangeSource::api(app_id), now);
    match record {
        Some(r) => caller.json(StatusCode::OK, &r),
        None => caller.finish(errors::not_found()),
    }
}

pub(crate) async fn create_one(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (caller, input) = match admit_json::<SimplePublicObjectInputForCreate>(
        &shared,
        &req,
        &body,
        WRITE,
        Limit::Standard,
    )
    .await
    {
        Ok(admitted) => admitted,
        Err(r) => return r,
    };
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let app_id = w.app.app_id;
    let new_id = w.next_object_id();
    let Some(p) = w.portals.get_mut(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let values = match p.validate(&input.properties, false) {
        Ok(v) => v,
        Err(results) => return caller.finish(errors::property_invalid(&results)),
    };
    let broken = p.broken_rules(&values);
    if !broken.is_empty() {
        return caller.finish(errors::rules_broken(&broken));
    }
    let mut names: Vec<String> = values.iter().map(|(k, _)| k.clone()).collect();
    let (id, changes) = match p.create_contact(new_id, values, now) {
        Ok(v) => v,
        Err(e) => return caller.finish(write_error(e)),
    };
    names.extend(crate::state::contacts_default_properties());
    let record = p.contacts.get(&id).map(|c| p.record(c, &names, &[]));
    let portal = caller.portal;
    w.emit(portal, changes, &ChangeSource::api(app_id), now);
    match record {
        Some(r) => caller.json(StatusCode::CREATED, &r),
        None => caller.finish(errors::not_found()),
    }
}

pub(crate) async fn delete_one(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let caller = match admit(&shared, &req, WRITE, Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let app_id = w.app.app_id;
    let changes = match w.portals.get_mut(&caller.portal) {
        Some(p) => match p.lookup(&path, None, false) {
            Some(id) => p.archive_contact(id, now),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    w.emit(caller.portal, changes, &ChangeSource::api(app_id), now);
    caller.respond(StatusCode::NO_CONTENT).finish()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GdprDeleteInput {
    object_id: String,
    #[serde(default)]
    id_property: Option<String>,
}

pub(crate) async fn gdpr_delete(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (caller, input) =
        match admit_json::<GdprDeleteInput>(&shared, &req, &body, WRITE, Limit::Standard).await {
            Ok(admitted) => admitted,
            Err(r) => return r,
        };
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let app_id = w.app.app_id;
    let Some(p) = w.portals.get_mut(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let Some(id) = p.lookup(&input.object_id, input.id_property.as_deref(), true) else {
        return caller.finish(errors::not_found());
    };
    let changes = p.privacy_delete(id, now);
    w.emit(caller.portal, changes, &ChangeSource::api(app_id), now);
    caller.respond(StatusCode::NO_CONTENT).finish()
}

pub(crate) async fn merge(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (caller, input) =
        match admit_json::<PublicMergeInput>(&shared, &req, &body, WRITE, Limit::Standard).await {
            Ok(admitted) => admitted,
            Err(r) => return r,
        };
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let app_id = w.app.app_id;
    let new_id = w.next_object_id();
    let Some(p) = w.portals.get_mut(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let (Some(a), Some(b)) = (
        p.lookup(&input.primary_object_id, None, true),
        p.lookup(&input.object_id_to_merge, None, true),
    ) else {
        return caller.finish(errors::not_found());
    };
    if a == b {
        return caller.finish(errors::validation("Cannot merge a record with itself."));
    }
    let Some(changes) = p.merge_contacts(a, b, new_id, now) else {
        return caller.finish(errors::not_found());
    };
    let record = p.contacts.get(&new_id).map(|c| p.record(c, &[], &[]));
    w.emit(caller.portal, changes, &ChangeSource::api(app_id), now);
    match record {
        Some(r) => caller.json(StatusCode::OK, &r),
        None => caller.finish(errors::not_found()),
    }
}

/// `GET /crm/v3/objects/contacts`: pages of records in id order (SPEC forward paging).
pub(crate) async fn list(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let caller = match admit(&shared, &req, READ, Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = Query::parse(req.query_string());
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10);
    if limit == 0 || limit > 100 {
        return caller.finish(errors::validation("limit must be between 1 and 100"));
    }
    let after: u64 = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let archived = q.flag("archived");
    let props = q.list("properties");
    let w = shared.world();
    let Some(p) = w.portals.get(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let mut page: Vec<_> = p
        .contacts
        .range(after.saturating_add(u64::from(after > 0))..)
        .map(|(_, c)| c)
        .filter(|c| c.archived == archived)
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let paging = more.then(|| Paging {
        next: page.last().map(|c| NextPage {
            after: c.id.to_string(),
            link: None,
        }),
        prev: None,
    });
    let results: Vec<_> = page.iter().map(|c| p.record(c, &props, &[])).collect();
    caller.json(StatusCode::OK, &CollectionResponse { results, paging })
}

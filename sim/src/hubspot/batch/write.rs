//! Batch writes: update, upsert and create, in two passes (check every row, then write), so a
//! request that fails as a whole writes nothing.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ember_hubspot::wire::crm::{
    BatchCreateInput, BatchUpdateInput, SimplePublicObject, SimplePublicUpsertObject,
};

use super::{MAX_BATCH, answer, ctx, duplicates, not_found_row, too_many};
use crate::hubspot::contacts::{WRITE, write_error};
use crate::hubspot::errors;
use crate::hubspot::gate::{Limit, admit_json};
use crate::state::{ChangeSource, Shared, WriteError, contacts_default_properties};

enum Kind {
    Update,
    Upsert,
}

async fn update_or_upsert(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
    kind: Kind,
) -> HttpResponse {
    let (caller, input) =
        match admit_json::<BatchUpdateInput>(&shared, &req, &body, WRITE, Limit::Standard).await {
            Ok(admitted) => admitted,
            Err(r) => return r,
        };
    if input.inputs.len() > MAX_BATCH {
        return caller.finish(too_many(input.inputs.len()));
    }
    if let Some(r) = duplicates(input.inputs.iter().map(|i| i.id.as_str())) {
        return caller.finish(r);
    }
    let traced = !input.inputs.is_empty()
        && input
            .inputs
            .iter()
            .all(|i| i.object_write_trace_id.is_some());
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let app_id = w.app.app_id;
    let Some(p) = w.portals.get(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    // docs/hubspot.md E.3: batch/update by a non-unique (or email) idProperty is refused.
    if matches!(kind, Kind::Update)
        && let Some(bad) = input.inputs.iter().find(|i| {
            i.id_property
                .as_deref()
                .is_some_and(|x| x != "hs_object_id")
        })
    {
        let prop = bad.id_property.clone().unwrap_or_default();
        return caller.finish(errors::validation(format!(
            "Unable to perform update/upsert by non-unique 0-1 property {prop}"
        )));
    }
    // Pass 1: resolve and validate, without writing.
    let mut plan = Vec::new();
    let mut errs = Vec::new();
    let mut missing = (Vec::new(), Vec::new());
    for row in &input.inputs {
        let target = p.lookup(&row.id, row.id_property.as_deref(), false);
        let trace = row.object_write_trace_id.clone();
        let creatable = matches!(kind, Kind::Upsert) && row.id_property.as_deref() == Some("email");
        if target.is_none() && !creatable {
            missing.0.push(row.id.clone());
            missing.1.extend(trace);
            continue;
        }
        let mut props = row.properties.clone();
        if target.is_none() && creatable {
            props
                .entry("email".into())
                .or_insert_with(|| row.id.clone());
        }
        match p.validate(&props, false) {
            Ok(values) => {
                // docs/hubspot.md P3: an admin rule fails only the row that breaks it.
                let broken = p.broken_rules(&values);
                if broken.is_empty() {
                    plan.push((target, values, trace, row.id.clone()));
                } else {
                    errs.extend(
                        broken
                            .into_iter()
                            .map(|rule| errors::rule_row(rule, &row.id, trace.as_deref())),
                    );
                }
            }
            Err(results) if traced => errs.push(errors::row(
                "VALIDATION_ERROR",
                errors::property_message(&results),
                ctx(&[("objectWriteTraceId", trace.into_iter().collect())]),
            )),
            Err(results) => return caller.finish(errors::property_invalid(&results)),
        }
    }
    if !missing.0.is_empty() {
        errs.push(not_found_row(missing.0, missing.1));
    }
    // Pass 2: write.
    let mut results: Vec<SimplePublicUpsertObject> = Vec::new();
    let mut all_changes = Vec::new();
    for (target, values, trace, id_in) in plan {
        let mut names: Vec<String> = values.iter().map(|(k, _)| k.clone()).collect();
        names.extend(contacts_default_properties());
        let new_id = if target.is_none() {
            Some(w.next_object_id())
        } else {
            None
        };
        let Some(p) = w.portals.get_mut(&caller.portal) else {
            break;
        };
        let outcome = match (target, new_id) {
            (Some(id), _) => p.update_contact(id, values, now).map(|c| (id, false, c)),
            (None, Some(new_id)) => p
                .create_contact(new_id, values, now)
                .map(|(id, c)| (id, true, c)),
            (None, None) => continue,
        };
        match outcome {
            Ok((id, is_new, changes)) => {
                all_changes.extend(changes);
                if let Some(c) = p.contacts.get(&id) {
                    let o = p.record(c, &names, &[]);
                    results.push(SimplePublicUpsertObject {
                        id: o.id,
                        new: is_new,
                        properties: o.properties,
                        created_at: o.created_at,
                        updated_at: o.updated_at,
                        archived: o.archived,
                        archived_at: o.archived_at,
                        properties_with_history: None,
                        object_write_trace_id: trace,
                        url: None,
                        warnings: None,
                    });
                }
            }
            Err(WriteError::Conflict { existing, email }) if traced => errs.push(errors::row(
                "CONFLICT",
                format!("A contact with email {email} already exists. Existing ID: {existing}"),
                ctx(&[
                    ("objectWriteTraceId", trace.into_iter().collect()),
                    ("ids", vec![id_in]),
                ]),
            )),
            Err(e) => {
                w.emit(caller.portal, all_changes, &ChangeSource::api(app_id), now);
                return caller.finish(write_error(e));
            }
        }
    }
    w.emit(caller.portal, all_changes, &ChangeSource::api(app_id), now);
    w.answer_order(&mut results);
    drop(w);
    let done = shared.clock.now_ms();
    match kind {
        Kind::Upsert => answer(&caller, StatusCode::OK, results, errs, now, done),
        Kind::Update => {
            let plain: Vec<SimplePublicObject> = results
                .into_iter()
                .map(|u| SimplePublicObject {
                    id: u.id,
                    properties: u.properties,
                    created_at: u.created_at,
                    updated_at: u.updated_at,
                    archived: u.archived,
                    archived_at: u.archived_at,
                    properties_with_history: None,
                    object_write_trace_id: u.object_write_trace_id,
                    url: None,
                    warnings: None,
                    associations: None,
                })
                .collect();
            answer(&caller, StatusCode::OK, plain, errs, now, done)
        }
    }
}

pub(crate) async fn update(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    update_or_upsert(shared, req, body, Kind::Update).await
}

pub(crate) async fn upsert(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    update_or_upsert(shared, req, body, Kind::Upsert).await
}

pub(crate) async fn create(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (caller, input) =
        match admit_json::<BatchCreateInput>(&shared, &req, &body, WRITE, Limit::Standard).await {
            Ok(admitted) => admitted,
            Err(r) => return r,
        };
    if input.inputs.len() > MAX_BATCH {
        return caller.finish(too_many(input.inputs.len()));
    }
    let traced = !input.inputs.is_empty()
        && input
            .inputs
            .iter()
            .all(|i| i.object_write_trace_id.is_some());
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let app_id = w.app.app_id;
    let Some(p) = w.portals.get(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let mut plan = Vec::new();
    let mut errs = Vec::new();
    let mut emails: BTreeMap<String, usize> = BTreeMap::new();
    for row in &input.inputs {
        let trace = row.object_write_trace_id.clone();
        match p.validate(&row.properties, false) {
            Ok(values) => {
                if let Some((_, e)) = values.iter().find(|(k, v)| k == "email" && !v.is_empty()) {
                    *emails.entry(e.to_ascii_lowercase()).or_default() += 1;
                }
                plan.push((values, trace));
            }
            Err(results) if traced => errs.push(errors::row(
                "VALIDATION_ERROR",
                errors::property_message(&results),
                ctx(&[("objectWriteTraceId", trace.into_iter().collect())]),
            )),
            Err(results) => return caller.finish(errors::property_invalid(&results)),
        }
    }
    if let Some((email, _)) = emails.iter().find(|(_, n)| **n > 1) {
        return caller.finish(errors::validation(format!(
            "Duplicate emails found in batch input: [{email}]"
        )));
    }
    let mut results = Vec::new();
    let mut all_changes = Vec::new();
    for (values, trace) in plan {
        let mut names: Vec<String> = values.iter().map(|(k, _)| k.clone()).collect();
        names.extend(contacts_default_properties());
        let new_id = w.next_object_id();
        let Some(p) = w.portals.get_mut(&caller.portal) else {
            break;
        };
        match p.create_contact(new_id, values, now) {
            Ok((id, changes)) => {
                all_changes.extend(changes);
                if let Some(c) = p.contacts.get(&id) {
                    let mut o = p.record(c, &names, &[]);
                    o.object_write_trace_id = trace;
                    results.push(o);
                }
            }
            Err(WriteError::Conflict { existing, email }) if traced => errs.push(errors::row(
                "CONFLICT",
                format!("A contact with email {email} already exists. Existing ID: {existing}"),
                ctx(&[("objectWriteTraceId", trace.into_iter().collect())]),
            )),
            Err(e) => {
                w.emit(caller.portal, all_changes, &ChangeSource::api(app_id), now);
                return caller.finish(write_error(e));
            }
        }
    }
    w.emit(caller.portal, all_changes, &ChangeSource::api(app_id), now);
    w.answer_order(&mut results);
    drop(w);
    answer(
        &caller,
        StatusCode::CREATED,
        results,
        errs,
        now,
        shared.clock.now_ms(),
    )
}

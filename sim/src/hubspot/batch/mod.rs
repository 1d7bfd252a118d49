//! Contact batch endpoints: read, create, update, upsert, archive (docs/hubspot.md E.3).
//!
//! The rules the simulator applies, from docs/hubspot.md and the spec:
//! - more than 100 inputs, or the same id twice: 400 for the whole request;
//! - unknown ids (and merged-away ids: batch endpoints do not follow merges) are one
//!   `OBJECT_NOT_FOUND` row error with `context.ids`, the other rows succeed: 207;
//! - invalid values (unknown or read-only property, bad value) fail the **whole** request
//!   with 400, unless every input carries an `objectWriteTraceId`: then only those rows fail,
//!   each with `context.objectWriteTraceId`, and the answer is 207.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ember_hubspot::wire::crm::{BatchReadInput, BatchResponse, BatchStatus, SimplePublicObject};
use ember_hubspot::wire::error::{ErrorContext, StandardError};

mod write;

pub(crate) use write::{create, update, upsert};

use super::contacts::{READ, WRITE};
use super::errors;
use super::gate::{Caller, Limit, admit, admit_json};
use super::query::{Query, json_body};
use crate::clock::ms_to_datetime;
use crate::state::{ChangeSource, Shared};

/// HubSpot's batch limit.
pub(crate) const MAX_BATCH: usize = 100;

fn too_many(n: usize) -> HttpResponse {
    errors::validation(format!(
        "Batch input size of {n} exceeds the maximum of {MAX_BATCH} inputs."
    ))
}

fn duplicates<'a>(ids: impl Iterator<Item = &'a str>) -> Option<HttpResponse> {
    let mut seen = HashSet::new();
    let dups: Vec<String> = ids
        .filter(|id| !seen.insert(*id))
        .map(String::from)
        .collect();
    if dups.is_empty() {
        return None;
    }
    let b = errors::body(
        "VALIDATION_ERROR",
        format!(
            "Duplicate IDs found in batch input: [{}]. IDs must be unique",
            dups.join(", ")
        ),
    );
    Some(errors::respond(
        StatusCode::BAD_REQUEST,
        &errors::with_context(b, "ids", dups),
    ))
}

fn ctx(pairs: &[(&str, Vec<String>)]) -> ErrorContext {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

fn not_found_row(ids: Vec<String>, traces: Vec<String>) -> StandardError {
    errors::row(
        "OBJECT_NOT_FOUND",
        errors::CONTACTS_NOT_FOUND,
        ctx(&[("ids", ids), ("objectWriteTraceId", traces)]),
    )
}

fn answer<T: serde::Serialize>(
    caller: &Caller,
    ok: StatusCode,
    results: Vec<T>,
    errs: Vec<StandardError>,
    started: i64,
    now: i64,
) -> HttpResponse {
    let status = if errs.is_empty() {
        ok
    } else {
        StatusCode::MULTI_STATUS
    };
    let body = BatchResponse {
        status: BatchStatus::Complete,
        results,
        started_at: ms_to_datetime(started),
        completed_at: ms_to_datetime(now),
        requested_at: None,
        links: None,
        num_errors: (!errs.is_empty()).then_some(errs.len() as u32),
        errors: (!errs.is_empty()).then_some(errs),
    };
    caller.json(status, &body)
}

pub(crate) async fn read(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (caller, input) =
        match admit_json::<BatchReadInput>(&shared, &req, &body, READ, Limit::Standard).await {
            Ok(admitted) => admitted,
            Err(r) => return r,
        };
    if input.inputs.len() > MAX_BATCH {
        return caller.finish(too_many(input.inputs.len()));
    }
    let archived = Query::parse(req.query_string()).flag("archived");
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let Some(p) = w.portals.get(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let mut results: Vec<SimplePublicObject> = Vec::new();
    let mut missing = Vec::new();
    let mut seen = HashSet::new();
    for i in &input.inputs {
        if !seen.insert(i.id.as_str()) {
            continue;
        }
        let found = if archived {
            i.id.parse::<u64>()
                .ok()
                .and_then(|id| p.contacts.get(&id))
                .filter(|c| c.archived)
                .map(|c| c.id)
        } else {
            p.lookup(&i.id, input.id_property.as_deref(), false)
        };
        match found.and_then(|id| p.contacts.get(&id)) {
            Some(c) => results.push(p.record(c, &input.properties, &input.properties_with_history)),
            None => missing.push(i.id.clone()),
        }
    }
    let errs = if missing.is_empty() {
        Vec::new()
    } else {
        vec![not_found_row(missing, Vec::new())]
    };
    w.answer_order(&mut results);
    drop(w);
    answer(
        &caller,
        StatusCode::OK,
        results,
        errs,
        now,
        shared.clock.now_ms(),
    )
}

pub(crate) async fn archive(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match admit(&shared, &req, WRITE, Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let input: ember_hubspot::wire::crm::BatchArchiveInput = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return caller.finish(r),
    };
    if input.inputs.len() > MAX_BATCH {
        return caller.finish(too_many(input.inputs.len()));
    }
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let app_id = w.app.app_id;
    let mut changes = Vec::new();
    if let Some(p) = w.portals.get_mut(&caller.portal) {
        for i in &input.inputs {
            if let Some(id) = p.lookup(&i.id, None, false) {
                changes.extend(p.archive_contact(id, now));
            }
        }
    }
    w.emit(caller.portal, changes, &ChangeSource::api(app_id), now);
    caller.respond(StatusCode::NO_CONTENT).finish()
}

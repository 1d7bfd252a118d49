//! Property definitions and groups for contacts (docs/hubspot.md F): list, read one, create (409 on
//! a duplicate name), the same for groups, and batch create, read and archive.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ember_hubspot::wire::crm::{BatchResponse, BatchStatus};
use ember_hubspot::wire::error::{ErrorContext, StandardError};
use ember_hubspot::wire::properties::{
    CollectionNoPaging, Property, PropertyCreate, PropertyGroup, PropertyGroupCreate,
    PropertyModificationMetadata,
};

use super::errors;
use super::gate::{Caller, Limit, admit};
use super::query::{Query, json_body};
use crate::state::properties::ValueType;
use crate::state::{Portal, Shared};
use serde::Deserialize;

const READ: &[&str] = &[
    "crm.schemas.contacts.read",
    "crm.objects.contacts.read",
    "crm.schemas.contacts.write",
    "crm.objects.contacts.write",
];
const WRITE: &[&str] = &["crm.schemas.contacts.write"];

/// Valid `type` → `fieldType` pairs (docs/hubspot.md F).
fn pair_ok(type_: &str, field: &str) -> bool {
    matches!(
        (type_, field),
        ("bool", "booleancheckbox" | "calculation_equation")
            | (
                "enumeration",
                "booleancheckbox" | "checkbox" | "radio" | "select" | "calculation_equation"
            )
            | ("date" | "datetime", "date")
            | (
                "string",
                "text" | "textarea" | "file" | "html" | "phonenumber" | "calculation_equation"
            )
            | ("phone_number", "phonenumber" | "text")
            | ("number", "number" | "calculation_equation")
    )
}

fn object_type_ok(t: &str) -> bool {
    matches!(t, "contacts" | "contact" | "0-1")
}

/// Admits a call on a properties path of `object` at the standard limit: the caller, or the
/// answer to send (unauthenticated, missing scopes, rate limited, or an unknown object type).
async fn admit_object(
    shared: &Shared,
    req: &HttpRequest,
    any_scope: &[&str],
    object: &str,
) -> Result<Caller, HttpResponse> {
    let caller = admit(shared, req, any_scope, Limit::Standard).await?;
    if !object_type_ok(object) {
        return Err(caller.finish(unknown_object(object)));
    }
    Ok(caller)
}

fn unknown_object(t: &str) -> HttpResponse {
    errors::respond(
        StatusCode::BAD_REQUEST,
        &errors::body(
            "VALIDATION_ERROR",
            format!("Unable to infer object type from: {t}"),
        ),
    )
}

pub(crate) async fn list(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let caller = match admit_object(&shared, &req, READ, &path).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = Query::parse(req.query_string());
    let archived = q.flag("archived");
    let only = q.list("properties");
    let w = shared.world();
    let Some(p) = w.portals.get(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let results: Vec<&Property> = p
        .properties
        .iter()
        .filter(|x| x.archived.unwrap_or(false) == archived)
        .filter(|x| only.is_empty() || only.contains(&x.name))
        .collect();
    caller.json(StatusCode::OK, &CollectionNoPaging { results })
}

pub(crate) async fn get_one(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (object, name) = path.into_inner();
    let caller = match admit_object(&shared, &req, READ, &object).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let w = shared.world();
    match w
        .portals
        .get(&caller.portal)
        .and_then(|p| p.property(&name))
    {
        Some(prop) => caller.json(StatusCode::OK, prop),
        None => caller.finish(errors::respond(
            StatusCode::NOT_FOUND,
            &errors::body(
                "OBJECT_NOT_FOUND",
                format!("Unable to find property with name {name} for object type contacts"),
            ),
        )),
    }
}

pub(crate) async fn create(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match admit_object(&shared, &req, WRITE, &path).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let input: PropertyCreate = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return caller.finish(r),
    };
    let now = shared.clock.now();
    let mut w = shared.world();
    let Some(p) = w.portals.get_mut(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    if let Err(refusal) = creatable(p, &input) {
        return caller.finish(refusal.answer());
    }
    let prop = new_property(input, now);
    p.add_property(prop.clone());
    caller.json(StatusCode::CREATED, &prop)
}

pub(crate) async fn list_groups(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let caller = match admit_object(&shared, &req, READ, &path).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let w = shared.world();
    let Some(p) = w.portals.get(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    caller.json(
        StatusCode::OK,
        &CollectionNoPaging {
            results: p.groups.iter().filter(|g| !g.archived).collect(),
        },
    )
}

pub(crate) async fn get_group(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (object, name) = path.into_inner();
    let caller = match admit_object(&shared, &req, READ, &object).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let w = shared.world();
    match w
        .portals
        .get(&caller.portal)
        .and_then(|p| p.groups.iter().find(|g| g.name == name))
    {
        Some(g) => caller.json(StatusCode::OK, g),
        None => caller.finish(errors::not_found()),
    }
}

pub(crate) async fn create_group(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match admit_object(&shared, &req, WRITE, &path).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let input: PropertyGroupCreate = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return caller.finish(r),
    };
    let mut w = shared.world();
    let Some(p) = w.portals.get_mut(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    if p.groups.iter().any(|g| g.name == input.name) {
        return caller.finish(errors::respond(
            StatusCode::CONFLICT,
            &errors::body(
                "OBJECT_ALREADY_EXISTS",
                format!("A property group named '{}' already exists.", input.name),
            ),
        ));
    }
    let g = PropertyGroup {
        name: input.name,
        label: input.label,
        display_order: input.display_order.unwrap_or(-1),
        archived: false,
    };
    p.groups.push(g.clone());
    caller.json(StatusCode::CREATED, &g)
}

/// Why a property cannot be created.
struct Refusal {
    status: StatusCode,
    category: &'static str,
    message: String,
}

impl Refusal {
    fn answer(&self) -> HttpResponse {
        errors::respond(
            self.status,
            &errors::body(self.category, self.message.clone()),
        )
    }

    fn row(&self, name: &str) -> StandardError {
        errors::row(
            self.category,
            self.message.clone(),
            ErrorContext::from([("name".to_string(), vec![name.to_string()])]),
        )
    }
}

/// Checks a definition against the portal: a valid type pair, a free name, an existing group.
fn creatable(p: &Portal, input: &PropertyCreate) -> Result<(), Refusal> {
    if ValueType::parse(&input.type_).is_none() || !pair_ok(&input.type_, &input.field_type) {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            category: "VALIDATION_ERROR",
            message: format!(
                "Invalid combination of type {} and fieldType {}",
                input.type_, input.field_type
            ),
        });
    }
    if p.property(&input.name).is_some() {
        return Err(Refusal {
            status: StatusCode::CONFLICT,
            category: "OBJECT_ALREADY_EXISTS",
            message: format!("Property named '{}' already exists.", input.name),
        });
    }
    if !p.groups.iter().any(|g| g.name == input.group_name) {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            category: "VALIDATION_ERROR",
            message: format!("Property group {} does not exist.", input.group_name),
        });
    }
    Ok(())
}

/// The definition HubSpot stores for a create request.
fn new_property(input: PropertyCreate, now: chrono::DateTime<chrono::Utc>) -> Property {
    Property {
        name: input.name,
        label: input.label,
        type_: input.type_,
        field_type: input.field_type,
        group_name: input.group_name,
        description: input.description.unwrap_or_default(),
        options: input.options.unwrap_or_default(),
        display_order: Some(input.display_order.unwrap_or(-1)),
        has_unique_value: Some(input.has_unique_value.unwrap_or(false)),
        hidden: Some(input.hidden.unwrap_or(false)),
        form_field: Some(input.form_field.unwrap_or(false)),
        calculated: Some(input.calculation_formula.is_some()),
        external_options: Some(input.external_options.unwrap_or(false)),
        hubspot_defined: None,
        modification_metadata: Some(PropertyModificationMetadata {
            archivable: true,
            read_only_definition: false,
            read_only_value: input.calculation_formula.is_some(),
            read_only_options: Some(false),
        }),
        created_at: Some(now),
        updated_at: Some(now),
        created_user_id: None,
        updated_user_id: None,
        archived: Some(false),
        archived_at: None,
        data_sensitivity: Some(
            input
                .data_sensitivity
                .unwrap_or_else(|| "non_sensitive".into()),
        ),
        sensitive_data_categories: None,
        calculation_formula: input.calculation_formula,
        currency_property_name: input.currency_property_name,
        date_display_hint: None,
        number_display_hint: input.number_display_hint,
        text_display_hint: input.text_display_hint,
        referenced_object_type: input.referenced_object_type,
        show_currency_symbol: input.show_currency_symbol,
    }
}

// ---- batch create, read and archive (SPEC `BatchInputPropertyCreate`,
// `BatchReadInputPropertyName`, `BatchInputPropertyName`, `BatchResponseProperty`) ----

/// HubSpot's batch limit, as on the objects' batch endpoints.
const MAX_BATCH: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchCreateInput {
    inputs: Vec<PropertyCreate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertyName {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BatchReadInput {
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    data_sensitivity: Option<String>,
    inputs: Vec<PropertyName>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchNamesInput {
    inputs: Vec<PropertyName>,
}

/// Registers the properties batch endpoints inside a properties scope (`hubspot::routes` mounts
/// that scope under the dated and the legacy prefix).
pub(crate) fn batch_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/{objectType}/batch/create", web::post().to(batch_create))
        .route("/{objectType}/batch/read", web::post().to(batch_read))
        .route("/{objectType}/batch/archive", web::post().to(batch_archive));
}

fn too_many(n: usize) -> HttpResponse {
    errors::validation(format!(
        "Batch input size of {n} exceeds the maximum of {MAX_BATCH} inputs."
    ))
}

fn batch_answer(
    caller: &super::gate::Caller,
    results: Vec<Property>,
    errs: Vec<StandardError>,
    started: chrono::DateTime<chrono::Utc>,
) -> HttpResponse {
    let status = if errs.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    caller.json(
        status,
        &BatchResponse {
            status: BatchStatus::Complete,
            results,
            started_at: started,
            completed_at: chrono::Utc::now().max(started),
            requested_at: None,
            links: None,
            num_errors: (!errs.is_empty()).then_some(errs.len() as u32),
            errors: (!errs.is_empty()).then_some(errs),
        },
    )
}

/// `POST …/{objectType}/batch/create`: each definition is checked like a single create; the
/// ones that fail are error rows (`context.name`), the others are created: 200, or 207.
async fn batch_create(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match admit_object(&shared, &req, WRITE, &path).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let input: BatchCreateInput = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return caller.finish(r),
    };
    if input.inputs.len() > MAX_BATCH {
        return caller.finish(too_many(input.inputs.len()));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = input.inputs.iter().find(|i| !seen.insert(i.name.as_str())) {
        return caller.finish(errors::validation(format!(
            "Duplicate property name in batch input: {}",
            dup.name
        )));
    }
    let now = shared.clock.now();
    let mut w = shared.world();
    let Some(p) = w.portals.get_mut(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let mut results = Vec::new();
    let mut errs = Vec::new();
    for def in input.inputs {
        match creatable(p, &def) {
            Ok(()) => {
                let prop = new_property(def, now);
                p.add_property(prop.clone());
                results.push(prop);
            }
            Err(refusal) => errs.push(refusal.row(&def.name)),
        }
    }
    w.answer_order(&mut results);
    drop(w);
    batch_answer(&caller, results, errs, now)
}

/// `POST …/{objectType}/batch/read`: the named definitions (archived ones with
/// `archived: true`); unknown names are one `OBJECT_NOT_FOUND` row with `context.name`.
async fn batch_read(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match admit_object(&shared, &req, READ, &path).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let input: BatchReadInput = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return caller.finish(r),
    };
    if input.inputs.len() > MAX_BATCH {
        return caller.finish(too_many(input.inputs.len()));
    }
    if let Some(s) = input.data_sensitivity.as_deref()
        && !matches!(s, "non_sensitive" | "sensitive" | "highly_sensitive")
    {
        return caller.finish(errors::validation(format!(
            "dataSensitivity must be one of non_sensitive, sensitive, highly_sensitive; got {s}"
        )));
    }
    let now = shared.clock.now();
    let mut w = shared.world();
    let Some(p) = w.portals.get(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for PropertyName { name } in input.inputs {
        match p
            .property(&name)
            .filter(|x| x.archived.unwrap_or(false) == input.archived)
        {
            Some(prop) => results.push(prop.clone()),
            None => missing.push(name),
        }
    }
    let errs = if missing.is_empty() {
        Vec::new()
    } else {
        vec![errors::row(
            "OBJECT_NOT_FOUND",
            format!(
                "Unable to find properties with names [{}] for object type contacts",
                missing.join(", ")
            ),
            ErrorContext::from([("name".to_string(), missing)]),
        )]
    };
    w.answer_order(&mut results);
    drop(w);
    batch_answer(&caller, results, errs, now)
}

/// `POST …/{objectType}/batch/archive`: 204. A name the portal does not define, or a
/// property HubSpot does not let be archived, refuses the whole request and archives nothing.
async fn batch_archive(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match admit_object(&shared, &req, WRITE, &path).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let input: BatchNamesInput = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return caller.finish(r),
    };
    if input.inputs.len() > MAX_BATCH {
        return caller.finish(too_many(input.inputs.len()));
    }
    let now = shared.clock.now();
    let mut w = shared.world();
    let Some(p) = w.portals.get_mut(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let mut unknown = Vec::new();
    let mut fixed = Vec::new();
    for PropertyName { name } in &input.inputs {
        match p.property(name) {
            None => unknown.push(name.clone()),
            Some(prop)
                if !prop
                    .modification_metadata
                    .as_ref()
                    .is_some_and(|m| m.archivable) =>
            {
                fixed.push(name.clone())
            }
            Some(_) => {}
        }
    }
    if !unknown.is_empty() {
        return caller.finish(errors::respond(
            StatusCode::NOT_FOUND,
            &errors::with_context(
                errors::body(
                    "OBJECT_NOT_FOUND",
                    format!(
                        "Unable to find properties with names [{}] for object type contacts",
                        unknown.join(", ")
                    ),
                ),
                "name",
                unknown,
            ),
        ));
    }
    if !fixed.is_empty() {
        return caller.finish(errors::validation_details(
            format!("Properties cannot be archived: [{}]", fixed.join(", ")),
            fixed
                .into_iter()
                .map(|name| {
                    (
                        "PROPERTY_NOT_ARCHIVABLE".to_string(),
                        name.clone(),
                        format!("{name} is defined by HubSpot and cannot be archived"),
                    )
                })
                .collect(),
        ));
    }
    for PropertyName { name } in &input.inputs {
        if let Some(i) = p.property_index.get(name).copied() {
            let prop = &mut p.properties[i];
            prop.archived = Some(true);
            prop.archived_at = Some(now);
            prop.updated_at = Some(now);
        }
    }
    drop(w);
    caller.respond(StatusCode::NO_CONTENT).finish()
}

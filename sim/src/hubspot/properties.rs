//! Property definitions and groups for contacts (docs/hubspot.md F): list, read one, create (409 on
//! a duplicate name), and the same for groups.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ember_hubspot::wire::properties::{
    CollectionNoPaging, Property, PropertyCreate, PropertyGroup, PropertyGroupCreate,
    PropertyModificationMetadata,
};

use super::errors;
use super::gate::{Limit, admit};
use super::query::{Query, json_body};
use crate::state::Shared;
use crate::state::properties::ValueType;

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
    let caller = match admit(&shared, &req, READ, Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !object_type_ok(&path) {
        return caller.finish(unknown_object(&path));
    }
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
    let caller = match admit(&shared, &req, READ, Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (object, name) = path.into_inner();
    if !object_type_ok(&object) {
        return caller.finish(unknown_object(&object));
    }
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
    let caller = match admit(&shared, &req, WRITE, Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !object_type_ok(&path) {
        return caller.finish(unknown_object(&path));
    }
    let input: PropertyCreate = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return caller.finish(r),
    };
    if ValueType::parse(&input.type_).is_none() || !pair_ok(&input.type_, &input.field_type) {
        return caller.finish(errors::validation(format!(
            "Invalid combination of type {} and fieldType {}",
            input.type_, input.field_type
        )));
    }
    let now = shared.clock.now();
    let mut w = shared.world();
    let Some(p) = w.portals.get_mut(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    if p.property(&input.name).is_some() {
        return caller.finish(errors::respond(
            StatusCode::CONFLICT,
            &errors::body(
                "OBJECT_ALREADY_EXISTS",
                format!("Property named '{}' already exists.", input.name),
            ),
        ));
    }
    if !p.groups.iter().any(|g| g.name == input.group_name) {
        return caller.finish(errors::validation(format!(
            "Property group {} does not exist.",
            input.group_name
        )));
    }
    let prop = Property {
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
    };
    p.add_property(prop.clone());
    caller.json(StatusCode::CREATED, &prop)
}

pub(crate) async fn list_groups(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let caller = match admit(&shared, &req, READ, Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !object_type_ok(&path) {
        return caller.finish(unknown_object(&path));
    }
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
    let caller = match admit(&shared, &req, READ, Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (object, name) = path.into_inner();
    if !object_type_ok(&object) {
        return caller.finish(unknown_object(&object));
    }
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
    let caller = match admit(&shared, &req, WRITE, Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !object_type_ok(&path) {
        return caller.finish(unknown_object(&path));
    }
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

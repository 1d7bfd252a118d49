//! `POST /crm/v3/objects/contacts/search` with HubSpot's own limits (docs/hubspot.md E.5): 5 calls
//! per second and no rate-limit headers, at most 200 per page and 10,000 in total, a body of
//! at most 3,000 characters, 5 groups × 6 filters and 18 filters in all, one sort, oldest
//! first by default. An unknown operator is a 400, and search sees a write only once the
//! portal's index has caught up with it (`SimConfig::search_index_delay`).

use std::cmp::Ordering;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ember_hubspot::wire::crm::{
    Filter, NextPage, Paging, SearchRequest, SearchResponse, SearchSort,
};

use super::contacts::READ;
use super::errors;
use super::gate::{Limit, admit};
use super::query::json_body;
use crate::state::{Contact, Shared};

const MAX_BODY: usize = 3_000;
const MAX_PAGE: i32 = 200;
const MAX_TOTAL: usize = 10_000;
const MAX_GROUPS: usize = 5;
const MAX_PER_GROUP: usize = 6;
const MAX_FILTERS: usize = 18;
const QUERY_PROPERTIES: &[&str] = &[
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "hs_object_id",
];

/// The operators search knows (docs/hubspot.md E.5).
const OPERATORS: &[&str] = &[
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
];

/// A 400 naming every filter whose operator search does not know, or `None`.
fn unknown_operators(input: &SearchRequest) -> Option<HttpResponse> {
    let bad: Vec<&Filter> = input
        .filter_groups
        .iter()
        .flat_map(|g| &g.filters)
        .filter(|f| !OPERATORS.contains(&f.operator.as_str()))
        .collect();
    let first = bad.first()?;
    Some(errors::validation_details(
        format!(
            "Invalid operator {} for property {}; use one of {}.",
            first.operator,
            first.property_name,
            OPERATORS.join(", ")
        ),
        bad.iter()
            .map(|f| {
                (
                    "INVALID_FILTER_OPERATOR".to_string(),
                    f.property_name.clone(),
                    format!("Unknown operator {}", f.operator),
                )
            })
            .collect(),
    ))
}

fn compare(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => {
            let (ta, tb) = (chrono::DateTime::parse_from_rfc3339(a), b.parse::<i64>());
            if let (Ok(t), Ok(ms)) = (ta, tb) {
                return t.timestamp_millis().cmp(&ms);
            }
            a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase())
        }
    }
}

fn matches(c: &Contact, f: &Filter) -> bool {
    let v = c.props.get(&f.property_name).map(String::as_str);
    let val = f.value.as_deref().unwrap_or("");
    match f.operator.as_str() {
        "HAS_PROPERTY" => v.is_some(),
        "NOT_HAS_PROPERTY" => v.is_none(),
        "EQ" => v.is_some_and(|v| compare(v, val) == Ordering::Equal),
        "NEQ" => v.is_none_or(|v| compare(v, val) != Ordering::Equal),
        "LT" => v.is_some_and(|v| compare(v, val) == Ordering::Less),
        "LTE" => v.is_some_and(|v| compare(v, val) != Ordering::Greater),
        "GT" => v.is_some_and(|v| compare(v, val) == Ordering::Greater),
        "GTE" => v.is_some_and(|v| compare(v, val) != Ordering::Less),
        "BETWEEN" => v.is_some_and(|v| {
            compare(v, val) != Ordering::Less
                && compare(v, f.high_value.as_deref().unwrap_or("")) != Ordering::Greater
        }),
        "IN" => v.is_some_and(|v| {
            f.values
                .iter()
                .flatten()
                .any(|x| x == &v.to_ascii_lowercase() || x == v)
        }),
        "NOT_IN" => v.is_none_or(|v| {
            !f.values
                .iter()
                .flatten()
                .any(|x| x == &v.to_ascii_lowercase() || x == v)
        }),
        "CONTAINS_TOKEN" => v.is_some_and(|v| token_match(v, val)),
        "NOT_CONTAINS_TOKEN" => v.is_none_or(|v| !token_match(v, val)),
        _ => false, // refused before matching (`unknown_operators`)
    }
}

fn token_match(v: &str, pattern: &str) -> bool {
    let v = v.to_ascii_lowercase();
    let p = pattern.to_ascii_lowercase();
    let needle = p.trim_matches('*');
    if p.starts_with('*') || p.ends_with('*') {
        v.contains(needle)
    } else {
        v.split(|ch: char| !ch.is_alphanumeric() && ch != '@' && ch != '.')
            .any(|t| t == needle)
            || v == needle
    }
}

pub(crate) async fn search(
    shared: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match admit(&shared, &req, READ, Limit::Search).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if body.len() > MAX_BODY {
        return errors::validation(format!(
            "Request body is too large: {} characters, the maximum is {MAX_BODY}.",
            body.len()
        ));
    }
    let input: SearchRequest = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let limit = input.limit.unwrap_or(10);
    if !(1..=MAX_PAGE).contains(&limit) {
        return errors::validation(format!("limit must be between 1 and {MAX_PAGE}"));
    }
    let total_filters: usize = input.filter_groups.iter().map(|g| g.filters.len()).sum();
    if input.filter_groups.len() > MAX_GROUPS
        || input
            .filter_groups
            .iter()
            .any(|g| g.filters.len() > MAX_PER_GROUP)
        || total_filters > MAX_FILTERS
    {
        return errors::validation(format!(
            "Too many filters: at most {MAX_GROUPS} filterGroups of {MAX_PER_GROUP} filters, {MAX_FILTERS} filters in total."
        ));
    }
    if let Some(refusal) = unknown_operators(&input) {
        return refusal;
    }
    if input.sorts.len() > 1 {
        return errors::validation("Only one sort is supported.");
    }
    let after: usize = match input.after.as_deref().map(str::parse).transpose() {
        Ok(a) => a.unwrap_or(0),
        Err(_) => return errors::validation("after must be a number"),
    };
    if after + limit as usize > MAX_TOTAL {
        return errors::validation(format!(
            "Paging beyond {MAX_TOTAL} results is not supported."
        ));
    }
    let now = shared.clock.now_ms();
    let mut w = shared.world();
    let Some(p) = w.portals.get_mut(&caller.portal) else {
        return errors::not_found();
    };
    p.search_index.apply_due(now);
    let p = &*p;
    let query = input.query.as_deref().map(str::to_ascii_lowercase);
    let mut hits: Vec<&Contact> = p
        .searchable()
        .into_iter()
        .filter(|c| !c.archived)
        .filter(|c| {
            input.filter_groups.is_empty()
                || input
                    .filter_groups
                    .iter()
                    .any(|g| g.filters.iter().all(|f| matches(c, f)))
        })
        .filter(|c| {
            query.as_ref().is_none_or(|q| {
                QUERY_PROPERTIES.iter().any(|k| {
                    c.props
                        .get(*k)
                        .is_some_and(|v| v.to_ascii_lowercase().starts_with(q.as_str()))
                })
            })
        })
        .collect();
    if let Some(sort) = input.sorts.first() {
        let (prop, desc) = match sort {
            SearchSort::Name(n) => (n.trim_start_matches('-').to_string(), n.starts_with('-')),
            SearchSort::Object {
                property_name,
                direction,
            } => (
                property_name.clone(),
                direction.as_deref() == Some("DESCENDING"),
            ),
        };
        hits.sort_by(|a, b| {
            let o = match (a.props.get(&prop), b.props.get(&prop)) {
                (Some(x), Some(y)) => compare(x, y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            if desc { o.reverse() } else { o }
        });
    }
    let total = hits.len();
    let page: Vec<_> = hits
        .iter()
        .skip(after)
        .take(limit as usize)
        .map(|c| p.record(c, &input.properties, &[]))
        .collect();
    let next = after + page.len();
    let paging = (next < total.min(MAX_TOTAL)).then(|| Paging {
        next: Some(NextPage {
            after: next.to_string(),
            link: None,
        }),
        prev: None,
    });
    caller.json(
        StatusCode::OK,
        &SearchResponse {
            total: total as u32,
            results: page,
            paging,
        },
    )
}

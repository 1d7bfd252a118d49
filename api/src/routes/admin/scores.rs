//! `/admin/portals/{portal}/scores` and `/contacts...`: how a portal's contacts score, its top
//! and fastest-rising contacts, and why one contact has its score. Any role may read them.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{Duration, Utc};
use ember_core::domain::ObjectId;
use ember_core::store::{console, models};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::db;
use super::models::active_model;
use crate::error::ApiError;
use crate::extract::CurrentPerson;
use crate::scope::portal_role;
use crate::state::Tenancy;

/// Contacts a list shows unless `limit` says otherwise, and the most it may ask for.
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

/// Progress of the portal's background rescore.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RescoreView {
    /// `running` while a rescore is pending or under way, else `idle`.
    #[schema(example = "idle")]
    status: &'static str,
    /// Contacts rescored (the last finished rescore's count when idle).
    done: i64,
    total: i64,
}

/// `GET .../scores`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScoresView {
    /// Active contacts (scored or not).
    contacts: i64,
    /// Of the scored contacts, by their stored rounded total.
    distribution: console::Distribution,
    /// Contacts per fit × engagement cell (`A1`…), as written to HubSpot; empty when the model
    /// writes no matrix cell.
    matrix: BTreeMap<String, i64>,
    /// The active model version (0: the built-in default).
    model_version: i32,
    rescore: RescoreView,
}

/// The score distribution of a portal.
#[utoipa::path(get, path = "/admin/portals/{portal}/scores", tag = "scores",
    operation_id = "get_scores",
    params(("portal" = i64, Path, description = "HubSpot portal id")),
    responses((status = 200, body = ScoresView), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn scores(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (portal, _, _) = portal_role(&t, person, path.into_inner()).await?;
    let (version, model) = active_model(&t, portal).await?;
    let doc = model.model();
    let groups = console::score_groups(&t.pool, portal, doc.output.matrix.as_deref())
        .await
        .map_err(db)?;
    let range = console::histogram_range(groups.iter().map(|(total, _, _)| *total));
    let distribution = console::distribution(
        doc,
        groups
            .iter()
            .map(|(total, _, n)| (*total, console::grade_of(doc, *total), *n)),
        range,
    );
    let mut matrix = BTreeMap::new();
    for (_, cell, n) in &groups {
        if let Some(cell) = cell.as_deref().filter(|c| !c.is_empty()) {
            *matrix.entry(cell.to_owned()).or_insert(0) += n;
        }
    }
    let contacts = console::active_contacts(&t.pool, portal)
        .await
        .map_err(db)?;
    let rescore = match models::latest_rescore(&t.pool, portal).await.map_err(db)? {
        Some((_, done, total, None)) => RescoreView {
            status: "running",
            done,
            total: total.unwrap_or(contacts),
        },
        Some((_, done, total, Some(_))) => RescoreView {
            status: "idle",
            done,
            total: total.unwrap_or(done),
        },
        None => RescoreView {
            status: "idle",
            done: 0,
            total: 0,
        },
    };
    Ok(HttpResponse::Ok().json(ScoresView {
        contacts,
        distribution,
        matrix,
        model_version: version,
        rescore,
    }))
}

/// The query of `GET .../contacts`, read as text so that a bad value gets a clear message.
#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    sort: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Top,
    Rising,
}

impl ListQuery {
    fn parse(&self) -> Result<(Sort, i64), ApiError> {
        let sort = match self.sort.as_deref() {
            None | Some("top") => Sort::Top,
            Some("rising") => Sort::Rising,
            Some(other) => {
                return Err(ApiError::bad_request(
                    "invalid_sort",
                    format!("sort must be top or rising, not {other:?}"),
                ));
            }
        };
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_limit",
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}, not {text:?}"),
                    )
                })?,
        };
        Ok((sort, limit))
    }
}

/// `GET .../contacts`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ContactList {
    contacts: Vec<console::ContactSummary>,
}

/// The portal's top contacts (highest total) or fastest-rising ones (largest increase of the
/// total over the last 7 days, from the engagement ledger).
#[utoipa::path(get, path = "/admin/portals/{portal}/contacts", tag = "scores",
    operation_id = "list_contacts",
    params(("portal" = i64, Path, description = "HubSpot portal id"),
           ("sort" = Option<String>, Query, description = "`top` (default) or `rising`"),
           ("limit" = Option<i64>, Query, description = "1 to 100, default 20")),
    responses((status = 200, body = ContactList), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn contacts(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<i64>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (portal, _, _) = portal_role(&t, person, path.into_inner()).await?;
    let (sort, limit) = query.parse()?;
    let (_, model) = active_model(&t, portal).await?;
    let now = Utc::now();
    let contacts = match sort {
        Sort::Top => console::top(&t.pool, portal, limit)
            .await
            .map_err(db)?
            .iter()
            .map(|c| console::summarize(&model, c, now))
            .collect(),
        Sort::Rising => {
            let since = now - Duration::days(console::RISING_DAYS);
            let candidates =
                console::engaged_since(&t.pool, portal, since, console::RISING_CANDIDATES)
                    .await
                    .map_err(db)?;
            console::rising(&model, &candidates, now, limit as usize)
        }
    };
    Ok(HttpResponse::Ok().json(ContactList { contacts }))
}

/// Why one contact has its score: each contributing rule, raw and decayed, and when decay next
/// changes the total.
#[utoipa::path(get, path = "/admin/portals/{portal}/contacts/{contact}", tag = "scores",
    operation_id = "explain_contact",
    params(("portal" = i64, Path, description = "HubSpot portal id"),
           ("contact" = i64, Path, description = "HubSpot contact id")),
    responses((status = 200, body = console::Explanation), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn contact(
    t: web::Data<Tenancy>,
    person: CurrentPerson,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (portal, contact) = path.into_inner();
    let (portal, _, _) = portal_role(&t, person, portal).await?;
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("this portal has no contact {contact}"),
        )
    };
    let id = ObjectId::new(contact).map_err(|_| missing())?;
    let input = console::contact(&t.pool, portal, id)
        .await
        .map_err(db)?
        .ok_or_else(missing)?;
    let (_, model) = active_model(&t, portal).await?;
    Ok(HttpResponse::Ok().json(console::explain(&model, &input, Utc::now())))
}

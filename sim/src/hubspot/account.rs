//! Account details (`GET /account-info/{2026-09,v3}/details`, SPEC `PortalInformationResponse`)
//! and the app's self-uninstall (`DELETE /appinstalls/{2026-09,v3}/external-install`,
//! docs/hubspot.md A.6), on the dated and the legacy prefix alike (`hubspot::routes`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use ember_hubspot::wire::account::PortalInformation;

use super::errors;
use super::gate::{Limit, admit};
use crate::state::Shared;

pub(crate) async fn details(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let caller = match admit(&shared, &req, &[], Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let w = shared.world();
    let Some(p) = w.portals.get(&caller.portal) else {
        return caller.finish(errors::not_found());
    };
    let off = p.utc_offset_ms;
    let sign = if off < 0 { '-' } else { '+' };
    let mins = off.abs() / 60_000;
    let info = PortalInformation {
        portal_id: p.id,
        account_type: "STANDARD".into(),
        time_zone: p.time_zone.clone(),
        company_currency: "USD".into(),
        additional_currencies: Vec::new(),
        data_hosting_location: "na1".into(),
        ui_domain: "app.hubspot.com".into(),
        utc_offset: format!("{sign}{:02}:{:02}", mins / 60, mins % 60),
        utc_offset_milliseconds: off,
        created_at: None,
        portal_name: None,
    };
    caller.json(StatusCode::OK, &info)
}

/// Uninstalls the public app from the caller's portal: tokens stop working, webhooks stop.
pub(crate) async fn uninstall(shared: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let caller = match admit(&shared, &req, &[], Limit::Standard).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut w = shared.world();
    w.uninstall(caller.portal);
    caller.respond(StatusCode::NO_CONTENT).finish()
}

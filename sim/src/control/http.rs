//! The control API over HTTP, under `/_sim/` (never one of HubSpot's paths): the same
//! operations as `Control`, as JSON.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{Control, RulesRefused};
use crate::generator::TrafficOptions;
use crate::setup::{Faults, PortalSpec, Subscription, ValidationRule, WorkflowConfig};
use crate::state::PortalId;

type Ctl = web::Data<Control>;

#[derive(Deserialize)]
struct PortalQuery {
    portal: Option<PortalId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockInput {
    now_ms: Option<i64>,
    advance_ms: Option<i64>,
    speed: Option<f64>,
}

#[derive(Deserialize)]
struct AuthorizeInput {
    #[serde(default)]
    deny: bool,
    portal: Option<PortalId>,
}

#[derive(Deserialize)]
struct MergeInput {
    primary: u64,
    secondary: u64,
}

#[derive(Deserialize)]
struct TrafficInput {
    events: usize,
    #[serde(default)]
    options: TrafficOptions,
}

#[derive(Deserialize)]
struct TargetInput {
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerInput {
    contact_id: u64,
    #[serde(default = "manual")]
    trigger: String,
}

fn manual() -> String {
    "manual".into()
}

#[derive(Deserialize)]
struct UsedInput {
    used: u64,
}

#[derive(Deserialize)]
struct LegacyInput {
    refuse: bool,
}

/// `GET /_sim/legacy`: `{"calls": n, "refuse": bool}`.
async fn legacy(c: Ctl) -> HttpResponse {
    ok(json!({"calls": c.legacy_calls(), "refuse": c.refuses_legacy_paths()}))
}

/// `PUT /_sim/legacy` with `{"refuse": bool}`: refuse or serve the legacy paths.
async fn set_legacy(c: Ctl, input: web::Json<LegacyInput>) -> HttpResponse {
    c.set_refuse_legacy_paths(input.refuse);
    legacy(c).await
}

fn ok<T: serde::Serialize>(v: T) -> HttpResponse {
    HttpResponse::Ok().json(v)
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not found"}))
}

async fn app(c: Ctl) -> HttpResponse {
    let w = c.shared.world();
    ok(json!({
        "appId": w.app.app_id, "clientId": w.app.client_id, "clientSecret": w.app.client_secret,
        "redirectUris": w.app.redirect_uris, "requiredScopes": w.app.required_scopes,
        "webhookTargetUrl": w.app.webhook_target_url,
    }))
}

async fn portals(c: Ctl) -> HttpResponse {
    ok(c.portals())
}

async fn create_portal(c: Ctl, spec: web::Json<PortalSpec>) -> HttpResponse {
    HttpResponse::Created().json(c.create_portal(spec.into_inner()))
}

async fn install(c: Ctl, id: web::Path<PortalId>) -> HttpResponse {
    c.install(*id).map_or_else(not_found, ok)
}

async fn uninstall(c: Ctl, id: web::Path<PortalId>) -> HttpResponse {
    c.uninstall(*id);
    HttpResponse::NoContent().finish()
}

async fn authorize(c: Ctl, input: web::Json<AuthorizeInput>) -> HttpResponse {
    c.set_authorize(input.deny, input.portal);
    HttpResponse::NoContent().finish()
}

async fn clock(c: Ctl) -> HttpResponse {
    ok(json!({"nowMs": c.now_ms(), "speed": c.shared.clock.speed()}))
}

async fn set_clock(c: Ctl, input: web::Json<ClockInput>) -> HttpResponse {
    if let Some(ms) = input.now_ms {
        c.set_time_ms(ms);
    }
    if let Some(ms) = input.advance_ms {
        c.shared.clock.advance_ms(ms);
    }
    if let Some(s) = input.speed {
        c.set_speed(s);
    }
    clock(c).await
}

async fn faults(c: Ctl, q: web::Query<PortalQuery>) -> HttpResponse {
    ok(c.faults(q.portal))
}

async fn set_faults(c: Ctl, q: web::Query<PortalQuery>, f: web::Json<Faults>) -> HttpResponse {
    c.set_faults(q.portal, f.into_inner());
    HttpResponse::NoContent().finish()
}

async fn clear_faults(c: Ctl) -> HttpResponse {
    c.clear_faults();
    HttpResponse::NoContent().finish()
}

async fn calls(c: Ctl, q: web::Query<PortalQuery>) -> HttpResponse {
    match q.portal {
        Some(p) => ok(c.calls_for(p)),
        None => ok(c.calls()),
    }
}

async fn clear_calls(c: Ctl) -> HttpResponse {
    c.clear_calls();
    HttpResponse::NoContent().finish()
}

async fn rate_limited(c: Ctl, q: web::Query<PortalQuery>) -> HttpResponse {
    ok(c.rate_limited(q.portal))
}

async fn contact(c: Ctl, path: web::Path<(PortalId, u64)>) -> HttpResponse {
    let (p, id) = path.into_inner();
    c.contact(p, id).map_or_else(not_found, ok)
}

async fn create_contact(
    c: Ctl,
    p: web::Path<PortalId>,
    props: web::Json<BTreeMap<String, String>>,
) -> HttpResponse {
    match c.create_contact(*p, props.into_inner()) {
        Some(id) => HttpResponse::Created().json(json!({"id": id})),
        None => HttpResponse::BadRequest().json(json!({"error": "invalid portal or values"})),
    }
}

async fn set_properties(
    c: Ctl,
    path: web::Path<(PortalId, u64)>,
    props: web::Json<BTreeMap<String, String>>,
) -> HttpResponse {
    let (p, id) = path.into_inner();
    if c.set_properties(p, id, props.into_inner()) {
        contact(c, web::Path::from((p, id))).await
    } else {
        HttpResponse::BadRequest().json(json!({"error": "invalid contact or values"}))
    }
}

async fn merge(c: Ctl, p: web::Path<PortalId>, input: web::Json<MergeInput>) -> HttpResponse {
    c.merge_contacts(*p, input.primary, input.secondary)
        .map_or_else(not_found, |id| ok(json!({"newId": id})))
}

async fn traffic(c: Ctl, p: web::Path<PortalId>, input: web::Json<TrafficInput>) -> HttpResponse {
    let input = input.into_inner();
    ok(c.generate_traffic(*p, input.events, input.options))
}

async fn deliveries(c: Ctl) -> HttpResponse {
    ok(c.deliveries())
}

async fn clear_deliveries(c: Ctl) -> HttpResponse {
    c.clear_deliveries();
    HttpResponse::NoContent().finish()
}

async fn set_target(c: Ctl, input: web::Json<TargetInput>) -> HttpResponse {
    c.set_webhook_target(input.into_inner().url);
    HttpResponse::NoContent().finish()
}

async fn subscriptions(c: Ctl) -> HttpResponse {
    ok(c.subscriptions())
}

async fn set_subscriptions(c: Ctl, subs: web::Json<Vec<Subscription>>) -> HttpResponse {
    c.set_subscriptions(subs.into_inner());
    HttpResponse::NoContent().finish()
}

async fn set_workflow(
    c: Ctl,
    p: web::Path<PortalId>,
    cfg: web::Json<Option<WorkflowConfig>>,
) -> HttpResponse {
    c.set_workflow(*p, cfg.into_inner());
    HttpResponse::NoContent().finish()
}

async fn trigger(c: Ctl, p: web::Path<PortalId>, input: web::Json<TriggerInput>) -> HttpResponse {
    if c.trigger_workflow(*p, input.contact_id, &input.trigger) {
        HttpResponse::Accepted().finish()
    } else {
        not_found()
    }
}

async fn set_daily_used(
    c: Ctl,
    p: web::Path<PortalId>,
    input: web::Json<UsedInput>,
) -> HttpResponse {
    c.set_daily_used(*p, input.used);
    HttpResponse::NoContent().finish()
}

/// `PUT /_sim/portals/{id}/validation-rules`: a JSON array of `ValidationRule`s replaces the
/// portal's rules; a body that does not parse, or any bad rule, is a 400 that changes nothing.
async fn set_validation_rules(c: Ctl, p: web::Path<PortalId>, body: web::Bytes) -> HttpResponse {
    let rules: Vec<ValidationRule> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return HttpResponse::BadRequest().json(json!({
                "error": format!("expected a JSON array of validation rules: {e}")
            }));
        }
    };
    match c.set_validation_rules(*p, rules) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e @ RulesRefused::NoPortal(_)) => {
            HttpResponse::NotFound().json(json!({"error": e.to_string()}))
        }
        Err(e) => HttpResponse::BadRequest().json(json!({"error": e.to_string()})),
    }
}

/// `GET /_sim/portals/{id}/validation-rules`.
async fn validation_rules(c: Ctl, p: web::Path<PortalId>) -> HttpResponse {
    match c.validation_rules(*p) {
        Some(rules) => ok(rules),
        None => not_found(),
    }
}

async fn health() -> HttpResponse {
    ok(json!({"status": "ok"}))
}

/// Registers the control routes under `/_sim`.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim")
            .route("/app", web::get().to(app))
            .route("/portals", web::get().to(portals))
            .route("/portals", web::post().to(create_portal))
            .route("/portals/{id}/install", web::post().to(install))
            .route("/portals/{id}/uninstall", web::post().to(uninstall))
            .route("/portals/{id}/contacts", web::post().to(create_contact))
            .route("/portals/{id}/contacts/{cid}", web::get().to(contact))
            .route(
                "/portals/{id}/contacts/{cid}",
                web::patch().to(set_properties),
            )
            .route("/portals/{id}/merge", web::post().to(merge))
            .route("/portals/{id}/traffic", web::post().to(traffic))
            .route("/portals/{id}/workflow", web::put().to(set_workflow))
            .route("/portals/{id}/workflow/trigger", web::post().to(trigger))
            .route("/portals/{id}/daily-used", web::put().to(set_daily_used))
            .route(
                "/portals/{id}/validation-rules",
                web::put().to(set_validation_rules),
            )
            .route(
                "/portals/{id}/validation-rules",
                web::get().to(validation_rules),
            )
            .route("/authorize", web::put().to(authorize))
            .route("/clock", web::get().to(clock))
            .route("/clock", web::post().to(set_clock))
            .route("/faults", web::get().to(faults))
            .route("/faults", web::put().to(set_faults))
            .route("/faults", web::delete().to(clear_faults))
            .route("/calls", web::get().to(calls))
            .route("/calls", web::delete().to(clear_calls))
            .route("/rate-limited", web::get().to(rate_limited))
            .route("/deliveries", web::get().to(deliveries))
            .route("/deliveries", web::delete().to(clear_deliveries))
            .route("/webhooks/target", web::put().to(set_target))
            .route("/webhooks/subscriptions", web::get().to(subscriptions))
            .route("/webhooks/subscriptions", web::put().to(set_subscriptions))
            .route("/legacy", web::get().to(legacy))
            .route("/legacy", web::put().to(set_legacy))
            .route("/health", web::get().to(health)),
    );
}

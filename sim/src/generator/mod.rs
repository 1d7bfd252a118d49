//! Seeded data: portals, contacts with realistic firmographics, and engagement traffic.
//! The same seed gives the same portals, contacts and traffic on every machine.
//!
//! Engagement reaches Ember as HubSpot property changes (README "Engagement as properties"):
//! page views move `hs_analytics_num_page_views`, `hs_analytics_last_url` and the custom
//! `ember_last_page_view`; email opens and clicks move `hs_email_last_open_date` /
//! `hs_email_last_click_date`; form submissions `recent_conversion_event_name` /
//! `recent_conversion_date`; webinars the custom `ember_last_webinar`. Demo requests and
//! pricing-page views also fire the portal's workflow webhook, when it has one.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};

mod data;

use data::*;

use crate::clock::ms_to_datetime;
use crate::in_flight::WorkflowJob;
use crate::rng::SimRng;
use crate::state::properties::{LIFECYCLE, NUMEMPLOYEES, OWNERS};
use crate::state::{ChangeSource, PortalId, World};
use crate::webhooks::workflow_body;
pub(crate) use data::TIME_ZONES;

fn stamp(ms: i64) -> String {
    ms_to_datetime(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Properties of one generated contact.
pub(crate) fn contact_properties(rng: &mut SimRng, now_ms: i64) -> Vec<(String, String)> {
    let first = *rng.pick(FIRST);
    let last = *rng.pick(LAST);
    let company = format!("{} {}", rng.pick(CO_A), rng.pick(CO_B));
    let domain = format!("{}.com", company.to_ascii_lowercase().replace(' ', ""));
    let n = rng.range(1, 10_000);
    let (email_domain, title) = match rng.weighted(&[(70u32, 0u8), (18, 1), (7, 2), (5, 3)]) {
        0 => (domain.clone(), *rng.weighted(TITLES)),
        1 => ((*rng.pick(FREEMAIL)).to_string(), *rng.weighted(TITLES)),
        2 => ((*rng.pick(STUDENT)).to_string(), "Student"),
        _ => ((*rng.pick(COMPETITORS)).to_string(), *rng.weighted(TITLES)),
    };
    let email = format!(
        "{}.{}{}@{}",
        first.to_ascii_lowercase(),
        last.to_ascii_lowercase(),
        n,
        email_domain
    );
    let size = *rng.weighted(&[
        (20u32, 0usize),
        (25, 1),
        (15, 2),
        (14, 3),
        (14, 4),
        (6, 5),
        (6, 6),
    ]);
    let revenue_base = [
        150_000u64,
        1_500_000,
        5_000_000,
        12_000_000,
        40_000_000,
        150_000_000,
        900_000_000,
    ][size];
    let revenue = revenue_base / 2 + rng.range(0, revenue_base);
    let mut v = vec![
        ("email".to_string(), email),
        ("firstname".into(), first.into()),
        ("lastname".into(), last.into()),
        ("jobtitle".into(), title.into()),
        ("company".into(), company),
        ("website".into(), format!("https://www.{domain}")),
        ("industry".into(), (*rng.weighted(INDUSTRIES)).into()),
        ("numemployees".into(), NUMEMPLOYEES[size].into()),
        ("annualrevenue".into(), revenue.to_string()),
        ("country".into(), (*rng.weighted(COUNTRIES)).into()),
        (
            "lifecyclestage".into(),
            LIFECYCLE[*rng.weighted(&[(30u32, 0usize), (45, 1), (12, 2), (6, 3), (4, 4), (3, 5)])]
                .into(),
        ),
        (
            "hs_email_optout".into(),
            if rng.chance(0.04) { "true" } else { "false" }.into(),
        ),
    ];
    if rng.chance(0.5) {
        v.push(("hubspot_owner_id".into(), (*rng.pick(OWNERS)).into()));
    }
    let views = rng.range(0, 40);
    if views > 0 {
        v.push(("hs_analytics_num_page_views".into(), views.to_string()));
        v.push((
            "hs_analytics_last_timestamp".into(),
            stamp(now_ms - rng.range(0, 30 * 86_400_000) as i64),
        ));
    }
    if rng.chance(0.5) {
        v.push(("hs_email_open".into(), rng.range(1, 20).to_string()));
        v.push((
            "hs_email_last_open_date".into(),
            stamp(now_ms - rng.range(0, 60 * 86_400_000) as i64),
        ));
    }
    v
}

/// Creates a generated contact directly (HubSpot-internal, no webhook).
pub(crate) fn seed_contacts(
    w: &mut World,
    portal: PortalId,
    n: usize,
    rng: &mut SimRng,
    now_ms: i64,
) {
    for _ in 0..n {
        let props = contact_properties(rng, now_ms);
        let id = w.next_object_id();
        if let Some(p) = w.portals.get_mut(&portal) {
            let created = now_ms - rng.range(0, 365 * 86_400_000) as i64;
            let _ = p.create_contact(id, props, created);
        }
    }
}

/// How generated traffic looks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TrafficOptions {
    /// Seed of this burst (else derived from the simulator's seed and the portal).
    pub seed: Option<u64>,
    /// Share of events that are new contacts signing up.
    pub new_contact_share: f64,
    /// Simulator milliseconds between consecutive events (`occurredAt` spacing).
    pub spacing_ms: i64,
}

impl Default for TrafficOptions {
    fn default() -> Self {
        Self {
            seed: None,
            new_contact_share: 0.05,
            spacing_ms: 1_000,
        }
    }
}

/// What a burst of traffic did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSummary {
    /// Engagement events generated, by kind.
    pub by_kind: BTreeMap<String, usize>,
    /// Webhook events queued for the app.
    pub webhook_events: usize,
    /// Workflow webhook requests queued.
    pub workflow_requests: usize,
}

fn bump(p: &crate::state::Portal, id: u64, prop: &str) -> String {
    let cur: u64 = p
        .contacts
        .get(&id)
        .and_then(|c| c.props.get(prop))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cur + 1).to_string()
}

/// Generates `n` engagement events for a portal's contacts, starting at `start_ms`.
pub(crate) fn traffic(
    w: &mut World,
    portal: PortalId,
    n: usize,
    opts: &TrafficOptions,
    start_ms: i64,
) -> TrafficSummary {
    let seed = opts.seed.unwrap_or_else(|| w.seed ^ portal.rotate_left(17));
    let mut rng = SimRng::derive(seed, 77);
    let mut summary = TrafficSummary::default();
    let before: usize = w.portals.get(&portal).map_or(0, |p| p.pending.len());
    for i in 0..n {
        let t = start_ms + i as i64 * opts.spacing_ms;
        let Some(p) = w.portals.get(&portal) else {
            break;
        };
        let ids: Vec<u64> = p
            .contacts
            .values()
            .filter(|c| !c.archived)
            .map(|c| c.id)
            .collect();
        if ids.is_empty() || rng.chance(opts.new_contact_share) {
            let props = contact_properties(&mut rng, t);
            let id = w.next_object_id();
            let changes = match w
                .portals
                .get_mut(&portal)
                .map(|p| p.create_contact(id, props, t))
            {
                Some(Ok((_, c))) => c,
                _ => continue,
            };
            w.emit(portal, changes, &ChangeSource::internal("FORM"), t);
            *summary.by_kind.entry("new_contact".into()).or_default() += 1;
            continue;
        }
        let id = *rng.pick(&ids);
        let kind = *rng.weighted(&[
            (45u32, "page_view"),
            (20, "email_open"),
            (10, "email_click"),
            (10, "form_submission"),
            (5, "webinar"),
            (10, "fit_change"),
        ]);
        let mut workflow_trigger = None;
        let (props, src): (Vec<(String, String)>, ChangeSource) = match kind {
            "page_view" => {
                let page = *rng.weighted(PAGES);
                let url = format!("https://www.example-saas.com{page}");
                if page == "/pricing" {
                    workflow_trigger = Some("pricing_page_view");
                }
                (
                    vec![
                        (
                            "hs_analytics_num_page_views".into(),
                            bump(p, id, "hs_analytics_num_page_views"),
                        ),
                        ("hs_analytics_last_url".into(), url.clone()),
                        ("hs_analytics_last_timestamp".into(), stamp(t)),
                        ("ember_last_page_view".into(), url),
                        ("ember_last_page_view_date".into(), stamp(t)),
                    ],
                    ChangeSource::internal("ANALYTICS"),
                )
            }
            "email_open" => (
                vec![
                    ("hs_email_open".into(), bump(p, id, "hs_email_open")),
                    ("hs_email_last_open_date".into(), stamp(t)),
                ],
                ChangeSource::internal("EMAIL"),
            ),
            "email_click" => (
                vec![
                    ("hs_email_click".into(), bump(p, id, "hs_email_click")),
                    ("hs_email_last_click_date".into(), stamp(t)),
                ],
                ChangeSource::internal("EMAIL"),
            ),
            "form_submission" => {
                let form = *rng.weighted(FORMS);
                if form == "Demo request" {
                    workflow_trigger = Some("demo_request");
                }
                (
                    vec![
                        ("recent_conversion_event_name".into(), form.into()),
                        ("recent_conversion_date".into(), stamp(t)),
                        (
                            "num_conversion_events".into(),
                            bump(p, id, "num_conversion_events"),
                        ),
                    ],
                    ChangeSource::internal("FORM"),
                )
            }
            "webinar" => (
                vec![
                    ("ember_last_webinar".into(), (*rng.pick(WEBINARS)).into()),
                    ("ember_last_webinar_date".into(), stamp(t)),
                ],
                ChangeSource::internal("INTEGRATION"),
            ),
            _ => {
                let cur = p
                    .contacts
                    .get(&id)
                    .and_then(|c| c.props.get("lifecyclestage"))
                    .cloned()
                    .unwrap_or_default();
                let idx = LIFECYCLE.iter().position(|s| *s == cur).unwrap_or(0);
                if rng.chance(0.5) && idx + 1 < 6 {
                    (
                        vec![("lifecyclestage".into(), LIFECYCLE[idx + 1].into())],
                        ChangeSource::ui(p.user_id),
                    )
                } else {
                    (
                        vec![("jobtitle".into(), (*rng.weighted(TITLES)).into())],
                        ChangeSource::ui(p.user_id),
                    )
                }
            }
        };
        *summary.by_kind.entry(kind.into()).or_default() += 1;
        let Some(p) = w.portals.get_mut(&portal) else {
            break;
        };
        let changes = p.update_contact(id, props, t).unwrap_or_default();
        let job = match (workflow_trigger, &p.workflow, p.contacts.get(&id)) {
            (Some(trigger), Some(cfg), Some(c)) => {
                Some((cfg.clone(), workflow_body(p, c, trigger, t)))
            }
            _ => None,
        };
        w.emit(portal, changes, &src, t);
        if let Some((cfg, body)) = job {
            enqueue_workflow(w, portal, &cfg, &body, t);
            summary.workflow_requests += 1;
        }
    }
    let after: usize = w.portals.get(&portal).map_or(0, |p| p.pending.len());
    summary.webhook_events = after.saturating_sub(before);
    summary
}

/// Queues one workflow webhook request.
pub(crate) fn enqueue_workflow(
    w: &mut World,
    portal: PortalId,
    cfg: &crate::setup::WorkflowConfig,
    body: &serde_json::Value,
    now_ms: i64,
) {
    let job_id = w.next_batch_id;
    w.next_batch_id += 1;
    w.workflow_jobs.push(WorkflowJob {
        job_id,
        portal,
        url: cfg.target_url.clone(),
        body: serde_json::to_vec(body).unwrap_or_default(),
        sign: cfg.sign,
        include_v3: cfg.include_v3,
        attempt: 0,
        due_ms: now_ms,
        first_ms: now_ms,
    });
}

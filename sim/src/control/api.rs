//! `Control`: typed access to the simulator for tests and the demo. Every method is also on
//! the HTTP control API (`control::http`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::calllog::CallRecord;
use crate::config::AppType;
use crate::generator;
use crate::hubspot::legacy::LegacyPaths;
use crate::hubspot::oauth::issue_access;
use crate::ratelimit::Limiter;
use crate::rng::SimRng;
use crate::setup::{
    ContactView, DeliveryAttempt, Faults, InstallTokens, PortalInfo, PortalSpec, Subscription,
    WorkflowConfig,
};
use crate::state::{Portal, PortalId, RefreshToken, Shared, World, properties};

/// Handle on a running simulator's state. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
    /// The legacy-path counter and switch (`hubspot::legacy`).
    pub(crate) legacy: Arc<LegacyPaths>,
}

/// Scopes a control-API install grants.
const INSTALL_SCOPES: &[&str] = &[
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
];

fn info(p: &Portal) -> PortalInfo {
    PortalInfo {
        id: p.id,
        app_type: p.app_type,
        private_token: p.private_token.clone(),
        installed: p.installed,
        time_zone: p.time_zone.clone(),
        utc_offset_ms: p.utc_offset_ms,
        contacts: p.contacts.values().filter(|c| !c.archived).count(),
    }
}

/// Creates a portal in a locked world.
pub(crate) fn create_portal_locked(w: &mut World, spec: &PortalSpec, now_ms: i64) -> PortalInfo {
    let seq = w.next_portal_seq;
    w.next_portal_seq += 1;
    let mut rng = SimRng::derive(w.seed, 1_000 + seq);
    let mut id = spec.id.unwrap_or_else(|| rng.range(20_000_000, 99_999_999));
    while w.portals.contains_key(&id) {
        id += 1;
    }
    let (tz, offset) = spec
        .time_zone
        .as_deref()
        .and_then(|t| generator::TIME_ZONES.iter().find(|(n, _)| *n == t))
        .copied()
        .unwrap_or_else(|| *rng.pick(generator::TIME_ZONES));
    let private_token =
        matches!(spec.app_type, AppType::Private { .. }).then(|| format!("pat-na1-{}", w.uuid()));
    let created = crate::clock::ms_to_datetime(now_ms);
    let props = properties::default_properties(created);
    let index = props
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.clone(), i))
        .collect();
    let user_id = rng.range(1_000_000, 99_999_999);
    let portal = Portal {
        id,
        app_type: spec.app_type,
        time_zone: tz.into(),
        utc_offset_ms: offset,
        domain: format!("portal-{id}.example.com"),
        user_id,
        user_email: format!("admin@portal-{id}.example.com"),
        installed: false,
        private_token: private_token.clone(),
        public_daily_limit: spec.public_daily_limit,
        contacts: BTreeMap::new(),
        by_email: Default::default(),
        merged: Default::default(),
        properties: props,
        property_index: index,
        groups: properties::default_groups(),
        limiter: Limiter::default(),
        pending: Default::default(),
        in_flight: 0,
        workflow: None,
        faults: None,
        search_index: crate::state::SearchIndex::new(w.search_index_delay_ms),
        validation_rules: Vec::new(),
    };
    w.portals.insert(id, portal);
    if let Some(t) = private_token {
        w.private_tokens.insert(t, id);
    }
    let mut crng = SimRng::derive(w.seed, id);
    generator::seed_contacts(w, id, spec.contacts, &mut crng, now_ms);
    // Generated contacts are history: search has long indexed them.
    if let Some(p) = w.portals.get_mut(&id) {
        p.search_index.settle();
    }
    w.portals
        .get(&id)
        .map(info)
        .unwrap_or_else(|| unreachable_portal(id))
}

fn unreachable_portal(id: PortalId) -> PortalInfo {
    PortalInfo {
        id,
        app_type: AppType::Public,
        private_token: None,
        installed: false,
        time_zone: String::new(),
        utc_offset_ms: 0,
        contacts: 0,
    }
}

impl Control {
    /// The control of a simulator's state; legacy paths are refused as its config says.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let refuse = shared.config.refuse_legacy_paths;
        Self {
            shared,
            legacy: Arc::new(LegacyPaths::new(refuse)),
        }
    }

    /// Calls received on HubSpot's legacy paths (`/oauth/v1`, `/crm/v3`, `/account-info/v3`,
    /// `/appinstalls/v3`) since the start, refused ones included. Ember's must be 0.
    pub fn legacy_calls(&self) -> u64 {
        self.legacy.calls()
    }

    /// Refuses (404, as HubSpot refuses a project app) or serves the legacy paths.
    pub fn set_refuse_legacy_paths(&self, refuse: bool) {
        self.legacy.set_refuse(refuse);
    }

    /// Whether the legacy paths are refused.
    pub fn refuses_legacy_paths(&self) -> bool {
        self.legacy.refuses()
    }

    pub(super) fn now(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    // ---- portals and installs ----

    /// Creates a portal (public app by default) with generated contacts.
    pub fn create_portal(&self, spec: PortalSpec) -> PortalInfo {
        let now = self.now();
        create_portal_locked(&mut self.shared.world(), &spec, now)
    }

    /// Every portal.
    pub fn portals(&self) -> Vec<PortalInfo> {
        self.shared.world().portals.values().map(info).collect()
    }

    /// One portal.
    pub fn portal(&self, portal: PortalId) -> Option<PortalInfo> {
        self.shared.world().portals.get(&portal).map(info)
    }

    /// Installs the public app as if a user had consented, returning fresh tokens.
    pub fn install(&self, portal: PortalId) -> Option<InstallTokens> {
        let now = self.now();
        let mut w = self.shared.world();
        w.portals.get_mut(&portal)?.installed = true;
        let scopes: Vec<String> = INSTALL_SCOPES.iter().map(|s| s.to_string()).collect();
        let refresh = w.uuid();
        w.refresh_tokens.insert(
            refresh.clone(),
            RefreshToken {
                portal,
                scopes: scopes.clone(),
            },
        );
        let access = issue_access(&mut w, portal, scopes, now);
        Some(InstallTokens {
            portal,
            access_token: access,
            refresh_token: refresh,
        })
    }

    /// Issues a Service Key for a portal created with a private tier (HubSpot limits a key as
    /// a privately distributed app, the tier's burst and daily figures). The key authorizes REST
    /// calls like a private app's token and, as at HubSpot, no webhooks are sent for it. `None`
    /// for an unknown portal or a public-app portal.
    pub fn issue_service_key(&self, portal: PortalId) -> Option<String> {
        let mut w = self.shared.world();
        if !matches!(w.portals.get(&portal)?.app_type, AppType::Private { .. }) {
            return None;
        }
        let key = format!("svc-na1-{}", w.uuid());
        w.private_tokens.insert(key.clone(), portal);
        Some(key)
    }

    /// Uninstalls the public app (as the user would in HubSpot's UI).
    pub fn uninstall(&self, portal: PortalId) {
        self.shared.world().uninstall(portal);
    }

    /// How the authorize page answers: deny consent, and which portal consents.
    pub fn set_authorize(&self, deny: bool, portal: Option<PortalId>) {
        let mut w = self.shared.world();
        w.authorize.deny = deny;
        w.authorize.portal = portal;
    }

    /// Sets today's call count of a portal (to reach the daily limit quickly).
    pub fn set_daily_used(&self, portal: PortalId, used: u64) {
        let now = self.now();
        if let Some(p) = self.shared.world().portals.get_mut(&portal) {
            let off = p.utc_offset_ms;
            p.limiter.set_daily_used(now, off, used);
        }
    }

    /// Calls counted today for a portal.
    pub fn daily_used(&self, portal: PortalId) -> u64 {
        self.shared
            .world()
            .portals
            .get(&portal)
            .map_or(0, |p| p.limiter.daily_used())
    }

    // ---- app and webhook settings ----

    /// The app's webhook target URL (`None` stops delivery).
    pub fn set_webhook_target(&self, url: Option<String>) {
        self.shared.world().app.webhook_target_url = url;
    }

    /// Replaces the app's subscriptions.
    pub fn set_subscriptions(&self, subs: Vec<Subscription>) {
        self.shared.world().subscriptions = subs;
    }

    /// The app's subscriptions.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.shared.world().subscriptions.clone()
    }

    /// Whether the app's own API writes produce webhooks to it (HubSpot: yes).
    pub fn set_echo_app_writes(&self, on: bool) {
        self.shared.world().echo_app_writes = on;
    }

    /// Gives a portal a workflow with a "Send a webhook" action (or removes it).
    pub fn set_workflow(&self, portal: PortalId, cfg: Option<WorkflowConfig>) {
        if let Some(p) = self.shared.world().portals.get_mut(&portal) {
            p.workflow = cfg;
        }
    }

    /// Enrolls a contact in the portal's workflow now. False if there is no workflow or
    /// contact.
    pub fn trigger_workflow(&self, portal: PortalId, contact: u64, trigger: &str) -> bool {
        let now = self.now();
        let mut w = self.shared.world();
        let Some(p) = w.portals.get(&portal) else {
            return false;
        };
        let (Some(cfg), Some(c)) = (p.workflow.clone(), p.contacts.get(&contact)) else {
            return false;
        };
        let body = crate::webhooks::workflow_body(p, c, trigger, now);
        generator::enqueue_workflow(&mut w, portal, &cfg, &body, now);
        true
    }

    // ---- clock ----

    /// Simulator time, epoch ms.
    pub fn now_ms(&self) -> i64 {
        self.now()
    }

    /// Sets simulator time.
    pub fn set_time_ms(&self, ms: i64) {
        self.shared.clock.set_ms(ms);
    }

    /// Moves simulator time forward.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance_ms(by.as_millis() as i64);
    }

    /// Sets the clock speed (1.0 real time, 0 frozen, 1000 = a thousand times faster).
    pub fn set_speed(&self, speed: f64) {
        self.shared.clock.set_speed(speed);
    }

    // ---- faults ----

    /// Sets the faults of one portal, or the global ones with `None`.
    pub fn set_faults(&self, portal: Option<PortalId>, faults: Faults) {
        let mut w = self.shared.world();
        match portal {
            Some(p) => {
                if let Some(p) = w.portals.get_mut(&p) {
                    p.faults = Some(faults);
                }
            }
            None => w.faults = faults,
        }
    }

    /// The faults in force for a portal (or the global ones).
    pub fn faults(&self, portal: Option<PortalId>) -> Faults {
        self.shared.world().faults_for(portal).clone()
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        let mut w = self.shared.world();
        w.faults = Faults::default();
        for p in w.portals.values_mut() {
            p.faults = None;
        }
    }

    // ---- observation ----

    /// Every HubSpot-path call answered, in order (up to the log's capacity).
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.world().calls.records().cloned().collect()
    }

    /// Calls of one portal.
    pub fn calls_for(&self, portal: PortalId) -> Vec<CallRecord> {
        self.shared
            .world()
            .calls
            .records()
            .filter(|r| r.portal == Some(portal))
            .cloned()
            .collect()
    }

    /// Total calls answered since start (not capped).
    pub fn call_count(&self) -> u64 {
        self.shared.world().calls.total()
    }

    /// 429s by `policyName`, for one portal or all.
    pub fn rate_limited(&self, portal: Option<PortalId>) -> BTreeMap<String, u64> {
        self.shared.world().calls.by_policy(portal)
    }

    /// Forgets the call log.
    pub fn clear_calls(&self) {
        self.shared.world().calls.clear();
    }

    /// Every property value of a contact (following merges).
    pub fn contact(&self, portal: PortalId, id: u64) -> Option<ContactView> {
        let w = self.shared.world();
        let p = w.portals.get(&portal)?;
        let id = p
            .resolve(id, true)
            .or_else(|| p.contacts.get(&id).map(|c| c.id))?;
        p.contacts.get(&id).map(|c| ContactView {
            id: c.id,
            properties: c.props.clone(),
            archived: c.archived,
        })
    }

    /// A contact by email.
    pub fn contact_by_email(&self, portal: PortalId, email: &str) -> Option<ContactView> {
        let id = self
            .shared
            .world()
            .portals
            .get(&portal)?
            .lookup(email, Some("email"), false)?;
        self.contact(portal, id)
    }

    /// Live contact ids of a portal, ascending.
    pub fn contact_ids(&self, portal: PortalId) -> Vec<u64> {
        self.shared
            .world()
            .portals
            .get(&portal)
            .map_or(Vec::new(), |p| {
                p.contacts
                    .values()
                    .filter(|c| !c.archived)
                    .map(|c| c.id)
                    .collect()
            })
    }

    /// Every delivery attempt (app and workflow), in order of completion.
    pub fn deliveries(&self) -> Vec<DeliveryAttempt> {
        self.shared.world().deliveries.clone()
    }

    /// Runs `f` over every delivery attempt recorded so far, under the lock and without copying
    /// them (bodies make a full copy costly for a caller that reads new attempts every second).
    /// Keep `f` short: the simulator waits while it runs. In-process only (`GET /_sim/deliveries`
    /// is its HTTP counterpart).
    pub fn inspect_deliveries<R>(&self, f: impl FnOnce(&[DeliveryAttempt]) -> R) -> R {
        f(&self.shared.world().deliveries)
    }

    /// Names of a portal's contact properties: HubSpot's defaults and those created through the
    /// API (an app's provisioned properties, for example). In-process only; over HTTP, HubSpot's
    /// own `GET /crm/v3/properties/contacts` lists them.
    pub fn property_names(&self, portal: PortalId) -> Vec<String> {
        self.shared
            .world()
            .portals
            .get(&portal)
            .map_or(Vec::new(), |p| {
                p.properties.iter().map(|d| d.name.clone()).collect()
            })
    }

    /// Forgets recorded deliveries.
    pub fn clear_deliveries(&self) {
        self.shared.world().deliveries.clear();
    }

    /// Webhook events queued and not yet taken into a batch.
    pub fn pending_events(&self, portal: PortalId) -> usize {
        self.shared
            .world()
            .portals
            .get(&portal)
            .map_or(0, |p| p.pending.len())
    }

    /// Batches and jobs waiting for a retry.
    pub fn pending_retries(&self) -> usize {
        let w = self.shared.world();
        w.app_retries.len() + w.workflow_jobs.len()
    }

    /// Waits (bounded) until `cond` holds over the deliveries; true if it did.
    pub async fn wait_for_deliveries(
        &self,
        timeout: Duration,
        cond: impl Fn(&[DeliveryAttempt]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if cond(&self.shared.world().deliveries) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Why a portal's validation rules were not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesRefused {
    /// No such portal.
    NoPortal(PortalId),
    /// A rule cannot be used; nothing was changed.
    BadRule {
        /// Position of the rule in the input.
        index: usize,
        /// Its property.
        property: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl std::fmt::Display for RulesRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulesRefused::NoPortal(p) => write!(f, "portal {p} does not exist"),
            RulesRefused::BadRule {
                index,
                property,
                problem,
            } => write!(f, "rule {index} ({property}): {problem}"),
        }
    }
}

impl std::error::Error for RulesRefused {}

// ---- write validation (docs/hubspot.md P3) ----
impl Control {
    /// Replaces a portal's write-validation rules: API writes that break one fail with
    /// `VALIDATION_ERROR` (a batch write only in the offending row). Every rule must name a
    /// property the portal defines; a bad rule refuses the whole set.
    pub fn set_validation_rules(
        &self,
        portal: PortalId,
        rules: Vec<crate::setup::ValidationRule>,
    ) -> Result<(), RulesRefused> {
        let mut w = self.shared.world();
        let p = w
            .portals
            .get_mut(&portal)
            .ok_or(RulesRefused::NoPortal(portal))?;
        for (index, rule) in rules.iter().enumerate() {
            let problem = if p.property(&rule.property_name).is_none() {
                Some("the portal defines no such property".to_string())
            } else if rule.message.trim().is_empty() {
                Some("the rule needs a message".to_string())
            } else {
                rule.check.problem()
            };
            if let Some(problem) = problem {
                return Err(RulesRefused::BadRule {
                    index,
                    property: rule.property_name.clone(),
                    problem,
                });
            }
        }
        p.validation_rules = rules;
        Ok(())
    }

    /// A portal's write-validation rules (`None`: no such portal).
    pub fn validation_rules(&self, portal: PortalId) -> Option<Vec<crate::setup::ValidationRule>> {
        self.shared
            .world()
            .portals
            .get(&portal)
            .map(|p| p.validation_rules.clone())
    }
}

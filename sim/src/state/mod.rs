//! The simulator's world: portals, their contacts and property definitions, tokens, the call
//! log, webhook queues and faults. One mutex guards it; every critical section is short (a map
//! lookup and a few writes), which keeps the CRM paths well above 5,000 requests per second.

mod contacts;
pub(crate) mod properties;
mod search_index;
mod validation;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use ember_hubspot::wire::properties::{Property, PropertyGroup};
use ember_hubspot::wire::webhook::WebhookEvent;

pub(crate) use contacts::{Change, ChangeSource, Contact, DEFAULT_PROPERTIES, WriteError};
pub(crate) use search_index::SearchIndex;

/// The default property names, owned.
pub(crate) fn contacts_default_properties() -> impl Iterator<Item = String> {
    DEFAULT_PROPERTIES.iter().map(|s| (*s).to_string())
}

use crate::calllog::CallLog;
use crate::clock::SimClock;
use crate::config::{AppConfig, AppType, SimConfig};
use crate::in_flight::{AppBatch, WorkflowJob};
use crate::ratelimit::Limiter;
use crate::rng::SimRng;
use crate::setup::{DeliveryAttempt, Faults, Subscription, ValidationRule, WorkflowConfig};

/// A HubSpot account id.
pub use crate::setup::PortalId;

/// State shared by the HTTP handlers, the control API and the delivery loops.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) clock: SimClock,
    world: Mutex<World>,
    pub(crate) http: reqwest::Client,
}

impl Shared {
    pub(crate) fn new(config: SimConfig) -> anyhow::Result<Self> {
        let start = config
            .start_ms
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        let clock = SimClock::new(start, config.clock_speed);
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Our reqwest has no built-in provider (docs/dependencies.md, "rustls"); a race with another installer
            // is harmless, so the result is ignored.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.workflow_connect_timeout)
            .pool_max_idle_per_host(32)
            .build()?;
        let world = World::new(&config);
        Ok(Self {
            config,
            clock,
            world: Mutex::new(world),
            http,
        })
    }

    /// Locks the world. A panic elsewhere never poisons the simulator for good.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An OAuth access token.
#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub(crate) portal: PortalId,
    pub(crate) expires_ms: i64,
    pub(crate) scopes: Vec<String>,
}

/// An OAuth refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    pub(crate) portal: PortalId,
    pub(crate) scopes: Vec<String>,
}

/// An authorization code, single use.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub(crate) portal: PortalId,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_ms: i64,
}

/// How the authorize page answers.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthorizeMode {
    pub(crate) deny: bool,
    pub(crate) portal: Option<PortalId>,
}

/// One HubSpot account.
pub(crate) struct Portal {
    pub(crate) id: PortalId,
    pub(crate) app_type: AppType,
    pub(crate) time_zone: String,
    pub(crate) utc_offset_ms: i64,
    pub(crate) domain: String,
    pub(crate) user_id: u64,
    pub(crate) user_email: String,
    /// The public app is installed (OAuth) — webhooks flow only then.
    pub(crate) installed: bool,
    pub(crate) private_token: Option<String>,
    pub(crate) public_daily_limit: Option<u64>,
    pub(crate) contacts: BTreeMap<u64, Contact>,
    pub(crate) by_email: HashMap<String, u64>,
    /// Old (merged-away) id → the record that absorbed it.
    pub(crate) merged: HashMap<u64, u64>,
    pub(crate) properties: Vec<Property>,
    pub(crate) property_index: HashMap<String, usize>,
    pub(crate) groups: Vec<PropertyGroup>,
    pub(crate) limiter: Limiter,
    pub(crate) pending: VecDeque<WebhookEvent>,
    pub(crate) in_flight: usize,
    pub(crate) workflow: Option<WorkflowConfig>,
    pub(crate) faults: Option<Faults>,
    /// What search sees of recent writes.
    pub(crate) search_index: SearchIndex,
    /// The portal admin's write-validation rules, enforced on API writes (docs/hubspot.md P3).
    pub(crate) validation_rules: Vec<ValidationRule>,
}

/// Everything behind the mutex.
pub(crate) struct World {
    pub(crate) app: AppConfig,
    pub(crate) subscriptions: Vec<Subscription>,
    pub(crate) portals: BTreeMap<PortalId, Portal>,
    pub(crate) access_tokens: HashMap<String, AccessToken>,
    pub(crate) refresh_tokens: HashMap<String, RefreshToken>,
    pub(crate) codes: HashMap<String, AuthCode>,
    pub(crate) private_tokens: HashMap<String, PortalId>,
    pub(crate) authorize: AuthorizeMode,
    pub(crate) calls: CallLog,
    pub(crate) deliveries: Vec<DeliveryAttempt>,
    pub(crate) faults: Faults,
    pub(crate) rng: SimRng,
    pub(crate) seed: u64,
    pub(crate) echo_app_writes: bool,
    /// Sim time before search sees a write (`SimConfig::search_index_delay`).
    pub(crate) search_index_delay_ms: i64,
    /// Batch answers list their rows in a shuffled order (`SimConfig::shuffle_batch_answers`).
    pub(crate) shuffle_batch_answers: bool,
    pub(crate) next_object_id: u64,
    pub(crate) next_event_id: u64,
    pub(crate) next_portal_seq: u64,
    pub(crate) next_batch_id: u64,
    pub(crate) app_retries: Vec<AppBatch>,
    pub(crate) workflow_jobs: Vec<WorkflowJob>,
    pub(crate) workflow_in_flight: usize,
}

impl World {
    /// Removes the public app from a portal: its tokens die, its webhooks stop (an uninstall
    /// through the control API, or the app's own `DELETE` of its install).
    pub(crate) fn uninstall(&mut self, portal: PortalId) {
        if let Some(p) = self.portals.get_mut(&portal) {
            p.installed = false;
            p.pending.clear();
        }
        self.access_tokens.retain(|_, t| t.portal != portal);
        self.refresh_tokens.retain(|_, t| t.portal != portal);
        self.app_retries.retain(|b| b.portal != portal);
    }

    fn new(config: &SimConfig) -> Self {
        let mut rng = SimRng::derive(config.seed, 1);
        Self {
            app: config.app.clone(),
            subscriptions: crate::setup::default_subscriptions(),
            portals: BTreeMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            codes: HashMap::new(),
            private_tokens: HashMap::new(),
            authorize: AuthorizeMode::default(),
            calls: CallLog::new(config.call_log_capacity),
            deliveries: Vec::new(),
            faults: Faults::default(),
            next_object_id: 100_000_000 + rng.range(0, 1_000_000) * 100,
            next_event_id: 3_000_000_000 + rng.range(0, 100_000_000),
            rng,
            seed: config.seed,
            echo_app_writes: config.echo_app_writes,
            search_index_delay_ms: i64::try_from(config.search_index_delay.as_millis())
                .unwrap_or(i64::MAX),
            shuffle_batch_answers: config.shuffle_batch_answers,
            next_portal_seq: 0,
            next_batch_id: 1,
            app_retries: Vec::new(),
            workflow_jobs: Vec::new(),
            workflow_in_flight: 0,
        }
    }

    pub(crate) fn next_object_id(&mut self) -> u64 {
        let id = self.next_object_id;
        self.next_object_id += 1 + self.rng.range(0, 3);
        id
    }

    /// The faults in force for a portal (its own, or the global ones).
    pub(crate) fn faults_for(&self, portal: Option<PortalId>) -> &Faults {
        portal
            .and_then(|p| self.portals.get(&p))
            .and_then(|p| p.faults.as_ref())
            .unwrap_or(&self.faults)
    }

    pub(crate) fn faults_for_mut(&mut self, portal: Option<PortalId>) -> &mut Faults {
        let own = portal
            .and_then(|p| self.portals.get(&p))
            .is_some_and(|p| p.faults.is_some());
        if own
            && let Some(f) = portal
                .and_then(|p| self.portals.get_mut(&p))
                .and_then(|p| p.faults.as_mut())
        {
            return f;
        }
        &mut self.faults
    }

    /// Puts batch answer rows in the order HubSpot's are in: not the input order (shuffled from
    /// the seeded generator), unless `shuffle_batch_answers` is off (docs/hubspot.md E.3).
    pub(crate) fn answer_order<T>(&mut self, rows: &mut [T]) {
        if !self.shuffle_batch_answers {
            return;
        }
        for i in (1..rows.len()).rev() {
            let j = self.rng.range(0, i as u64 + 1) as usize;
            rows.swap(i, j);
        }
    }

    /// A fresh opaque token.
    pub(crate) fn token(&mut self, prefix: &str, len: usize) -> String {
        use base64::Engine;
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            bytes.extend_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        bytes.truncate(len);
        format!(
            "{prefix}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    /// A fresh UUID-shaped string from the seeded generator.
    pub(crate) fn uuid(&mut self) -> String {
        let a = self.rng.next_u64();
        let b = self.rng.next_u64();
        let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }
}

impl Portal {
    pub(crate) fn property(&self, name: &str) -> Option<&Property> {
        self.property_index.get(name).map(|i| &self.properties[*i])
    }

    pub(crate) fn add_property(&mut self, p: Property) {
        self.property_index
            .insert(p.name.clone(), self.properties.len());
        self.properties.push(p);
    }

    /// Resolves a record id, following merges when `follow_merges` (single endpoints only).
    pub(crate) fn resolve(&self, id: u64, follow_merges: bool) -> Option<u64> {
        if self.contacts.get(&id).is_some_and(|c| !c.archived) {
            return Some(id);
        }
        if follow_merges {
            let mut cur = *self.merged.get(&id)?;
            for _ in 0..300 {
                match self.merged.get(&cur) {
                    Some(next) => cur = *next,
                    None => break,
                }
            }
            return self
                .contacts
                .get(&cur)
                .filter(|c| !c.archived)
                .map(|c| c.id);
        }
        None
    }

    /// Finds a live record by an id string, or by email when `id_property` is `email`.
    pub(crate) fn lookup(
        &self,
        id: &str,
        id_property: Option<&str>,
        follow_merges: bool,
    ) -> Option<u64> {
        match id_property {
            None | Some("hs_object_id") => self.resolve(id.parse().ok()?, follow_merges),
            Some("email") => self
                .by_email
                .get(&id.to_ascii_lowercase())
                .copied()
                .filter(|i| self.contacts.get(i).is_some_and(|c| !c.archived)),
            Some(other) => self
                .contacts
                .values()
                .find(|c| !c.archived && c.props.get(other).map(String::as_str) == Some(id))
                .map(|c| c.id),
        }
    }
}

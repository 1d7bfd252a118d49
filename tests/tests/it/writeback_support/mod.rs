//! Shared by the write-back scenarios: the write-back wired to the real HubSpot client
//! (`ember_hubspot::HubSpot`, gated by the Redis limiter) talking HTTP to `hubspot-sim`.
//! Nothing here imitates HubSpot.

#![allow(dead_code)]

pub use ember_worker::writeback;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ember_core::config::{LimiterSettings, Settings};
use ember_core::domain::{ObjectId, PortalId};
use ember_core::limiter::{AccountLimits, Limiter, PortalZone};
use ember_core::store::outbox::{self, OutboxRow};
use ember_hubspot::crm::{BatchUpdate, UpdateRow};
use ember_hubspot::wire::properties::{PropertyCreate, PropertyGroupCreate};
use ember_hubspot::{HubSpot, HubSpotConfig};
use hubspot_sim::{CallRecord, SimHandle};
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::oneshot;
use writeback::{Crm, LimiterGate, Writeback, WritebackOptions};

pub const BATCH_UPDATE: &str = "/crm/objects/2026-09/contacts/batch/update";

/// The write-back as `ember worker` runs it (`[worker]` of `config/default.toml`), except that
/// a partial batch goes at once and no score waits for context: these scenarios drive the
/// outbox themselves, count calls per turn, and run no context fetch.
pub fn sending_at_once() -> WritebackOptions {
    let defaults = Settings::load_from(None, Vec::new()).expect("config/default.toml loads");
    WritebackOptions {
        linger: Duration::ZERO,
        quiet: Duration::ZERO,
        context_wait: Duration::ZERO,
        ..WritebackOptions::from_settings(&defaults.worker)
    }
}

/// Ember's score properties as the tests provision them.
pub fn score_properties() -> (PropertyGroupCreate, Vec<PropertyCreate>) {
    let group = serde_json::from_value(
        serde_json::json!({"name": "ember", "label": "Ember", "displayOrder": -1}),
    )
    .expect("valid group");
    let prop = |name: &str, label: &str, type_: &str, field_type: &str| -> PropertyCreate {
        serde_json::from_value(serde_json::json!({
            "name": name, "label": label, "type": type_, "fieldType": field_type, "groupName": "ember"
        }))
        .expect("valid property")
    };
    (
        group,
        vec![
            prop("ember_score", "Ember score", "number", "number"),
            prop("ember_grade", "Ember grade", "string", "text"),
        ],
    )
}

/// [`Crm`] over the real client and the simulator's install tokens.
pub struct SimCrm {
    pub client: HubSpot,
    pub tokens: HashMap<i64, SecretString>,
}

impl SimCrm {
    fn token(&self, portal: PortalId) -> Result<&SecretString, ember_hubspot::Error> {
        self.tokens
            .get(&portal.get())
            .ok_or_else(|| ember_hubspot::Error::Invalid(format!("no token for portal {portal}")))
    }
}

impl Crm for SimCrm {
    async fn batch_update(
        &self,
        portal: PortalId,
        rows: Vec<UpdateRow>,
    ) -> Result<BatchUpdate, ember_hubspot::Error> {
        Ok(self
            .client
            .batch_update_contacts(portal.get(), self.token(portal)?, &rows)
            .await?
            .value)
    }

    async fn resolve(
        &self,
        portal: PortalId,
        id: &str,
    ) -> Result<Option<String>, ember_hubspot::Error> {
        Ok(self
            .client
            .get_contact(portal.get(), self.token(portal)?, id, &[])
            .await?
            .value
            .map(|c| c.id))
    }

    async fn provision(&self, portal: PortalId) -> Result<(), ember_hubspot::Error> {
        let (group, props) = score_properties();
        self.client
            .ensure_properties(
                portal.get(),
                self.token(portal)?,
                "contacts",
                &group,
                &props,
            )
            .await
            .map(|_| ())
    }
}

pub fn limiter_settings(processes: u32) -> LimiterSettings {
    LimiterSettings {
        public_burst: 110,
        window_ms: 10_000,
        safety_margin: 0.05,
        window_padding_ms: 250,
        processes,
        max_wait_ms: 30_000,
        redis_timeout_ms: 250,
    }
}

/// One Ember worker process: its own Postgres pool, Redis pool, limiter, client and write-back.
pub struct Process {
    pub writeback: Arc<Writeback<SimCrm>>,
    pub gate: Arc<LimiterGate>,
    pub crm: Arc<SimCrm>,
    pub limiter: Arc<Limiter>,
}

impl Process {
    pub async fn start(
        sim: &SimHandle,
        db_url: &str,
        redis_prefix: &str,
        tokens: &HashMap<i64, String>,
        processes: u32,
        options: WritebackOptions,
    ) -> anyhow::Result<Self> {
        let limiter = Arc::new(Limiter::connect(
            ember_tests::REDIS_URL,
            redis_prefix,
            limiter_settings(processes),
        )?);
        let gate = Arc::new(LimiterGate::new(
            limiter.clone(),
            AccountLimits::public(PortalZone::UTC),
        ));
        let base = reqwest::Url::parse(&sim.base_url())?;
        let client = HubSpot::new(HubSpotConfig {
            api_base_url: base.clone(),
            auth_base_url: base,
            client_id: sim.app().client_id,
            client_secret: None,
            timeout: Duration::from_secs(10),
        })?
        .with_gate(gate.clone());
        let crm = Arc::new(SimCrm {
            client,
            tokens: tokens
                .iter()
                .map(|(p, t)| (*p, SecretString::from(t.clone())))
                .collect(),
        });
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(5)
            .connect(db_url)
            .await?;
        let writeback = Arc::new(Writeback::new(pool, crm.clone(), gate.clone(), options).await?);
        Ok(Self {
            writeback,
            gate,
            crm,
            limiter,
        })
    }

    /// Runs the write-back loop in the background until the returned sender is dropped or fired.
    pub fn spawn(&self) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = oneshot::channel::<()>();
        let wb = self.writeback.clone();
        let task = tokio::spawn(wb.run_until_stopped(async move {
            let _ = rx.await;
        }));
        (tx, task)
    }
}

/// Score values for contact `id` at `version`.
pub fn values(id: u64, version: i64) -> BTreeMap<String, String> {
    let score = (id as i64 * 7 + version * 13) % 100;
    let grade = ["A", "B", "C", "D"][(score / 25) as usize];
    BTreeMap::from([
        ("ember_score".to_owned(), score.to_string()),
        ("ember_grade".to_owned(), grade.to_owned()),
    ])
}

/// Writes outbox rows in chunks.
pub async fn fill_outbox(
    pool: &PgPool,
    portal: PortalId,
    ids: &[u64],
    version: i64,
) -> anyhow::Result<()> {
    for chunk in ids.chunks(2_000) {
        let rows: Vec<OutboxRow> = chunk
            .iter()
            .map(|id| OutboxRow {
                contact_id: ObjectId::new(*id as i64).unwrap(),
                properties: values(*id, version),
                version,
            })
            .collect();
        let mut conn = pool.acquire().await?;
        outbox::upsert(&mut conn, portal, &rows).await?;
    }
    Ok(())
}

pub async fn pending(pool: &PgPool, portal: PortalId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM score_outbox WHERE portal_id = $1")
        .bind(portal.get())
        .fetch_one(pool)
        .await
        .unwrap_or(-1)
}

/// Waits until the portal's outbox is empty (or `limit` passes).
pub async fn wait_drained(pool: &PgPool, portal: PortalId, limit: Duration) -> Duration {
    let start = Instant::now();
    while pending(pool, portal).await != 0 {
        assert!(
            start.elapsed() < limit,
            "outbox not drained after {limit:?}: {} rows left",
            pending(pool, portal).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// The most calls HubSpot's rolling 10 s window ever held, by the simulator's own clock.
pub fn max_in_rolling_window(calls: &[CallRecord]) -> usize {
    let mut at: Vec<i64> = calls
        .iter()
        .filter(|c| c.status != 0)
        .map(|c| c.at_ms)
        .collect();
    at.sort_unstable();
    at.iter()
        .enumerate()
        .map(|(i, t)| i + 1 - at.partition_point(|x| *x <= t - 10_000))
        .max()
        .unwrap_or(0)
}

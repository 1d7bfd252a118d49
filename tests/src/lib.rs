//! Ember's test harness: throwaway Postgres databases, RabbitMQ prefixes and Redis key prefixes
//! so tests run side by side and leave nothing behind, plus `spawn_api` and request signing.
//!
//! The services are the real local ones (see README). Each resource is removed when its guard
//! drops, from a helper thread, so a failing test cleans up too.

use std::sync::Once;

use anyhow::Context;
use ember_core::config::Settings;
use ember_core::domain::{EventBatch, PortalId};
use ember_core::queue::Topology;
use lapin::options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Installs the TLS provider and a quiet log subscriber, once per test binary.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let filter = std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into());
        let _ = tracing_subscriber_init(&filter);
    });
}

fn tracing_subscriber_init(filter: &str) -> Result<(), ()> {
    if filter == "off" {
        return Ok(());
    }
    ember_core::telemetry::init_tracing(&ember_core::config::TelemetrySettings {
        format: ember_core::config::LogFormat::Pretty,
        level: filter.to_owned(),
    });
    Ok(())
}

/// A unique, short name for this test's resources.
pub fn unique_name(kind: &str) -> String {
    format!(
        "{kind}_{}",
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..12)
            .unwrap_or("x")
    )
}

/// A fresh database with every migration applied; dropped with the guard.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn new() -> anyhow::Result<Self> {
        init();
        let name = unique_name("ember_test");
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(POSTGRES_ADMIN_URL)
            .await
            .context(
                "cannot reach PostgreSQL at 127.0.0.1:5432; start it with: \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
            )?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&admin)
            .await?;
        admin.close().await;
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}?sslmode=disable");
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect(&url)
            .await?;
        ember_core::store::MIGRATOR
            .run(&pool)
            .await
            .context("migrations")?;
        Ok(Self { name, url, pool })
    }

    /// Registers an installed portal.
    pub async fn add_portal(&self, portal: i64) -> anyhow::Result<PortalId> {
        let id = PortalId::new(portal)?;
        ember_core::store::portals::upsert_active(&self.pool, id).await?;
        Ok(id)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // The pool belongs to the test's runtime, which is blocked while we drop: do not await
        // it here. FORCE ends its connections.
        run_detached(async move {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect(POSTGRES_ADMIN_URL)
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&admin)
            .await?;
            Ok(())
        });
    }
}

/// A unique broker prefix; its exchanges and queues are deleted with the guard.
pub struct TestBroker {
    pub prefix: String,
    pub topology: Topology,
}

impl TestBroker {
    /// A prefix with the configured retry ladder.
    pub fn new() -> Self {
        Self::with_retry_delays(&default_retry_delays())
    }

    /// A prefix with its own retry ladder (milliseconds, shortest first); [`test_settings`]
    /// hands it to the api and workers.
    pub fn with_retry_delays(retry_delays_ms: &[u32]) -> Self {
        init();
        let prefix = unique_name("t");
        Self {
            topology: Topology::new(&prefix, retry_delays_ms),
            prefix,
        }
    }

    /// Every queue of this broker prefix (events, dead letters, its retry tiers).
    pub fn queues(&self) -> Vec<String> {
        let mut names = vec![
            self.topology.events_queue(),
            self.topology.dead_letter_queue(),
        ];
        names.extend(
            self.topology
                .retry_tiers()
                .iter()
                .map(|tier| self.topology.retry_queue(tier)),
        );
        names
    }

    pub async fn connect(&self) -> anyhow::Result<Connection> {
        Connection::connect(AMQP_URL, ConnectionProperties::default())
            .await
            .context(
                "cannot reach RabbitMQ at 127.0.0.1:5672; start it with: rabbitmq-server -detached",
            )
    }

    /// Takes every message now on the events queue (acknowledging them), decoded.
    pub async fn drain_events(&self) -> anyhow::Result<Vec<EventBatch>> {
        self.drain_queue(&self.topology.events_queue()).await
    }

    /// Takes every message now on a queue, decoded as event batches.
    pub async fn drain_queue(&self, queue: &str) -> anyhow::Result<Vec<EventBatch>> {
        let conn = self.connect().await?;
        let channel = conn.create_channel().await?;
        let mut batches = Vec::new();
        while let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await?
        {
            batches.push(
                serde_json::from_slice(&message.delivery.data)
                    .context("message is an EventBatch")?,
            );
        }
        conn.close(200, "done".into()).await?;
        Ok(batches)
    }

    /// Number of messages ready on a queue (declares nothing: the queue must exist).
    pub async fn depth(&self, queue: &str) -> anyhow::Result<u32> {
        let conn = self.connect().await?;
        let channel = conn.create_channel().await?;
        let q = channel
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await?;
        conn.close(200, "done".into()).await?;
        Ok(q.message_count())
    }
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let queues = self.queues();
        run_detached(async move {
            let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
            let channel = conn.create_channel().await?;
            for queue in queues {
                // Each deletion may fail with NOT_FOUND, which closes the channel: use a fresh one.
                let channel = conn.create_channel().await?;
                let _ = channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
            for exchange in [
                format!("{prefix}.events"),
                format!("{prefix}.dead"),
                format!("{prefix}.retry"),
            ] {
                let channel = conn.create_channel().await?;
                let _ = channel
                    .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
            }
            drop(channel);
            let _ = conn.close(200, "cleanup".into()).await;
            delete_redis_keys(&prefix).await
        });
    }
}

/// Deletes every Redis key under `<prefix>:` (the broker prefix doubles as this test's Redis
/// prefix in [`test_settings`]).
async fn delete_redis_keys(prefix: &str) -> anyhow::Result<()> {
    use deadpool_redis::redis;
    let pool = deadpool_redis::Config::from_url(REDIS_URL)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))?;
    let mut conn = pool.get().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await?;
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<()>(&mut conn)
            .await?;
    }
    Ok(())
}

/// The retry ladder of `config/default.toml`.
pub fn default_retry_delays() -> Vec<u32> {
    Settings::load_from(None, Vec::new())
        .expect("the embedded defaults load")
        .amqp
        .retry_delays_ms
}

/// Every queue name Ember declares under a prefix with the default retry ladder (events, dead
/// letters, retry tiers).
pub fn queues_with_prefix(prefix: &str) -> Vec<String> {
    let mut names = vec![format!("{prefix}.events"), format!("{prefix}.dead")];
    let topology = Topology::new(prefix, &default_retry_delays());
    names.extend(
        topology
            .retry_tiers()
            .iter()
            .map(|tier| topology.retry_queue(tier)),
    );
    names
}

/// Settings for a test: this test's database and prefixes, port 0, a known client secret.
pub fn test_settings(db: &TestDb, broker: &TestBroker, secret: &str) -> anyhow::Result<Settings> {
    let env = vec![
        ("EMBER_DATABASE__URL".to_string(), db.url.clone()),
        ("EMBER_AMQP__PREFIX".to_string(), broker.prefix.clone()),
        ("EMBER_REDIS__PREFIX".to_string(), broker.prefix.clone()),
        ("EMBER_SERVER__PORT".to_string(), "0".to_string()),
        // What HubSpot would call; the api listens elsewhere, as it would behind a proxy.
        (
            "EMBER_PUBLIC_BASE_URL".to_string(),
            "http://ember.test".to_string(),
        ),
        ("EMBER_SERVER__WORKERS".to_string(), "2".to_string()),
        (
            "EMBER_HUBSPOT__CLIENT_SECRET".to_string(),
            secret.to_string(),
        ),
        (
            "EMBER_INTAKE__PORTAL_CACHE_SECS".to_string(),
            "0".to_string(),
        ),
        (
            "EMBER_AMQP__CONFIRM_TIMEOUT_MS".to_string(),
            "1500".to_string(),
        ),
    ];
    let mut settings = Settings::load_from(None, env)?;
    settings.amqp.retry_delays_ms = broker
        .topology
        .retry_tiers()
        .iter()
        .map(|tier| tier.ttl_ms)
        .collect();
    Ok(settings)
}

/// A running api on a random port, with its own database and broker prefix.
pub struct TestApi {
    pub address: String,
    pub port: u16,
    pub secret: String,
    pub settings: Settings,
    pub db: TestDb,
    pub broker: TestBroker,
    pub client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl TestApi {
    /// Starts the api; `adjust` may change settings (public base URL, limits) before it binds.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<Self> {
        let db = TestDb::new().await?;
        let broker = TestBroker::new();
        let secret = "test-client-secret-0000".to_string();
        let mut settings = test_settings(&db, &broker, &secret)?;
        adjust(&mut settings);
        let app = ember_api::Application::build(&settings).await?;
        let port = app.port();
        let address = format!("http://127.0.0.1:{port}");
        let server = tokio::spawn(async move {
            let _ = app.run_until_stopped().await;
        });
        Ok(Self {
            address,
            port,
            secret,
            settings,
            db,
            broker,
            client: reqwest::Client::new(),
            server,
        })
    }

    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(|_| {}).await
    }

    /// Posts an app webhook body signed with v3 as HubSpot would, at `timestamp_ms`.
    pub async fn post_app_webhook(
        &self,
        body: &str,
        timestamp_ms: i64,
    ) -> anyhow::Result<reqwest::Response> {
        let uri = format!("{}/webhooks/hubspot", self.settings.public_base_url);
        let ts = timestamp_ms.to_string();
        let signature =
            ember_core::signature::v3_signature(&self.secret, "POST", &uri, body.as_bytes(), &ts);
        Ok(self
            .client
            .post(format!("{}/webhooks/hubspot", self.address))
            .header("content-type", "application/json")
            .header("x-hubspot-signature-v3", signature)
            .header("x-hubspot-request-timestamp", ts)
            .body(body.to_owned())
            .send()
            .await?)
    }
}

impl Drop for TestApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Runs cleanup on its own thread and runtime, so it works from `Drop` in async tests.
fn run_detached(cleanup: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static) {
    let handle = std::thread::spawn(move || {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => {
                if let Err(e) = rt.block_on(cleanup) {
                    eprintln!("test cleanup failed: {e:#}");
                }
            }
            Err(e) => eprintln!("test cleanup could not start: {e}"),
        }
    });
    let _ = handle.join();
}

/// HubSpot-shaped property-change events for one portal, `count` of them, unique ids.
pub fn property_change_events(
    portal: i64,
    first_event_id: i64,
    count: usize,
    occurred_at_ms: i64,
) -> serde_json::Value {
    let events: Vec<_> = (0..count as i64)
        .map(|i| {
            serde_json::json!({
                "eventId": first_event_id + i,
                "subscriptionId": 2001,
                "portalId": portal,
                "appId": 54321,
                "occurredAt": occurred_at_ms,
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
                "objectId": 500 + i,
                "propertyName": "lifecyclestage",
                "propertyValue": "lead",
                "changeSource": "CRM_UI"
            })
        })
        .collect();
    serde_json::Value::Array(events)
}

/// A TCP proxy in front of a real service, so a test can cut the connection (as a network
/// failure or a broker restart would) and later restore it.
pub struct CutProxy {
    pub port: u16,
    cut: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// Listens on a random loopback port and forwards to `target` (e.g. "127.0.0.1:5672").
    pub async fn start(target: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let target = target.to_owned();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut cut = rx.clone();
                if *cut.borrow() {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|is_cut| *is_cut) => {}
                    }
                });
            }
        });
        Ok(Self {
            port,
            cut: std::sync::Arc::new(tx),
            task,
        })
    }

    /// Drops every open connection and refuses new ones until [`CutProxy::restore`].
    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }

    pub fn restore(&self) {
        let _ = self.cut.send(false);
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The HubSpot client of the simulator's app, ungated.
pub fn sim_hubspot(sim: &hubspot_sim::SimHandle) -> ember_hubspot::HubSpot {
    let app = sim.app();
    ember_hubspot::HubSpot::new(ember_hubspot::HubSpotConfig {
        api_base_url: sim.base_url().parse().expect("sim url"),
        auth_base_url: sim.base_url().parse().expect("sim url"),
        client_id: app.client_id,
        client_secret: Some(secrecy::SecretString::from(app.client_secret)),
        timeout: std::time::Duration::from_secs(10),
    })
    .expect("HubSpot client")
}

/// A simulator portal with `contacts` contacts, installed through Ember's OAuth install into
/// `pool` (tokens sealed with `key`, score properties provisioned, default model active).
/// Returns Ember's portal id and the simulator's.
pub async fn oauth_installed_portal(
    sim: &hubspot_sim::SimHandle,
    pool: &sqlx::PgPool,
    key: [u8; 32],
    contacts: usize,
) -> (ember_core::domain::PortalId, u64) {
    use ember_core::tenancy::install::{AgencyChoice, complete_oauth_install};
    use secrecy::SecretString;

    let info = sim.control().create_portal(hubspot_sim::PortalSpec {
        contacts,
        ..hubspot_sim::PortalSpec::default()
    });
    let t = sim.control().install(info.id).expect("install in the sim");
    let set = ember_hubspot::TokenSet {
        access_token: SecretString::from(t.access_token.clone()),
        refresh_token: Some(SecretString::from(t.refresh_token.clone())),
        expires_in: std::time::Duration::from_secs(1800),
        hub_id: Some(info.id),
        user_id: None,
        scopes: Vec::new(),
    };
    let hubspot = sim_hubspot(sim);
    let token_info = hubspot
        .introspect_access_token(&set.access_token)
        .await
        .expect("introspect")
        .expect("an active token");
    let installed = complete_oauth_install(
        pool,
        &hubspot,
        &std::sync::Arc::new(ember_core::tenancy::TokenCipher::new(key, &[])),
        &set,
        &token_info,
        AgencyChoice::Default,
    )
    .await
    .expect("install");
    (installed.portal, info.id)
}

/// Helpers for worker scenarios: typed events, publishing batches, in-process workers.
pub mod worker {
    use std::time::{Duration, Instant};

    use anyhow::Context;
    use chrono::{DateTime, Utc};
    use ember_core::config::Settings;
    use ember_core::domain::{
        AppEvent, BATCH_FORMAT_VERSION, EventBatch, EventId, EventSource, Merge, ObjectId,
        PortalId, PropertyChange, PropertyName, QueuedEvent, SubscriptionId, SubscriptionType,
    };
    use ember_core::queue::Publisher;
    use ember_worker::{Worker, WorkerOptions};
    use tokio::sync::oneshot;

    /// A millisecond timestamp as a UTC time.
    pub fn ms(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(t).unwrap_or_default()
    }

    /// An app webhook contact event of `kind` (`contact.creation`, `contact.deletion`...).
    pub fn contact_event(
        portal: i64,
        contact: i64,
        kind: &str,
        event_id: i64,
        occurred_ms: i64,
    ) -> QueuedEvent {
        QueuedEvent::App(AppEvent {
            event_id: EventId::new(event_id).expect("valid test value"),
            subscription_id: SubscriptionId::new(2001).expect("valid test value"),
            portal_id: PortalId::new(portal).expect("valid test value"),
            app_id: None,
            occurred_at: ms(occurred_ms),
            subscription_type: SubscriptionType::parse(kind).expect("valid test value"),
            attempt_number: 0,
            object_id: ObjectId::new(contact).ok(),
            object_type_id: None,
            property: None,
            change_source: Some("CRM_UI".into()),
            source_id: None,
            change_flag: None,
            merge: None,
            association: None,
        })
    }

    /// A `contact.propertyChange` event.
    pub fn property_event(
        portal: i64,
        contact: i64,
        name: &str,
        value: &str,
        event_id: i64,
        occurred_ms: i64,
    ) -> QueuedEvent {
        let mut e = contact_event(
            portal,
            contact,
            "contact.propertyChange",
            event_id,
            occurred_ms,
        );
        if let QueuedEvent::App(a) = &mut e {
            a.property = Some(PropertyChange {
                name: PropertyName::parse(name).expect("valid test value"),
                value: value.to_owned(),
            });
        }
        e
    }

    /// A `contact.merge` event: `merged` into `primary`, creating `new_id` (if given).
    pub fn merge_event(
        portal: i64,
        primary: i64,
        merged: &[i64],
        new_id: Option<i64>,
        event_id: i64,
        occurred_ms: i64,
    ) -> QueuedEvent {
        let mut e = contact_event(
            portal,
            new_id.unwrap_or(primary),
            "contact.merge",
            event_id,
            occurred_ms,
        );
        if let QueuedEvent::App(a) = &mut e {
            a.merge = Some(Merge {
                primary_object_id: ObjectId::new(primary).expect("valid test value"),
                merged_object_ids: merged
                    .iter()
                    .filter_map(|m| ObjectId::new(*m).ok())
                    .collect(),
                new_object_id: new_id.and_then(|n| ObjectId::new(n).ok()),
                number_of_properties_moved: None,
            });
        }
        e
    }

    /// One queue message of these events.
    pub fn batch(portal: i64, events: Vec<QueuedEvent>) -> EventBatch {
        EventBatch {
            format: BATCH_FORMAT_VERSION,
            portal_id: PortalId::new(portal).expect("valid test value"),
            source: EventSource::AppWebhook,
            received_at: Utc::now(),
            request_id: uuid::Uuid::new_v4().to_string(),
            events,
        }
    }

    /// A confirmed publisher on the test broker.
    pub async fn publisher(settings: &Settings) -> anyhow::Result<Publisher> {
        Ok(Publisher::connect(
            &settings.amqp.url,
            ember_core::queue::Topology::from_settings(&settings.amqp),
            Duration::from_secs(5),
        )
        .await?)
    }

    /// Publishes batches (confirmed), with the intake's routing key.
    pub async fn publish(publisher: &Publisher, batches: &[EventBatch]) -> anyhow::Result<()> {
        for b in batches {
            let body = serde_json::to_vec(b)?;
            publisher
                .publish(&ember_core::queue::routing_key(b.portal_id), &body)
                .await?;
        }
        Ok(())
    }

    /// Publishes raw bytes (poison messages).
    pub async fn publish_raw(
        publisher: &Publisher,
        portal: i64,
        body: &[u8],
    ) -> anyhow::Result<()> {
        let portal = PortalId::new(portal)?;
        publisher
            .publish(&ember_core::queue::routing_key(portal), body)
            .await?;
        Ok(())
    }

    /// Worker options for tests: what `ember worker` runs with (`[worker]` of
    /// `config/default.toml`), with the waits tests sit through shortened: the stop, the decay
    /// sweep and a model change.
    pub fn test_options() -> WorkerOptions {
        let defaults = Settings::load_from(None, Vec::new()).expect("config/default.toml loads");
        WorkerOptions {
            shutdown_grace: Duration::from_secs(5),
            sweep_interval: Duration::from_millis(200),
            model_cache_ttl: Duration::from_millis(200),
            ..WorkerOptions::from_settings(&defaults.worker)
        }
    }

    /// A worker running in this process until stopped (or dropped).
    pub struct TestWorker {
        stop: Option<oneshot::Sender<()>>,
        task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
        pub id: String,
    }

    impl TestWorker {
        pub async fn spawn(settings: &Settings, options: WorkerOptions) -> anyhow::Result<Self> {
            let worker = Worker::build(settings, options).await?;
            let id = worker.id().to_owned();
            let (tx, rx) = oneshot::channel::<()>();
            let task = tokio::spawn(worker.run_until(async move {
                let _ = rx.await;
            }));
            Ok(Self {
                stop: Some(tx),
                task: Some(task),
                id,
            })
        }

        /// Stops gracefully and returns the worker's result.
        pub async fn stop(mut self) -> anyhow::Result<()> {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            match self.task.take() {
                Some(task) => task.await.context("worker task")?,
                None => Ok(()),
            }
        }
    }

    impl Drop for TestWorker {
        fn drop(&mut self) {
            if let Some(task) = self.task.take() {
                task.abort();
            }
        }
    }

    /// Polls `check` until it returns true, failing after `timeout`.
    pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        let start = Instant::now();
        loop {
            if check().await? {
                return Ok(());
            }
            if start.elapsed() > timeout {
                anyhow::bail!("timed out after {timeout:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The default model without decay, so that a score does not depend on when it is computed.
    pub fn no_decay_model() -> ember_core::scoring::Model {
        let mut m = ember_core::scoring::Model::default_model();
        m.decay = ember_core::scoring::Decay::None;
        for r in &mut m.engagement {
            r.decay = None;
        }
        m
    }

    /// Stores `model` as version 1 of the portal and activates it.
    pub async fn use_model(
        pool: &sqlx::PgPool,
        portal: i64,
        model: &ember_core::scoring::Model,
    ) -> anyhow::Result<()> {
        let p = PortalId::new(portal)?;
        ember_core::store::models::insert(pool, p, 1, model, "test").await?;
        ember_core::store::models::activate(pool, p, 1).await?;
        Ok(())
    }

    /// Scores computed offline from property-change events (each counted once, whatever the
    /// order): the last value by (occurredAt, value) per property, every matching engagement rule
    /// in the ledger. Contact id → HubSpot values.
    pub fn offline_scores(
        model: &ember_core::scoring::Model,
        events: &[QueuedEvent],
        now: DateTime<Utc>,
    ) -> anyhow::Result<std::collections::BTreeMap<i64, std::collections::BTreeMap<String, String>>>
    {
        use ember_core::scoring::{EngagementSignal, Ledger, SignalKind, Snapshot};
        use std::collections::BTreeMap;
        let compiled = model.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut latest: BTreeMap<i64, BTreeMap<String, (i64, String)>> = BTreeMap::new();
        let mut ledgers: BTreeMap<i64, Ledger> = BTreeMap::new();
        for e in events {
            let QueuedEvent::App(a) = e else { continue };
            let (Some(p), Some(contact)) = (a.property.as_ref(), a.object_id) else {
                continue;
            };
            let key = (a.occurred_at.timestamp_millis(), p.value.clone());
            let slot = latest
                .entry(contact.get())
                .or_default()
                .entry(p.name.as_str().to_owned())
                .or_insert((i64::MIN, String::new()));
            if key > *slot {
                *slot = key;
            }
            let signal = EngagementSignal {
                kind: SignalKind::PropertyChange {
                    property: p.name.as_str().to_owned(),
                    value: p.value.clone(),
                },
                occurred_at: a.occurred_at,
            };
            let ledger = ledgers.entry(contact.get()).or_default();
            for entry in compiled.ledger_entries(&signal) {
                ledger.insert(entry);
            }
        }
        Ok(latest
            .into_iter()
            .map(|(contact, props)| {
                let snapshot: Snapshot = props.into_iter().map(|(k, (_, v))| (k, v)).collect();
                let ledger = ledgers.remove(&contact).unwrap_or_default();
                (
                    contact,
                    compiled
                        .score(&snapshot, &ledger, now)
                        .hubspot_values(&compiled),
                )
            })
            .collect())
    }

    /// Number of dedupe keys recorded for a portal.
    pub async fn processed_count(pool: &sqlx::PgPool, portal: i64) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE portal_id = $1")
                .bind(portal)
                .fetch_one(pool)
                .await?,
        )
    }
}

/// A loopback port that was free a moment ago, for a server whose public URL must be known
/// before it binds (the URL is part of what HubSpot signs).
pub fn reserve_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

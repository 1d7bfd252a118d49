//! The end-to-end stack: `ember sim`, `ember api` and `ember worker` as separate OS processes
//! on random ports, with this test's own database, queue prefix and Redis prefix (removed by
//! their guards, also when the test fails), plus what the scenario checks with.

pub mod browser;
pub mod offline;
pub mod process;
pub mod sim;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use ember_tests::{CutProxy, TestBroker, TestDb, queues_with_prefix, reserve_port};

use self::browser::Browser;
use self::process::EmberProcess;
use self::sim::SimControl;

/// base64 of 32 bytes: tokens are encrypted at rest, and workers need it to write back.
const ENCRYPTION_KEY: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";

/// How the stack reaches RabbitMQ.
pub enum Broker {
    Direct,
    /// Through a [`CutProxy`], so that the test can cut the connections.
    Proxied(CutProxy),
}

/// Fields drop in order: the processes stop before their database, queues and keys go.
pub struct Stack {
    pub workers: Vec<EmberProcess>,
    api: EmberProcess,
    sim_process: EmberProcess,
    pub amqp: Broker,
    pub db: TestDb,
    pub broker: TestBroker,
    pub sim: SimControl,
    /// Ember's public origin, `http://localhost:<api port>` (HubSpot takes no IP addresses in
    /// redirect URIs, and the webhook signature covers this URL).
    pub ember: String,
    pub log_dir: PathBuf,
    env: Vec<(String, String)>,
    /// Metrics ports of the running workers.
    worker_metrics: Vec<u16>,
    /// Rows the stopped workers reported written to HubSpot (`ember_writeback_rows_total`).
    pub rows_written: u64,
    next_worker: usize,
}

impl Stack {
    /// Starts the simulator, the api and `workers` workers, and waits until each answers.
    pub async fn start(
        name: &str,
        workers: usize,
        proxied_broker: bool,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let db = TestDb::new().await?;
        let broker = TestBroker::new();
        let amqp = if proxied_broker {
            Broker::Proxied(CutProxy::start("127.0.0.1:5672").await?)
        } else {
            Broker::Direct
        };
        let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{name}"));
        let _ = std::fs::remove_dir_all(&log_dir);
        std::fs::create_dir_all(&log_dir)?;

        let (sim_port, api_port) = (reserve_port(), reserve_port());
        let sim_base = format!("http://127.0.0.1:{sim_port}");
        let ember = format!("http://localhost:{api_port}");
        let client_id = format!("e2e-{}", uuid::Uuid::new_v4());
        let client_secret = uuid::Uuid::new_v4().to_string();

        let sim_args: Vec<String> = [
            "sim",
            "--port",
            &sim_port.to_string(),
            "--portals",
            "0",
            "--webhook-target",
            &format!("{ember}/webhooks/hubspot"),
            "--redirect-uri",
            &format!("{ember}/oauth/callback"),
            "--client-id",
            &client_id,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let sim_env = vec![("EMBER_SIM_CLIENT_SECRET".to_owned(), client_secret.clone())];
        let mut sim_process = EmberProcess::spawn("sim", &sim_args, &sim_env, &log_dir)?;
        let sim = SimControl::new(&sim_base);
        let start = Instant::now();
        while !sim.healthy().await {
            sim_process.check_alive()?;
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(60),
                "the simulator did not answer within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let amqp_url = match &amqp {
            Broker::Direct => ember_tests::AMQP_URL.to_owned(),
            Broker::Proxied(proxy) => proxy.amqp_url(),
        };
        let env: Vec<(String, String)> = [
            ("EMBER_DATABASE__URL", db.url.as_str()),
            ("EMBER_AMQP__URL", amqp_url.as_str()),
            ("EMBER_AMQP__PREFIX", broker.prefix.as_str()),
            ("EMBER_REDIS__PREFIX", broker.prefix.as_str()),
            ("EMBER_SERVER__PORT", &api_port.to_string()),
            ("EMBER_SERVER__WORKERS", "2"),
            ("EMBER_PUBLIC_BASE_URL", ember.as_str()),
            ("EMBER_HUBSPOT__CLIENT_ID", client_id.as_str()),
            ("EMBER_HUBSPOT__CLIENT_SECRET", client_secret.as_str()),
            ("EMBER_HUBSPOT__API_BASE_URL", sim_base.as_str()),
            ("EMBER_HUBSPOT__AUTH_BASE_URL", sim_base.as_str()),
            ("EMBER_ENCRYPTION_KEY", ENCRYPTION_KEY),
            ("EMBER_OAUTH__SECURE_COOKIES", "false"),
            // A fresh install is seen by the intake within a second.
            ("EMBER_INTAKE__PORTAL_CACHE_SECS", "1"),
            // Two workers share each portal's HubSpot limit.
            ("EMBER_LIMITER__PROCESSES", "2"),
            ("EMBER_WORKER__MODEL_CACHE_SECS", "1"),
        ]
        .iter()
        .chain(extra_env)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

        let mut api = EmberProcess::spawn("api", &["api".to_owned()], &env, &log_dir)?;
        let health = reqwest::Client::new();
        let start = Instant::now();
        while !health
            .get(format!("{ember}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            api.check_alive()?;
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(60),
                "the api did not answer /healthz within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let mut stack = Self {
            db,
            broker,
            amqp,
            sim,
            ember,
            log_dir,
            env,
            sim_process,
            api,
            workers: Vec::new(),
            worker_metrics: Vec::new(),
            rows_written: 0,
            next_worker: 0,
        };
        for _ in 0..workers {
            stack.spawn_worker()?;
        }
        let events_queue = stack.broker.topology.events_queue();
        let broker = &stack.broker;
        wait_until(
            Duration::from_secs(60),
            "the events queue to exist",
            || async { Ok(broker.depth(&events_queue).await.is_ok()) },
        )
        .await?;
        Ok(stack)
    }

    /// Starts one more `ember worker`.
    pub fn spawn_worker(&mut self) -> anyhow::Result<()> {
        let name = format!("worker-{}", self.next_worker);
        self.next_worker += 1;
        let port = reserve_port();
        let mut env = self.env.clone();
        env.push(("EMBER_WORKER__METRICS_PORT".into(), port.to_string()));
        let worker = EmberProcess::spawn(&name, &["worker".to_owned()], &env, &self.log_dir)?;
        self.worker_metrics.push(port);
        self.workers.push(worker);
        Ok(())
    }

    /// Rows the running workers have written to HubSpot, from their `/metrics`.
    async fn scrape_rows_written(&self) -> u64 {
        let mut total = 0;
        for port in &self.worker_metrics {
            let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await
            else {
                continue;
            };
            let text = response.text().await.unwrap_or_default();
            total += text
                .lines()
                .filter(|l| l.starts_with("ember_writeback_rows_total{outcome=\"written\"}"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>() as u64;
        }
        total
    }

    /// Kills worker `index` with SIGKILL (what it counted is lost with it).
    pub fn kill_worker(&mut self, index: usize) {
        let mut worker = self.workers.remove(index);
        worker.kill();
        self.worker_metrics.remove(index);
    }

    /// Fails with a process's log if the simulator, the api or a worker died.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.sim_process.check_alive()?;
        self.api.check_alive()?;
        for w in &mut self.workers {
            w.check_alive()?;
        }
        Ok(())
    }

    /// Installs the app into `portal` through the real OAuth flow: Ember's install link, the
    /// simulator's authorize page (where `portal` consents), Ember's callback.
    pub async fn install(&self, portal: u64) -> anyhow::Result<()> {
        self.sim.consent_as(portal).await?;
        let mut browser = Browser::new(&self.ember)?;
        let visited = browser.follow("/oauth/install").await?;
        let last = visited.last().cloned().unwrap_or_default();
        anyhow::ensure!(
            last.ends_with(&format!("/app/portals/{portal}")),
            "the install of portal {portal} ended at {last} (visited {visited:?})"
        );
        anyhow::ensure!(
            visited.iter().any(|u| u.starts_with(&self.sim.base)),
            "the install never went through HubSpot's authorize page: {visited:?}"
        );
        Ok(())
    }

    /// Messages on the events queue and every retry queue (not the dead-letter queue).
    pub async fn queued_messages(&self) -> anyhow::Result<u32> {
        let dead = self.broker.topology.dead_letter_queue();
        let mut total = 0;
        for queue in queues_with_prefix(&self.broker.prefix) {
            if queue == dead {
                continue;
            }
            // A retry tier that was never needed was never declared.
            if let Ok(n) = self.broker.depth(&queue).await {
                total += n;
            }
        }
        Ok(total)
    }

    pub async fn dead_letters(&self) -> anyhow::Result<u32> {
        self.broker
            .depth(&self.broker.topology.dead_letter_queue())
            .await
    }

    /// Rows of a table (outbox, context requests...) over every portal.
    pub async fn rows(&self, table: &str) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&self.db.pool)
                .await?,
        )
    }

    /// Nothing left anywhere in Ember: no queued message, no context request, no pending
    /// write. Checked `stable_polls` times in a row, so that work in flight between the
    /// tables (a message being processed, a batch being sent) is not missed.
    pub async fn wait_for_ember_idle(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut quiet = 0;
        loop {
            self.check_alive()?;
            let queued = self.queued_messages().await?;
            let context = self.rows("context_requests").await?;
            let outbox = self.rows("score_outbox").await?;
            if queued == 0 && context == 0 && outbox == 0 {
                quiet += 1;
                if quiet >= 5 {
                    return Ok(());
                }
            } else {
                quiet = 0;
            }
            if start.elapsed() > timeout {
                anyhow::bail!(
                    "Ember did not drain within {timeout:?}: {queued} queued message(s), \
                     {context} context request(s), {outbox} pending write(s); logs in {}",
                    self.log_dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Stops every worker with SIGTERM (graceful: turns in flight finish), so that no decay
    /// sweep changes a value while the test compares. Work a sweep queued in the last moment
    /// is drained by workers started again, until Ember stops idle.
    pub async fn stop_workers_idle(&mut self, timeout: Duration) -> anyhow::Result<()> {
        for round in 0..3 {
            self.wait_for_ember_idle(timeout).await?;
            self.rows_written += self.scrape_rows_written().await;
            for w in &mut self.workers {
                w.terminate(Duration::from_secs(30)).await?;
            }
            self.workers.clear();
            self.worker_metrics.clear();
            let outbox = self.rows("score_outbox").await?;
            let context = self.rows("context_requests").await?;
            if outbox == 0 && context == 0 && self.queued_messages().await? == 0 {
                return Ok(());
            }
            eprintln!(
                "work appeared while the workers stopped (round {round}): {outbox} write(s), \
                 {context} context request(s); draining it"
            );
            self.spawn_worker()?;
            self.spawn_worker()?;
        }
        anyhow::bail!("Ember kept finding new work after its workers stopped")
    }
}

/// Polls `check` every 200 ms until it holds; fails after `timeout`, naming `what`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let start = Instant::now();
    loop {
        if check()
            .await
            .with_context(|| format!("while waiting for {what}"))?
        {
            return Ok(());
        }
        if start.elapsed() > timeout {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

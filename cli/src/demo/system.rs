//! The running system: the simulator (seeded portals, its app pointed at the api), the api and
//! two workers, all in this process, and their orderly stop.

use std::time::Duration;

use anyhow::Context;
use ember_core::config::Settings;
use ember_worker::{Worker, WorkerOptions};
use hubspot_sim::{AppConfig, SimConfig, SimHandle, SimServer};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::DemoArgs;
use super::plan::Plan;

/// Workers the demo runs: two, so that the work is shared as in production.
const WORKERS: usize = 2;
/// How long a stopping worker may finish the messages it holds.
const WORKER_GRACE: Duration = Duration::from_secs(5);
/// Bound on each part's stop, so that the cleanup always runs.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Sim, api and workers, running.
pub struct System {
    sim: SimHandle,
    settings: Settings,
    api_url: String,
    api: JoinHandle<()>,
    workers: Vec<RunningWorker>,
    pool: PgPool,
}

struct RunningWorker {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl System {
    /// Starts the simulator (its app configured with the demo's credentials, the api's
    /// callback and webhook URL), then the api and the workers against it.
    pub async fn start(plan: &Plan, args: &DemoArgs) -> anyhow::Result<Self> {
        let api_url = plan.api_url();
        let app = AppConfig {
            client_id: plan.client_id.clone(),
            client_secret: plan.client_secret.expose_secret().to_owned(),
            redirect_uris: vec![format!("{api_url}/oauth/callback")],
            webhook_target_url: Some(format!("{api_url}/webhooks/hubspot")),
            ..AppConfig::default()
        };
        let sim = SimServer::start(SimConfig {
            seed: args.seed,
            portals: args.portals.into(),
            contacts_per_portal: args.contacts as usize,
            app,
            ..SimConfig::default()
        })
        .await
        .context("cannot start the HubSpot simulator")?;
        let api = async {
            let settings = plan.settings(&sim.base_url())?;
            let pool = settings.database.lazy_pool()?;
            let app = ember_api::Application::build(&settings)
                .await
                .context("cannot start the api")?;
            anyhow::Ok((settings, pool, app))
        };
        let (settings, pool, app) = match api.await {
            Ok(parts) => parts,
            Err(e) => {
                let _ = tokio::time::timeout(STOP_TIMEOUT, sim.shutdown()).await;
                return Err(e);
            }
        };
        let api = tokio::spawn(async move {
            if let Err(e) = app.run_until_stopped().await {
                tracing::error!(error = %e, "The demo's api stopped with an error.");
            }
        });
        let mut system = Self {
            sim,
            settings,
            api_url,
            api,
            workers: Vec::new(),
            pool,
        };
        for _ in 0..WORKERS {
            // What `ember worker` runs with (`[worker]`), so the demo shows production batching.
            let options = WorkerOptions {
                shutdown_grace: WORKER_GRACE,
                ..WorkerOptions::from_settings(&system.settings.worker)
            };
            let worker = match Worker::build(&system.settings, options).await {
                Ok(worker) => worker,
                Err(e) => {
                    system.stop().await;
                    return Err(e.context("cannot start a worker"));
                }
            };
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(worker.run_until(async move {
                let _ = stopped.await;
            }));
            system.workers.push(RunningWorker { stop, task });
        }
        Ok(system)
    }

    pub fn sim(&self) -> &SimHandle {
        &self.sim
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Stops webhook delivery first (nothing new arrives), then the workers (they finish what
    /// they hold), then the api; each within a bound.
    pub async fn stop(self) {
        if tokio::time::timeout(STOP_TIMEOUT, self.sim.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("The simulator did not stop in time; going on with the cleanup.");
        }
        let mut tasks = Vec::new();
        for worker in self.workers {
            let _ = worker.stop.send(());
            tasks.push(worker.task);
        }
        for task in tasks {
            match tokio::time::timeout(STOP_TIMEOUT, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => {
                    tracing::warn!(error = %format!("{e:#}"), "A demo worker stopped with an error.");
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "A demo worker task failed."),
                Err(_) => tracing::warn!("A demo worker did not stop in time."),
            }
        }
        self.api.abort();
        self.pool.close().await;
    }
}

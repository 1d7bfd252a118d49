//! Starting and stopping a simulator: an actix-web server on 127.0.0.1 (port 0 in tests), the
//! call-log and correlation-id middleware, a JSON 404 for unknown paths, and the webhook
//! delivery loop. `SimHandle` is what tests hold.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::Service;
use actix_web::{App, HttpMessage, HttpServer, web};
use anyhow::Context;

use crate::calllog::CallRecord;
use crate::config::{AppConfig, SimConfig};
use crate::control::{self, Control};
use crate::hubspot::{self, gate};
use crate::setup::PortalSpec;
use crate::state::Shared;
use crate::webhooks::run_app_delivery;

/// Prefix of the control API.
pub const CONTROL_PREFIX: &str = "/_sim";

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Builds and starts simulators.
pub struct SimServer;

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    control: Control,
    server: actix_web::dev::ServerHandle,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SimServer {
    /// Starts a simulator on `127.0.0.1:config.port` (0 = a free port) with the configured
    /// generated portals, and its delivery loop. Must run inside a Tokio runtime.
    pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
        let workers = config.workers.max(1);
        let port = config.port;
        let portals = config.portals;
        let contacts = config.contacts_per_portal;
        let shared =
            Arc::new(Shared::new(config).context("Failed to build the simulator's HTTP client.")?);
        {
            let now = shared.clock.now_ms();
            let mut w = shared.world();
            for _ in 0..portals {
                control::api_create_portal(
                    &mut w,
                    &PortalSpec {
                        contacts,
                        ..PortalSpec::default()
                    },
                    now,
                );
            }
        }
        let control = Control::new(shared.clone());
        let data = web::Data::from(shared.clone());
        let ctl = web::Data::new(control.clone());
        let log_state = shared.clone();
        let server = HttpServer::new(move || {
            let log_state = log_state.clone();
            App::new()
                .app_data(data.clone())
                .app_data(ctl.clone())
                // Batch bodies of 100 rows with many properties outgrow actix's 256 KiB default.
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .wrap_fn(move |req, srv| {
                    let shared = log_state.clone();
                    let method = req.method().to_string();
                    let path = req.path().to_string();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        if !path.starts_with(CONTROL_PREFIX) {
                            let endpoint = res
                                .request()
                                .match_pattern()
                                .unwrap_or_else(|| path.clone());
                            let portal = res
                                .request()
                                .extensions()
                                .get::<gate::PortalTag>()
                                .map(|t| t.0);
                            let policy = res
                                .response()
                                .extensions()
                                .get::<gate::PolicyTag>()
                                .map(|t| t.0.clone());
                            let reset = res
                                .response()
                                .extensions()
                                .get::<gate::ResetTag>()
                                .is_some();
                            let status = if reset { 0 } else { res.status().as_u16() };
                            let at_ms = shared.clock.now_ms();
                            shared.world().calls.push(CallRecord {
                                seq: 0,
                                method,
                                endpoint,
                                path,
                                portal,
                                status,
                                at_ms,
                                policy,
                            });
                            return Ok(hubspot::errors::correlate(res).await);
                        }
                        Ok(res)
                    }
                })
                .configure(hubspot::routes)
                .configure(control::http::routes)
                .default_service(web::to(hubspot::errors::unknown_path))
        })
        .workers(workers)
        .disable_signals()
        .bind(("127.0.0.1", port))
        .with_context(|| {
            format!("Failed to bind the simulator to 127.0.0.1:{port}; is the port in use?")
        })?;
        let addr = *server
            .addrs()
            .first()
            .context("The simulator bound no address.")?;
        let server = server.run();
        let handle = server.handle();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let tasks = vec![
            tokio::spawn(async move {
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "Simulator server stopped with an error.");
                }
            }),
            tokio::spawn(run_app_delivery(shared, stop_rx)),
        ];
        Ok(SimHandle {
            addr,
            control,
            server: handle,
            stop,
            tasks,
        })
    }
}

impl SimHandle {
    /// `http://127.0.0.1:<port>`: HubSpot's API base URL, and the authorize page's host.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The typed control API.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// The app's credentials and settings as they are now.
    pub fn app(&self) -> AppConfig {
        self.control.shared.world().app.clone()
    }

    /// Stops serving and delivering, and waits for both.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.server.stop(true).await;
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

//! The worker's own `/metrics` (Prometheus text) and `/healthz`, on `--metrics-port`.
//!
//! The worker has no other HTTP surface; this is what a Prometheus scrape or a liveness probe
//! reads. Besides the counters the consumers record (events applied / duplicate, context API
//! calls, outbox writes, write-back rows and failures, rescore progress), it keeps one gauge
//! fresh from Postgres: portals by status, so `needs_reauth` portals (paused write-backs) page
//! someone instead of waiting for a person to open the console.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use ember_core::store::portals::{self, PortalStatus};
use ember_core::telemetry;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio::sync::watch;

/// Statuses a portal can have (`portals.status`); each is reported, zeros included, so a
/// dashboard's `needs_reauth` series exists before the first portal needs it.
const PORTAL_STATUSES: [(PortalStatus, &str); 3] = [
    (PortalStatus::Active, "active"),
    (PortalStatus::NeedsReauth, "needs_reauth"),
    (PortalStatus::Uninstalled, "uninstalled"),
];

async fn render(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Serves `/metrics` and `/healthz` on `addr` until `stop` turns true, and refreshes the
/// portal-status gauge every `refresh`. Returns the bound address (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    pool: PgPool,
    refresh: Duration,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let handle = web::Data::new(telemetry::metrics_handle());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(handle.clone())
            .route("/metrics", web::get().to(render))
            .route("/healthz", web::get().to(healthz))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)
    .with_context(|| format!("cannot listen on {addr} for the worker's metrics"))?;
    let bound = server
        .addrs()
        .first()
        .copied()
        .context("the metrics listener has no address")?;
    let server = server.run();
    let server_handle = server.handle();
    let task = tokio::spawn(async move {
        let serving = tokio::spawn(server);
        loop {
            record_portal_statuses(&pool).await;
            tokio::select! {
                _ = tokio::time::sleep(refresh) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        server_handle.stop(true).await;
        let _ = serving.await;
    });
    tracing::info!(%bound, "worker metrics on /metrics");
    Ok((bound, task))
}

async fn record_portal_statuses(pool: &PgPool) {
    match portals::count_by_status(pool).await {
        Ok(rows) => {
            for (status, label) in PORTAL_STATUSES {
                let n = rows
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("ember_portals", "status" => label).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not count portals by status for /metrics"),
    }
}

//! `/healthz` (the process answers), `/readyz` (its dependencies answer), `/metrics`.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::state::{Intake, Metrics};

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when Postgres and RabbitMQ both answer and the intake's last real use of each did not
/// fail within the readiness window; otherwise 503 naming the failing components.
#[get("/readyz")]
pub async fn readyz(intake: web::Data<Intake>) -> HttpResponse {
    let window = intake.readiness_window;
    let postgres = async {
        tokio::time::timeout(CHECK_TIMEOUT, ember_core::store::ping(&intake.pool))
            .await
            .map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string()))
    };
    let rabbitmq = async {
        tokio::time::timeout(CHECK_TIMEOUT, intake.publisher.publisher().ping())
            .await
            .map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string()))
    };
    let (postgres, rabbitmq) = tokio::join!(postgres, rabbitmq);
    // A connection that opens is not enough: the intake's own last attempt must have worked.
    let postgres = postgres.and_then(|()| match intake.portals.query_failing_within(window) {
        Some(reason) => Err(format!("the intake's last query failed: {reason}")),
        None => Ok(()),
    });
    let rabbitmq =
        rabbitmq.and_then(
            |()| match intake.publisher.publisher().publish_failing_within(window) {
                Some(reason) => Err(format!("the intake's last publish failed: {reason}")),
                None => Ok(()),
            },
        );
    let mut failing = serde_json::Map::new();
    if let Err(e) = postgres {
        tracing::warn!(component = "postgres", error = %e, "not ready");
        failing.insert("postgres".into(), e.into());
    }
    if let Err(e) = rabbitmq {
        tracing::warn!(component = "rabbitmq", error = %e, "not ready");
        failing.insert("rabbitmq".into(), e.into());
    }
    if failing.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "failing": failing}))
    }
}

#[get("/metrics")]
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    metrics.0.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.0.render())
}

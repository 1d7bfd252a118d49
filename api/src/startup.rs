//! Building and running the api: `Application::build` binds from settings (port 0 in tests),
//! `port()` reports the real port, `run_until_stopped()` serves until SIGTERM/Ctrl-C.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use ember_core::config::Settings;
use ember_core::limiter::Limiter;
use ember_core::limiter::failures::FailureLimiter;
use ember_core::normalize::AppBodyLimits;
use ember_core::queue::{CoalesceSettings, CoalescingPublisher, Publisher, Topology};
use ember_core::signature::Verifier;
use ember_core::telemetry;
use tracing_actix_web::TracingLogger;

use crate::http_guards::{self, BodyDeadline, Hsts};
use crate::metrics_middleware::count_requests;
use crate::portal_cache::PortalCache;
use crate::rejections::RecentRejections;
use crate::routes::{admin, health, oauth, webhooks};
use crate::secret_cache::SecretCache;
use crate::state::{Intake, Metrics, Operations, Tenancy};

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects to Postgres (lazily) and RabbitMQ, declares the topology and binds the listener.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let secret = settings.require_client_secret()?.clone();
        let pool = settings
            .database
            .lazy_pool()
            .context("invalid database settings")?;
        // The api starts without a broker and answers 503 with Retry-After until it is back:
        // refusing to start would turn a broker restart into an api outage.
        let publisher = Publisher::lazy(
            &settings.amqp.url,
            Topology::from_settings(&settings.amqp),
            settings.amqp.confirm_timeout(),
        );
        match tokio::time::timeout(settings.amqp.confirm_timeout(), publisher.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(
                amqp = %redacted(&settings.amqp.url), error = %e,
                "RabbitMQ is unreachable; webhooks get 503 until it is back"
            ),
            Err(_) => tracing::warn!(
                amqp = %redacted(&settings.amqp.url),
                "RabbitMQ did not answer in time; webhooks get 503 until it does"
            ),
        }
        let rejections = Arc::new(RecentRejections::default());
        let intake = web::Data::new(Intake {
            verifier: Verifier::new(secret).with_window_ms(settings.intake.signature_window_ms),
            publisher: CoalescingPublisher::start(
                publisher,
                CoalesceSettings {
                    in_flight: settings.amqp.publish_in_flight,
                    max_events: settings.amqp.max_events_per_message,
                },
            ),
            pool,
            portals: PortalCache::new(Duration::from_secs(settings.intake.portal_cache_secs)),
            secrets: SecretCache::new(settings.intake.webhook_secret.cache_ttl()),
            failures: FailureLimiter::from_settings(settings)?,
            public_base_url: settings.public_base_url.clone(),
            limits: AppBodyLimits {
                max_events: settings.intake.max_events_per_request,
            },
            body_limit_bytes: settings.server.body_limit_bytes,
            queue_unknown_portals: settings.intake.queue_unknown_portals,
            retry_after_secs: settings.amqp.retry_after_secs,
            readiness_window: settings.server.readiness_window(),
            rejections: rejections.clone(),
        });
        let limiter = Arc::new(Limiter::from_settings(settings)?);
        let operations = web::Data::new(Operations {
            limiter: limiter.clone(),
            amqp_url: settings.amqp.url.clone(),
            topology: Topology::from_settings(&settings.amqp),
            rejections,
        });
        let metrics = web::Data::new(Metrics(telemetry::metrics_handle()));
        let tenancy = Tenancy::from_settings(settings, intake.pool.clone(), limiter)?;
        let redirect_path = settings.oauth.redirect_path.clone();
        let body_deadline = web::Data::new(BodyDeadline(settings.server.body_timeout()));
        let hsts = web::Data::new(Hsts(settings.public_base_url.starts_with("https://")));

        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(http_guards::body_deadline))
                .wrap(from_fn(http_guards::security_headers))
                .wrap(from_fn(count_requests))
                // Path only: the OAuth callback's query holds the code and state (crate::redact).
                .wrap(TracingLogger::<crate::redact::PathOnlyRootSpan>::new())
                .app_data(intake.clone())
                .app_data(metrics.clone())
                .app_data(operations.clone())
                .app_data(body_deadline.clone())
                .app_data(hsts.clone())
                .configure(http_guards::configure_extractor_errors)
                .service(health::healthz)
                .service(health::readyz)
                .service(health::metrics)
                .service(crate::openapi::serve)
                .service(webhooks::hubspot::receive)
                .service(webhooks::workflow::receive)
                // The install flow, the admin API and the console need the tenancy state (sessions,
                // sealed tokens); without an encryption key none of them is served.
                .configure(|cfg| {
                    if let Some(t) = &tenancy {
                        cfg.app_data(t.clone());
                        oauth::configure(cfg, &redirect_path);
                        admin::configure(cfg);
                        crate::console::configure(cfg);
                    }
                })
                .route("/", web::get().to(http_guards::root))
                .default_service(web::to(http_guards::not_found))
        })
        .client_request_timeout(settings.server.request_head_timeout())
        .shutdown_timeout(30);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener)?.run();
        tracing::info!(%address, port, "api listening");
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped (SIGTERM or Ctrl-C: in-flight requests finish first).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// A URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<invalid url>".into(),
    }
}

//! `ember`: the one binary operators run. It parses arguments and dispatches; the work lives in
//! the library crates.

mod demo;
mod hubspot_app;
mod loadgen;
mod model_fit;
mod portal;
mod score;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ember_core::config::Settings;
use ember_core::store;

#[derive(Parser)]
#[command(
    name = "ember",
    version,
    about = "Lead scoring for HubSpot: webhooks in, scores out"
)]
struct Cli {
    /// A settings file (TOML) layered over the defaults; EMBER_* variables override both.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the webhook intake, health checks and metrics.
    Api {
        /// Create the database if needed and apply migrations before serving.
        #[arg(long)]
        migrate: bool,
    },
    /// Create the database if needed and apply all migrations.
    Migrate,
    /// Run the HubSpot simulator (for development, demos and load tests).
    Sim(hubspot_sim::SimArgs),
    /// Score exported contacts offline with a model file.
    Score(score::ScoreArgs),
    /// Learn rule weights from conversions (`fit`, writes a draft model) or report a model's
    /// quality on a holdout (`report`), offline.
    Model(model_fit::ModelArgs),
    /// Send signed webhook batches to a running api and report throughput and latency.
    Loadgen(loadgen::LoadgenArgs),
    /// Register (private app), uninstall, purge or list portals.
    Portal(portal::PortalArgs),
    /// Consume queued events: score contacts, sweep decay, rescore after model changes.
    Worker(ember_worker::cli::WorkerArgs),
    /// Show (`list`) or replay (`replay`) dead-lettered messages.
    Dlq(ember_worker::cli::DlqArgs),
    /// Run the whole system against the HubSpot simulator: install, live traffic, summary,
    /// consistency check (needs PostgreSQL, RabbitMQ and Redis; removes what it creates).
    Demo(demo::DemoArgs),
    /// Write Ember's HubSpot app definition (`render`): the project `hs project upload` deploys,
    /// with URLs, scopes and subscriptions from the settings and the portals' models.
    HubspotApp(hubspot_app::HubspotAppArgs),
}

fn main() -> ExitCode {
    // One TLS provider for the whole process (see docs/dependencies.md, "rustls": two would panic at first use).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Score(args) => score::run(args),
        Command::Model(args) => model_fit::run(args),
        // Its own exit codes (2: a service is missing; 1: inconsistent) and its own runtime.
        Command::Demo(args) => return demo::main(cli.config.as_deref(), args),
        // Its own exit codes (2: bad input or PostgreSQL unreachable) and its own runtime.
        Command::HubspotApp(args) => return hubspot_app::main(cli.config.as_deref(), args),
        command => runtime().and_then(|rt| rt.block_on(run_async(cli.config, command))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Operators get the story (each context line), not a stack trace.
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if error.downcast_ref::<portal::Refused>().is_some() {
                // Refused before changing anything (e.g. an unknown portal).
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn load_settings(config: Option<&PathBuf>) -> anyhow::Result<Settings> {
    let settings = Settings::load(config.map(PathBuf::as_path))?;
    ember_core::telemetry::init_tracing(&settings.telemetry);
    Ok(settings)
}

async fn run_async(config: Option<PathBuf>, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Api { migrate } => {
            let settings = load_settings(config.as_ref())?;
            if migrate {
                migrate_database(&settings).await?;
            }
            let app = ember_api::Application::build(&settings).await?;
            app.run_until_stopped()
                .await
                .context("the api stopped with an error")
        }
        Command::Migrate => {
            let settings = load_settings(config.as_ref())?;
            migrate_database(&settings).await
        }
        Command::Sim(args) => hubspot_sim::run(args).await,
        Command::Loadgen(args) => loadgen::run(args).await,
        Command::Portal(args) => portal::run(&load_settings(config.as_ref())?, args).await,
        Command::Worker(args) => {
            ember_worker::cli::run_worker(&load_settings(config.as_ref())?, args).await
        }
        Command::Dlq(args) => {
            ember_worker::cli::run_dlq(&load_settings(config.as_ref())?, args).await
        }
        Command::Score(_) | Command::Model(_) | Command::Demo(_) | Command::HubspotApp(_) => {
            unreachable!("handled before the runtime")
        }
    }
}

async fn migrate_database(settings: &Settings) -> anyhow::Result<()> {
    let target = ember_api::startup::redacted(&settings.database.url);
    store::ensure_database(&settings.database)
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {target} (is it running?)"))?;
    let pool = settings.database.lazy_pool()?;
    store::MIGRATOR
        .run(&pool)
        .await
        .with_context(|| format!("migrations failed on {target}"))?;
    tracing::info!(database = %target, "migrations applied");
    Ok(())
}

//! `ember demo`: the whole system at work against the HubSpot simulator, in one command.
//!
//! It checks that PostgreSQL, RabbitMQ and Redis answer (a clear message and exit code 2 when
//! one does not), then runs, in this process, the simulator with seeded portals, the api and two
//! workers on a fresh database, queue prefix and Redis prefix. It installs Ember into every
//! portal through the real OAuth flow over HTTP, lets the simulator send realistic webhook
//! traffic (engagement, merges, deletions and a restore, duplicate and out-of-order deliveries)
//! for `--duration` seconds while a live view (or plain log lines off a terminal) shows what each
//! portal receives and what Ember writes back, waits for the pipeline to drain, and prints a
//! summary, each portal's top leads with their reasons, and a consistency check: every
//! Ember-owned property value in the simulator must equal Ember's stored score (exit code 1 if
//! one does not). The demo's database, queues and Redis keys are removed at exit, Ctrl-C
//! included, unless `--keep`.
//!
//! Modules: [`plan`] (names, throwaway secrets, settings), [`preflight`] (services),
//! [`system`] (start and stop sim, api, workers), [`install`] (the OAuth flow as a browser walks
//! it), [`traffic`] (what the simulator's users do), [`observe`] (figures from the simulator,
//! Postgres, RabbitMQ and the metrics), [`view`] (live view and log lines), [`summary`] and
//! [`check`].

mod check;
mod install;
mod observe;
mod plan;
mod preflight;
mod summary;
mod system;
mod traffic;
mod view;

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;

use self::install::InstalledPortal;
use self::observe::{Drain, Observer};
use self::plan::Plan;
use self::system::System;
use self::traffic::{Driver, TrafficPlan};
use self::view::View;

/// Exit code when the run finished but the consistency check failed (or the pipeline did not
/// drain), and for any other failure during the run.
const EXIT_INCONSISTENT: u8 = 1;
/// Exit code when a service is missing or the settings are invalid: nothing was started.
const EXIT_PREFLIGHT: u8 = 2;
/// Exit code after Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// `ember demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// HubSpot portals the simulator seeds; Ember is installed into each.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub portals: u16,
    /// Contacts seeded in each portal.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub contacts: u32,
    /// Seconds of webhook traffic.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub duration: u64,
    /// Engagement actions per second in each portal (page views, e-mail opens and clicks, form
    /// submissions, webinars, title and lifecycle changes).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub rate: u32,
    /// Seed of the simulator's portals, contacts and traffic.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The api's port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// A PostgreSQL database to use as it is (created and migrated if needed, never dropped).
    /// Give an empty one: the simulator starts afresh every run, so scores an earlier run left
    /// would not match it. Default: a fresh `ember_demo_*` database on the configured server,
    /// dropped at exit.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// RabbitMQ URL. Default: `amqp.url` of the settings (EMBER_AMQP__URL).
    #[arg(long, value_name = "URL")]
    pub amqp_url: Option<String>,
    /// Prefix of the demo's exchanges, queues and Redis keys, used as it is (never removed).
    /// Default: a fresh `ember_demo_*` prefix, removed at exit.
    #[arg(long, value_name = "PREFIX")]
    pub amqp_prefix: Option<String>,
    /// Redis URL. Default: `redis.url` of the settings (EMBER_REDIS__URL).
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// Keep the demo's database, queues and Redis keys at exit (their names are printed).
    #[arg(long)]
    pub keep: bool,
    /// Exit right after the summary. Without it, on a terminal, the api keeps serving (for the
    /// console) until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
    /// Longest wait, in seconds, for the pipeline to drain after the traffic stops.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub drain_timeout: u64,
}

/// Why the demo stopped early.
#[derive(Debug)]
enum Stop {
    /// Settings or services not usable: reported before anything started.
    Preflight(Vec<String>),
    /// Something failed during the run.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Failed(e)
    }
}

/// Runs `ember demo` on its own runtime and turns the outcome into the exit code.
pub fn main(config: Option<&Path>, args: DemoArgs) -> ExitCode {
    let terminal = std::io::stdout().is_terminal();
    let view = View::new(terminal, args.portals.into());
    view.init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(config, &args, view, terminal));
    // Servers and consumers still winding down must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Stop::Preflight(problems)) => {
            eprintln!("error: the demo cannot start:");
            for problem in problems {
                eprintln!("  - {problem}");
            }
            ExitCode::from(EXIT_PREFLIGHT)
        }
        Err(Stop::Failed(error)) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(EXIT_INCONSISTENT)
        }
    }
}

async fn run(
    config: Option<&Path>,
    args: &DemoArgs,
    view: View,
    terminal: bool,
) -> Result<u8, Stop> {
    let plan = Plan::new(config, args).map_err(|e| Stop::Preflight(vec![format!("{e:#}")]))?;
    let problems = preflight::check(&plan.services()).await;
    if !problems.is_empty() {
        return Err(Stop::Preflight(problems));
    }
    let interrupt = Interrupt::listen();
    plan.prepare_database()
        .await
        .context("cannot prepare the demo's database")?;
    view.say(&plan.describe());
    let outcome = demo(&plan, args, &view, &interrupt, terminal).await;
    view.clear();
    if matches!(outcome, Ok(EXIT_INTERRUPTED)) {
        println!("Interrupted: the system is stopped; cleaning up.");
    }
    let cleanup = plan.cleanup(args.keep).await;
    for line in &cleanup.lines {
        println!("{line}");
    }
    let code = outcome?;
    if let Some(e) = cleanup.error {
        return Err(Stop::Failed(e));
    }
    Ok(code)
}

/// Everything between a prepared database and the cleanup: the system is always stopped before
/// this returns, so the cleanup never races a consumer.
async fn demo(
    plan: &Plan,
    args: &DemoArgs,
    view: &View,
    interrupt: &Interrupt,
    terminal: bool,
) -> Result<u8, Stop> {
    let system = System::start(plan, args)
        .await
        .context("cannot start the demo")?;
    let result = drive(&system, plan, args, view, interrupt, terminal).await;
    view.clear();
    system.stop().await;
    result
}

async fn drive(
    system: &System,
    plan: &Plan,
    args: &DemoArgs,
    view: &View,
    interrupt: &Interrupt,
    terminal: bool,
) -> Result<u8, Stop> {
    view.say(&format!(
        "Started the HubSpot simulator ({} portals × {} contacts) at {}, the api at {} and 2 workers.",
        args.portals,
        args.contacts,
        system.sim().base_url(),
        system.api_url()
    ));
    let Some(portals) = install_portals(system, view, interrupt).await? else {
        return Ok(EXIT_INTERRUPTED);
    };
    let mut observer = Observer::new(system, plan, &portals)?;
    let outcome = traffic_and_report(system, args, view, interrupt, &portals, &mut observer).await;
    observer.close().await;
    let code = outcome?;
    if code != EXIT_INTERRUPTED && terminal && !args.exit {
        println!(
            "The api, the workers and the simulator keep running; press Ctrl-C to stop and clean up."
        );
        let _ = interrupt.subscribe().wait_for(|set| *set).await;
        // After the terminal's "^C".
        println!();
        println!("Stopping the system and cleaning up.");
    }
    Ok(code)
}

/// Installs Ember into every simulator portal, one after the other (`None`: interrupted).
async fn install_portals(
    system: &System,
    view: &View,
    interrupt: &Interrupt,
) -> anyhow::Result<Option<Vec<InstalledPortal>>> {
    let mut portals = Vec::new();
    for portal in system.sim().control().portals() {
        if interrupt.is_set() {
            return Ok(None);
        }
        let installed = install::install(system, portal.id)
            .await
            .with_context(|| format!("cannot install Ember into portal {}", portal.id))?;
        view.say(&format!(
            "Installed Ember into portal {} through OAuth: tokens stored, {} score properties provisioned, model v{} active.",
            installed.id,
            installed.outputs.len(),
            installed.model_version
        ));
        portals.push(installed);
    }
    Ok(Some(portals))
}

/// The traffic with its live view, the drain, then the summary, the top leads and the check.
async fn traffic_and_report(
    system: &System,
    args: &DemoArgs,
    view: &View,
    interrupt: &Interrupt,
    portals: &[InstalledPortal],
    observer: &mut Observer,
) -> Result<u8, Stop> {
    let duration = Duration::from_secs(args.duration);
    let driver = Driver::start(
        system.sim().control().clone(),
        TrafficPlan {
            rate_per_portal: args.rate,
            duration,
            seed: args.seed,
            portals: portals
                .iter()
                .map(|p| (p.id, p.outputs.total.clone()))
                .collect(),
        },
    );
    let drain = watch_traffic(args, view, interrupt, observer, &driver).await;
    let probes = driver.stop().await;
    view.clear();
    let drained = match drain? {
        Drain::Interrupted => return Ok(EXIT_INTERRUPTED),
        Drain::Drained { after } => {
            println!(
                "Traffic stopped after {} s; the pipeline drained {:.1} s later.",
                args.duration,
                after.as_secs_f64()
            );
            true
        }
        Drain::TimedOut { waiting } => {
            println!(
                "The pipeline did not drain within {} s of the traffic stopping: {waiting}. \
                 The figures below are as they stood; raise --drain-timeout, or look at the \
                 workers' log lines (RUST_LOG=info).",
                args.drain_timeout
            );
            false
        }
    };
    let snapshot = observer.snapshot().await?;
    let processed = observer.processed_counts().await?;
    summary::print(&summary::Report {
        snapshot: &snapshot,
        processed: &processed,
        probes: &probes,
        observer,
        traffic: &driver.counts(),
        duration,
    });
    summary::print_top_leads(system, portals).await?;
    let consistency = check::run(system, observer, portals, &processed).await?;
    consistency.print();
    println!(
        "Console: {}/app (sign in with HubSpot — the simulator)",
        system.api_url()
    );
    Ok(if consistency.ok() && drained {
        0
    } else {
        EXIT_INCONSISTENT
    })
}

/// Refreshes the view while the traffic runs, then waits for the pipeline to drain.
async fn watch_traffic(
    args: &DemoArgs,
    view: &View,
    interrupt: &Interrupt,
    observer: &mut Observer,
    driver: &Driver,
) -> anyhow::Result<Drain> {
    view.start_traffic(args.duration);
    let started = Instant::now();
    let traffic_end = started + Duration::from_secs(args.duration);
    let mut tick = tokio::time::interval(view.refresh());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut interrupted = interrupt.subscribe();
    while Instant::now() < traffic_end {
        tokio::select! {
            _ = tick.tick() => {}
            _ = interrupted.wait_for(|set| *set) => return Ok(Drain::Interrupted),
        }
        let snapshot = observer.snapshot().await?;
        view.update(started.elapsed(), &snapshot, &driver.counts());
    }
    driver.stop_traffic();
    view.start_drain();
    observer
        .wait_for_drain(
            Duration::from_secs(args.drain_timeout),
            &mut interrupted,
            |snapshot| view.update(started.elapsed(), snapshot, &driver.counts()),
        )
        .await
}

/// Ctrl-C, observed once for the whole run: every phase waits on it and winds down.
struct Interrupt {
    received: watch::Receiver<bool>,
}

impl Interrupt {
    fn listen() -> Self {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        });
        Self { received: rx }
    }

    fn is_set(&self) -> bool {
        *self.received.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<bool> {
        self.received.clone()
    }
}

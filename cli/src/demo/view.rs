//! What the person watching sees during the run: on a terminal, a progress bar for the traffic
//! and one live line per portal plus one for the pipeline; otherwise plain log lines, one per
//! portal every few seconds. Log records of the api and workers go to stderr (warnings and
//! errors unless `RUST_LOG` says otherwise), printed above the live view, never through it.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use super::observe::Snapshot;
use super::traffic::Counts;

/// How often the live view refreshes.
const LIVE_REFRESH: Duration = Duration::from_millis(500);
/// How often figures are read when only log lines are written.
const PLAIN_REFRESH: Duration = Duration::from_secs(1);
/// Seconds between two rounds of plain log lines.
const PLAIN_EVERY: Duration = Duration::from_secs(3);
/// Log filter when `RUST_LOG` is not set: what needs attention, not the services' chatter
/// (sqlx's slow-statement warnings would name the demo's own `DROP DATABASE`, and the request
/// logger warns of every 4xx, such as the console's sign-in redirect).
const DEFAULT_LOG_FILTER: &str = "warn,sqlx::query=error,tracing_actix_web=error";

/// The live view or the plain log lines.
pub struct View {
    live: Option<Live>,
    portals: usize,
    state: Mutex<Rates>,
}

struct Live {
    multi: MultiProgress,
    bars: Mutex<Option<Bars>>,
}

struct Bars {
    progress: ProgressBar,
    lines: Vec<ProgressBar>,
}

/// The previous reading, for rates, and when plain lines were last written.
#[derive(Default)]
struct Rates {
    previous: Option<(Instant, Vec<(u64, u64)>)>,
    last_plain: Option<Instant>,
    draining: bool,
}

impl View {
    pub fn new(terminal: bool, portals: usize) -> Self {
        let live = terminal.then(|| Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            bars: Mutex::new(None),
        });
        Self {
            live,
            portals,
            state: Mutex::new(Rates::default()),
        }
    }

    /// Installs the log subscriber: stderr, above the live view.
    pub fn init_tracing(&self) {
        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
        let writer = LogWriter {
            multi: self.live.as_ref().map(|l| l.multi.clone()),
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .compact()
            .with_writer(writer)
            .try_init();
    }

    /// How often figures should be read.
    pub fn refresh(&self) -> Duration {
        if self.live.is_some() {
            LIVE_REFRESH
        } else {
            PLAIN_REFRESH
        }
    }

    /// A line of narration (above the live view when there is one).
    pub fn say(&self, line: &str) {
        match &self.live {
            Some(live) => {
                let _ = live.multi.println(line);
            }
            None => println!("{line}"),
        }
    }

    /// Shows the traffic's progress bar and the figure lines.
    pub fn start_traffic(&self, seconds: u64) {
        let Some(live) = &self.live else {
            println!("Sending webhook traffic for {seconds} s.");
            return;
        };
        let progress = live.multi.add(ProgressBar::new(seconds));
        progress.set_style(
            ProgressStyle::with_template("{spinner} traffic [{bar:30}] {pos:>3}/{len} s  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        progress.enable_steady_tick(Duration::from_millis(120));
        let lines = (0..=self.portals)
            .map(|_| {
                let line = live.multi.add(ProgressBar::new(0));
                line.set_style(
                    ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                line
            })
            .collect();
        *live.bars.lock().unwrap_or_else(PoisonError::into_inner) = Some(Bars { progress, lines });
    }

    /// The traffic stopped: the bar says the pipeline is draining.
    pub fn start_drain(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .draining = true;
        match &self.live {
            Some(live) => {
                if let Some(bars) = &*live.bars.lock().unwrap_or_else(PoisonError::into_inner) {
                    bars.progress
                        .set_position(bars.progress.length().unwrap_or(0));
                    bars.progress
                        .set_message("traffic stopped; waiting for the pipeline to drain");
                }
            }
            None => println!("Traffic stopped; waiting for the pipeline to drain."),
        }
    }

    /// New figures.
    pub fn update(&self, elapsed: Duration, snapshot: &Snapshot, counts: &Counts) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let current: Vec<(u64, u64)> = snapshot
            .portals
            .iter()
            .map(|p| (p.events, p.hubspot_calls))
            .collect();
        let rates: Vec<(f64, f64)> = match &state.previous {
            Some((at, before)) if now > *at => {
                let secs = (now - *at).as_secs_f64();
                current
                    .iter()
                    .zip(before)
                    .map(|((e, c), (e0, c0))| {
                        (
                            e.saturating_sub(*e0) as f64 / secs,
                            c.saturating_sub(*c0) as f64 / secs,
                        )
                    })
                    .collect()
            }
            _ => vec![(0.0, 0.0); current.len()],
        };
        state.previous = Some((now, current));
        let pipeline = format!(
            "queue {}, outbox {}, context {}, dedupe drops {}, dead letters {}",
            snapshot.queued,
            snapshot.outbox(),
            snapshot.context_waiting(),
            snapshot.dedupe_drops,
            snapshot.dead_letters
        );
        let scenario = format!(
            "actions {}, merges {}, deletions {}, restores {}, probes {}",
            counts.actions, counts.merges, counts.deletions, counts.restores, counts.probes
        );
        match &self.live {
            Some(live) => {
                let guard = live.bars.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(bars) = &*guard else { return };
                if !state.draining {
                    bars.progress.set_position(elapsed.as_secs());
                    bars.progress.set_message(scenario);
                }
                for ((figures, (events_per_s, calls_per_s)), line) in
                    snapshot.portals.iter().zip(&rates).zip(&bars.lines)
                {
                    line.set_message(format!(
                        "portal {:<9} events {:>7} ({:>5.0}/s)  dups {:>6}  scored {:>6}  written {:>6}  HubSpot calls {:>5} ({:>4.1}/s)  429s {}",
                        figures.portal,
                        figures.events,
                        events_per_s,
                        figures.duplicates(),
                        figures.scored,
                        figures.written,
                        figures.hubspot_calls,
                        calls_per_s,
                        figures.rate_limited
                    ));
                }
                if let Some(line) = bars.lines.get(snapshot.portals.len()) {
                    line.set_message(format!("pipeline  {pipeline}"));
                }
            }
            None => {
                if state.last_plain.is_some_and(|t| now - t < PLAIN_EVERY) {
                    return;
                }
                state.last_plain = Some(now);
                let at = elapsed.as_secs();
                for (figures, (events_per_s, calls_per_s)) in snapshot.portals.iter().zip(&rates) {
                    println!(
                        "[{at:>4}s] portal {}: events {} ({events_per_s:.0}/s), duplicates {}, scored {}, written {}, HubSpot calls {} ({calls_per_s:.1}/s), 429s {}",
                        figures.portal,
                        figures.events,
                        figures.duplicates(),
                        figures.scored,
                        figures.written,
                        figures.hubspot_calls,
                        figures.rate_limited
                    );
                }
                println!("[{at:>4}s] pipeline: {pipeline}; {scenario}");
            }
        }
    }

    /// Removes the live view (the summary is printed after it).
    pub fn clear(&self) {
        if let Some(live) = &self.live
            && let Some(bars) = live
                .bars
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        {
            bars.progress.finish_and_clear();
            for line in bars.lines {
                line.finish_and_clear();
            }
            let _ = live.multi.clear();
        }
    }
}

/// Log records to stderr, each written while the live view is suspended.
#[derive(Clone)]
struct LogWriter {
    multi: Option<MultiProgress>,
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogRecord;

    fn make_writer(&'a self) -> Self::Writer {
        LogRecord {
            buffer: Vec::new(),
            multi: self.multi.clone(),
        }
    }
}

/// One log record, written out whole when the formatter is done with it.
struct LogRecord {
    buffer: Vec<u8>,
    multi: Option<MultiProgress>,
}

impl Write for LogRecord {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogRecord {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let write = || {
            let _ = std::io::stderr().write_all(&self.buffer);
        };
        match &self.multi {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }
}

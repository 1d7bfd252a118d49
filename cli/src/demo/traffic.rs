//! What the simulator's users do during the demo, and latency probes.
//!
//! Every 200 ms each portal gets its share of `--rate` engagement actions (the simulator's
//! traffic generator: page views, e-mail opens and clicks, form submissions, webinars, title and
//! lifecycle changes, new sign-ups), so HubSpot sends the matching property-change webhooks.
//! Once a second a scenario step runs: merges, deletions and restores of contacts take turns
//! per portal, and the simulator's faults deliver some batches twice and, one second in four,
//! newest first with their events reversed.
//!
//! Probes measure acceptance → HubSpot latency: every 2 s each portal gets a new contact (as a
//! form sign-up would create it), and the driver polls the simulator until Ember's total score
//! property appears on it. The acceptance time comes from the simulator's delivery log (see
//! `observe`), so the figure covers Ember alone: intake, queue, context fetch, scoring,
//! outbox and write-back.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hubspot_sim::{Control, Faults, TrafficOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Traffic is generated in slices this long.
const SLICE: Duration = Duration::from_millis(200);
/// Slices per scenario step (one second).
const SLICES_PER_STEP: u64 = 5;
/// How often written probes are looked for.
const PROBE_POLL: Duration = Duration::from_millis(25);
/// Share of webhook batches the simulator delivers a second time.
const DUPLICATE_RATE: f64 = 0.08;
/// Share of traffic actions that are new contacts signing up.
const NEW_CONTACT_SHARE: f64 = 0.03;

/// What to drive.
pub struct TrafficPlan {
    pub rate_per_portal: u32,
    pub duration: Duration,
    pub seed: u64,
    /// Each portal and the property its total score is written to.
    pub portals: Vec<(u64, String)>,
}

/// What the driver did so far.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub actions: u64,
    pub merges: u64,
    pub deletions: u64,
    pub restores: u64,
    pub probes: u64,
}

/// One latency probe: a contact the driver created, and when (simulator ms) Ember's total score
/// first showed on it.
#[derive(Debug, Clone)]
pub struct Probe {
    pub portal: u64,
    pub contact: u64,
    pub written_ms: Option<i64>,
}

#[derive(Default)]
struct State {
    counts: Counts,
    probes: Vec<Probe>,
}

/// The traffic task.
pub struct Driver {
    state: Arc<Mutex<State>>,
    traffic_on: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Driver {
    /// Starts generating traffic now, for `plan.duration`.
    pub fn start(control: Control, plan: TrafficPlan) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let (traffic_on, traffic_rx) = watch::channel(true);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(control, plan, state.clone(), traffic_rx, stop_rx));
        Self {
            state,
            traffic_on,
            stop,
            task: Mutex::new(Some(task)),
        }
    }

    pub fn counts(&self) -> Counts {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .counts
            .clone()
    }

    /// Stops generating (probes are still watched until [`Driver::stop`]).
    pub fn stop_traffic(&self) {
        let _ = self.traffic_on.send(false);
    }

    /// Stops everything and returns the probes.
    pub async fn stop(&self) -> Vec<Probe> {
        let _ = self.traffic_on.send(false);
        let _ = self.stop.send(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "The demo's traffic task failed.");
        }
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .probes
            .clone()
    }
}

/// Per-portal scenario memory.
struct PortalScenario {
    id: u64,
    total_property: String,
    deleted: VecDeque<u64>,
    probes: HashSet<u64>,
}

async fn run(
    control: Control,
    plan: TrafficPlan,
    state: Arc<Mutex<State>>,
    traffic_on: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut portals: Vec<PortalScenario> = plan
        .portals
        .iter()
        .map(|(id, total)| PortalScenario {
            id: *id,
            total_property: total.clone(),
            deleted: VecDeque::new(),
            probes: HashSet::new(),
        })
        .collect();
    let slices = plan.duration.as_millis() / SLICE.as_millis();
    let per_slice = f64::from(plan.rate_per_portal) * SLICE.as_secs_f64();
    let mut owed = vec![0.0_f64; portals.len()];
    let mut slice_timer = tokio::time::interval(SLICE);
    slice_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut probe_timer = tokio::time::interval(PROBE_POLL);
    probe_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut slice: u64 = 0;
    loop {
        let generating = *traffic_on.borrow() && u128::from(slice) < slices;
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = slice_timer.tick(), if generating => {
                slice += 1;
                let mut actions = 0;
                for (i, portal) in portals.iter().enumerate() {
                    owed[i] += per_slice;
                    let n = owed[i].floor() as usize;
                    owed[i] -= n as f64;
                    if n == 0 {
                        continue;
                    }
                    let summary = control.generate_traffic(portal.id, n, TrafficOptions {
                        // A fresh seed per slice: the same seed would repeat the same picks.
                        seed: Some(plan.seed.wrapping_mul(1_000_003) ^ (slice << 24) ^ portal.id),
                        new_contact_share: NEW_CONTACT_SHARE,
                        spacing_ms: (SLICE.as_millis() as i64 / n as i64).max(1),
                    });
                    actions += summary.by_kind.values().sum::<usize>() as u64;
                }
                if slice.is_multiple_of(SLICES_PER_STEP) {
                    let step = slice / SLICES_PER_STEP;
                    let counts = scenario_step(&control, &mut portals, step, &mut rng);
                    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                    s.counts.merges += counts.merges;
                    s.counts.deletions += counts.deletions;
                    s.counts.restores += counts.restores;
                    s.counts.probes += counts.probes;
                    s.probes.extend(counts.new_probes);
                }
                state.lock().unwrap_or_else(PoisonError::into_inner).counts.actions += actions;
                if u128::from(slice) >= slices {
                    // Plain deliveries while the pipeline drains.
                    control.clear_faults();
                }
            }
            _ = probe_timer.tick() => poll_probes(&control, &portals, &state),
        }
    }
    control.clear_faults();
}

/// What one scenario step did.
#[derive(Default)]
struct StepCounts {
    merges: u64,
    deletions: u64,
    restores: u64,
    probes: u64,
    new_probes: Vec<Probe>,
}

/// Second `step` (from 1): faults, then per portal a merge, a deletion or a restore in turn,
/// and a probe every other second.
fn scenario_step(
    control: &Control,
    portals: &mut [PortalScenario],
    step: u64,
    rng: &mut StdRng,
) -> StepCounts {
    let mut done = StepCounts::default();
    control.set_faults(
        None,
        Faults {
            duplicate_rate: DUPLICATE_RATE,
            out_of_order: step % 4 == 3,
            ..Faults::default()
        },
    );
    for (i, portal) in portals.iter_mut().enumerate() {
        let turn = (step + i as u64) % 3;
        let live: Vec<u64> = control
            .contact_ids(portal.id)
            .into_iter()
            .filter(|id| !portal.probes.contains(id))
            .collect();
        match turn {
            0 if live.len() >= 2 => {
                let a = live[rng.random_range(0..live.len())];
                let b = live[rng.random_range(0..live.len())];
                if a != b && control.merge_contacts(portal.id, a, b).is_some() {
                    done.merges += 1;
                }
            }
            1 if !live.is_empty() => {
                let id = live[rng.random_range(0..live.len())];
                control.delete_contact(portal.id, id);
                portal.deleted.push_back(id);
                done.deletions += 1;
            }
            2 => {
                if let Some(id) = portal.deleted.pop_front() {
                    control.restore_contact(portal.id, id);
                    done.restores += 1;
                }
            }
            _ => {}
        }
        if step.is_multiple_of(2) {
            let n = portal.probes.len() + 1;
            let props = BTreeMap::from([
                ("firstname".to_owned(), "Latency".to_owned()),
                ("lastname".to_owned(), format!("Probe {n}")),
                (
                    "email".to_owned(),
                    format!("latency.probe{n}@probe-{}.example.com", portal.id),
                ),
                ("jobtitle".to_owned(), "Operations Manager".to_owned()),
                ("company".to_owned(), "Probe Logistics".to_owned()),
            ]);
            if let Some(contact) = control.create_contact(portal.id, props) {
                portal.probes.insert(contact);
                done.probes += 1;
                done.new_probes.push(Probe {
                    portal: portal.id,
                    contact,
                    written_ms: None,
                });
            }
        }
    }
    done
}

/// Records the moment Ember's total score first shows on each waiting probe.
fn poll_probes(control: &Control, portals: &[PortalScenario], state: &Mutex<State>) {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    for probe in s.probes.iter_mut().filter(|p| p.written_ms.is_none()) {
        let Some(portal) = portals.iter().find(|p| p.id == probe.portal) else {
            continue;
        };
        let written = control
            .contact(probe.portal, probe.contact)
            .and_then(|c| c.properties.get(&portal.total_property).cloned())
            .is_some_and(|v| !v.is_empty());
        if written {
            probe.written_ms = Some(control.now_ms());
        }
    }
}

//! Scoring throughput with a realistic model: 20 fit rules, 15 engagement rules and 50 ledger
//! entries per contact. Target: 1,000,000 contacts per second per core.
//!
//! The cases are measured in wall-clock time (criterion's default); a last line reports the hot
//! path in the benchmark thread's own CPU time, which is what "per core" means and stays honest
//! on a shared machine where other processes take turns on the same core.
//!
//! `cargo bench -p ember-scoring --bench scoring`; the figures are in BENCHMARKS.md ("Scoring").

use std::hint::black_box;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember_scoring::{Axis, CompiledModel, Ledger, LedgerEntry, Model, RuleId, Scored, Snapshot};

const MODEL: &str = r#"
version: 7
decay: { kind: exponential, half_life_days: 30 }
caps: { fit: { min: -100, max: 70 }, engagement: { max: 80 }, total: { min: 0, max: 100 } }
lists: { competitors: [rival.io, othercrm.com, leadscorer.net] }
fit:
  - { id: f01, points: 25, when: { gt: { property: numberofemployees, value: 100 } } }
  - { id: f02, points: 10, when: { between: { property: numberofemployees, min: 20, max: 100 } } }
  - { id: f03, points: 20, when: { one_of: { property: industry, values: [SaaS, Software, COMPUTER_SOFTWARE, Internet] } } }
  - { id: f04, points: 15, when: { contains_any: { property: jobtitle, values: [ceo, cto, cfo, chief, founder, president] } } }
  - { id: f05, points: 10, when: { contains_any: { property: jobtitle, values: [vp, vice president, director, head of] } } }
  - { id: f06, points: 5, when: { contains: { property: jobtitle, value: manager } } }
  - { id: f07, points: 3, when: { known: { property: phone } } }
  - { id: f08, points: -10, when: { email_domain_in: { list: freemail } } }
  - { id: f09, points: -15, when: { email_domain_in: { list: academic_domains } } }
  - { id: f10, points: -15, when: { contains_any: { property: jobtitle, list: student_titles } } }
  - { id: f11, points: -50, when: { email_domain_in: { list: competitors } } }
  - { id: f12, points: 8, when: { gte: { property: annualrevenue, value: 10000000 } } }
  - { id: f13, points: 5, when: { one_of: { property: country, values: [United States, Canada, United Kingdom, Germany, France] } } }
  - { id: f14, points: -5, when: { equals: { property: lifecyclestage, value: customer } } }
  - { id: f15, points: 4, when: { starts_with: { property: website, value: https } } }
  - { id: f16, points: -3, when: { unknown: { property: company } } }
  - { id: f17, points: 6, when: { all: [ { equals: { property: hs_lead_status, value: OPEN } }, { known: { property: hubspot_owner_id } } ] } }
  - { id: f18, points: 4, when: { any: [ { equals: { property: hs_analytics_source, value: ORGANIC_SEARCH } }, { equals: { property: hs_analytics_source, value: REFERRALS } } ] } }
  - { id: f19, points: -8, when: { not: { none_of: { property: state, values: [Nowhere, Unknown] } } } }
  - { id: f20, points: 7, when: { lt: { property: days_to_close, value: 30 } } }
engagement:
  - { id: e01, points: 20, cap: 3, min_interval_hours: 24, on: { external: { event_type: pricing_page_view } } }
  - { id: e02, points: 30, cap: 2, on: { property_change: { property: recent_conversion_event_name, value: Demo request } } }
  - { id: e03, points: 5, cap: 5, min_interval_hours: 1, on: { property_change: { property: hs_email_last_click_date } } }
  - { id: e04, points: 10, cap: 3, on: { workflow: { workflow_id: 1001, event: attended } } }
  - { id: e05, points: 3, cap: 10, min_interval_hours: 1, on: { external: { event_type: blog_post_view } } }
  - { id: e06, points: 8, cap: 7, min_interval_hours: 24, decay: { kind: exponential, half_life_days: 7 }, on: { external: { event_type: product_login } } }
  - { id: e07, points: -20, cap: 1, decay: { kind: none }, on: { property_change: { property: hs_email_optout, value: "true" } } }
  - { id: e08, points: 12, on: { external: { event_type: trial_started } } }
  - { id: e09, points: 6, cap: 4, on: { external: { event_type: docs_view } } }
  - { id: e10, points: 15, cap: 2, on: { workflow: { workflow_id: 1002 } } }
  - { id: e11, points: 4, min_interval_hours: 12, on: { external: { event_type: email_open } } }
  - { id: e12, points: 9, cap: 3, decay: { kind: exponential, half_life_days: 14 }, on: { external: { event_type: feature_used } } }
  - { id: e13, points: -5, on: { external: { event_type: support_complaint } } }
  - { id: e14, points: 7, cap: 2, on: { external: { event_type: case_study_download } } }
  - { id: e15, points: 2, cap: 20, on: { external: { event_type: page_view } } }
grades: [ { label: A, min: 80 }, { label: B, min: 50 }, { label: C, min: 20 }, { label: D } ]
matrix:
  fit: [ { label: A, min: 40 }, { label: B, min: 20 }, { label: C } ]
  engagement: [ { label: "1", min: 40 }, { label: "2", min: 15 }, { label: "3" } ]
output: { total: ember_score, fit: ember_fit, engagement: ember_engagement, grade: ember_grade,
          matrix: ember_matrix, reasons: ember_reasons }
"#;

const CONTACTS: usize = 1024;
const ENTRIES_PER_CONTACT: usize = 50;

/// A small deterministic generator (xorshift), so every run scores the same contacts.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn now() -> DateTime<Utc> {
    "2026-06-01T00:00:00Z".parse().expect("time")
}

fn contact(rng: &mut Rng) -> (Snapshot, Vec<LedgerEntry>) {
    let mut s = Snapshot::new();
    s.insert(
        "email",
        format!(
            "person{}@{}",
            rng.next() % 1000,
            rng.pick(&[
                "acme.com",
                "gmail.com",
                "cs.mit.edu",
                "rival.io",
                "bigcorp.de",
                "Example.ORG"
            ])
        ),
    );
    s.insert(
        "numberofemployees",
        rng.pick(&["5", "45", "150", "1200", "", "n/a"]),
    );
    s.insert(
        "industry",
        rng.pick(&["SaaS", "Retail", "COMPUTER_SOFTWARE", "Healthcare"]),
    );
    s.insert(
        "jobtitle",
        rng.pick(&[
            "Chief Executive Officer",
            "VP Marketing",
            "Marketing Manager",
            "Student",
            "Software Engineer",
            "Intern, Growth",
        ]),
    );
    s.insert(
        "country",
        rng.pick(&["United States", "Germany", "Brazil", "India"]),
    );
    s.insert(
        "annualrevenue",
        rng.pick(&["500000", "25000000", "120000000"]),
    );
    s.insert(
        "lifecyclestage",
        rng.pick(&["lead", "marketingqualifiedlead", "customer"]),
    );
    s.insert(
        "website",
        rng.pick(&["https://acme.com", "http://old.example", "acme.com"]),
    );
    s.insert("hs_lead_status", rng.pick(&["OPEN", "NEW", "IN_PROGRESS"]));
    s.insert(
        "hs_analytics_source",
        rng.pick(&["ORGANIC_SEARCH", "PAID_SEARCH", "DIRECT_TRAFFIC"]),
    );
    s.insert("state", rng.pick(&["CA", "NY", "Bavaria"]));
    if rng.next().is_multiple_of(2) {
        s.insert("phone", "+1 555 0100");
        s.insert("company", "Acme");
        s.insert("hubspot_owner_id", "123");
    }
    let entries = (0..ENTRIES_PER_CONTACT)
        .map(|_| LedgerEntry {
            rule: RuleId::parse(format!("e{:02}", 1 + rng.next() % 15)).expect("rule id"),
            occurred_at: now() - Duration::milliseconds((rng.next() % (180 * 86_400_000)) as i64),
        })
        .collect();
    (s, entries)
}

/// CPU time of this thread in nanoseconds (Linux `/proc/thread-self/schedstat`; the kernel
/// updates it at scheduler ticks, so only long runs are measured this way).
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Prints a digest of every result the bench's contacts get (totals, axes, labels, each
/// contribution, bit for bit, at three moments, and `next_change_at`), so that a faster build can
/// be checked to score exactly as the previous one did: the digest must not change.
fn results_digest(_: &mut Criterion) {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let (model, _, prepared) = setup();
    let mut hasher = DefaultHasher::new();
    for at in [
        now(),
        now() + Duration::days(3),
        now() + Duration::days(400),
    ] {
        for (snapshot, ledger) in &prepared {
            let s = model.score(snapshot, ledger, at);
            (s.total.to_bits(), s.fit.to_bits(), s.engagement.to_bits()).hash(&mut hasher);
            (s.grade.as_deref(), s.cell.as_deref()).hash(&mut hasher);
            for c in &s.contributions {
                (c.axis == Axis::Fit, c.rule, c.count).hash(&mut hasher);
                (c.raw.to_bits(), c.points.to_bits()).hash(&mut hasher);
            }
            model.next_change_at(snapshot, ledger, at).hash(&mut hasher);
        }
    }
    println!(
        "scoring-digest: {:016x} (every result of {} contacts at 3 moments)",
        hasher.finish(),
        prepared.len()
    );
}

fn bench_wall(c: &mut Criterion) {
    bench_scoring(c, "scoring");
}

/// Throughput per core in the thread's own CPU time: on a shared machine other processes take
/// turns on the same core, which wall-clock time counts and CPU time does not. Runs the hot path
/// for at least 3 s of CPU time and prints one line.
fn bench_cpu_time(_: &mut Criterion) {
    let (model, _, prepared) = setup();
    let now = now();
    let mut out = Scored::default();
    let Some(start) = thread_cpu_ns() else {
        println!("scoring-cpu: /proc/thread-self/schedstat is not readable; skipped");
        return;
    };
    let mut scored = 0u64;
    let mut sum = 0i64;
    while thread_cpu_ns().unwrap_or(u64::MAX).saturating_sub(start) < 3_000_000_000 {
        for (snapshot, ledger) in &prepared {
            model.score_into(snapshot, ledger, now, &mut out);
            sum += out.rounded_total();
        }
        scored += prepared.len() as u64;
    }
    let cpu = thread_cpu_ns().unwrap_or(start).saturating_sub(start) as f64;
    black_box(sum);
    println!(
        "scoring-cpu/score_into (hot path): {:.0} ns of thread CPU time per contact = {:.0} contacts/s per core ({scored} contacts)",
        cpu / scored as f64,
        scored as f64 / (cpu / 1e9)
    );
}

type Contacts = Vec<(Snapshot, Vec<LedgerEntry>)>;

fn setup() -> (CompiledModel, Contacts, Vec<(Snapshot, Ledger)>) {
    let model: CompiledModel = Model::from_yaml_str(MODEL)
        .expect("parses")
        .validate()
        .expect("valid");
    assert_eq!(
        (model.model().fit.len(), model.model().engagement.len()),
        (20, 15)
    );
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let contacts: Contacts = (0..CONTACTS).map(|_| contact(&mut rng)).collect();
    let prepared = contacts
        .iter()
        .map(|(s, e)| (s.clone(), e.iter().cloned().collect()))
        .collect();
    (model, contacts, prepared)
}

fn bench_scoring(c: &mut Criterion, group_name: &str) {
    let (model, contacts, prepared) = setup();
    let now = now();

    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(CONTACTS as u64));
    group.bench_function("score_into (hot path, 1024 contacts)", |b| {
        let mut out = Scored::default();
        b.iter(|| {
            let mut sum = 0i64;
            for (snapshot, ledger) in &prepared {
                model.score_into(snapshot, ledger, now, &mut out);
                sum += out.rounded_total();
            }
            black_box(sum)
        })
    });
    group.bench_function("score (with explanation vec, 1024 contacts)", |b| {
        b.iter(|| {
            prepared
                .iter()
                .map(|(s, l)| model.score(s, l, now).rounded_total())
                .sum::<i64>()
        })
    });
    group.bench_function(
        "ledger sort + score_into (unsorted entries, 1024 contacts)",
        |b| {
            let mut out = Scored::default();
            b.iter_batched(
                || contacts.clone(),
                |contacts| {
                    let mut sum = 0i64;
                    for (snapshot, entries) in contacts {
                        let ledger: Ledger = entries.into_iter().collect();
                        model.score_into(&snapshot, &ledger, now, &mut out);
                        sum += out.rounded_total();
                    }
                    black_box(sum)
                },
                criterion::BatchSize::LargeInput,
            )
        },
    );
    group.bench_function("next_change_at (1024 contacts)", |b| {
        b.iter(|| {
            prepared
                .iter()
                .filter_map(|(s, l)| model.next_change_at(s, l, now))
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, results_digest, bench_wall, bench_cpu_time);
criterion_main!(benches);

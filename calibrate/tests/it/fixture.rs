//! A seeded synthetic portal: contacts whose conversions come from KNOWN weights through a
//! logistic link (the Bernoulli draw is the noise). Shared by the tests and the `fit_bench`
//! example.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ember_calibrate::Contact;
use ember_scoring::{EngagementSignal, Model, SignalKind, Snapshot};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The generating weights: log-odds per fit rule (property `p{i}` is `yes`) and per event of
/// engagement rule `e{j}` (events do not decay).
#[derive(Debug, Clone)]
pub struct Truth {
    pub fit: Vec<f64>,
    pub engagement: Vec<f64>,
    pub intercept: f64,
}

impl Truth {
    /// A small portal: 5 fit rules and 3 engagement rules.
    pub fn small() -> Self {
        Self {
            fit: vec![1.5, 1.0, 0.8, -1.0, 0.5],
            engagement: vec![0.6, 0.3, -0.4],
            intercept: -2.5,
        }
    }

    /// `features` rules, cycling through a spread of weights (some near zero).
    pub fn wide(features: usize) -> Self {
        let spread = [1.2, -0.8, 0.5, 0.9, -0.3, 0.05, 0.7, -1.1, 0.4, 0.2];
        let fit_n = features * 2 / 3;
        Self {
            fit: (0..fit_n).map(|i| spread[i % spread.len()]).collect(),
            engagement: (fit_n..features)
                .map(|i| spread[i % spread.len()] / 3.0)
                .collect(),
            intercept: -3.0,
        }
    }

    /// The model with these weights × `scale` as points, no caps, no decay; `extra_engagement`
    /// adds engagement rules on external events of those types.
    pub fn model(&self, scale: f64, extra_engagement: &[&str]) -> Model {
        let mut yaml = String::from(
            "version: 3\nname: synthetic\ndecay: { kind: none }\noutput: { total: ember_score, grade: ember_grade }\n\
             grades:\n  - { label: A, min: 30 }\n  - { label: B, min: 10 }\n  - { label: C }\nfit:\n",
        );
        for (i, w) in self.fit.iter().enumerate() {
            yaml.push_str(&format!(
                "  - {{ id: p{i}, points: {}, when: {{ equals: {{ property: p{i}, value: \"yes\" }} }} }}\n",
                w * scale
            ));
        }
        yaml.push_str("engagement:\n");
        for (j, w) in self.engagement.iter().enumerate() {
            yaml.push_str(&format!(
                "  - {{ id: e{j}, points: {}, on: {{ external: {{ event_type: e{j} }} }} }}\n",
                w * scale
            ));
        }
        for extra in extra_engagement {
            yaml.push_str(&format!(
                "  - {{ id: {extra}, points: 10, on: {{ external: {{ event_type: {extra} }} }} }}\n"
            ));
        }
        Model::from_yaml_str(&yaml).expect("the synthetic model parses")
    }
}

/// 2026-06-01T00:00:00Z, the fixture's cutoff.
pub fn cutoff() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
}

fn external(event_type: &str, at: DateTime<Utc>) -> EngagementSignal {
    EngagementSignal {
        kind: SignalKind::External {
            event_type: event_type.to_owned(),
        },
        occurred_at: at,
    }
}

/// `n` contacts from `truth`, seeded. Events happen in January to March 2026; a converter
/// converts at a uniform time from April to August 2026 (so about two in five before the
/// cutoff). With `leak`, every converter also gets a `leak` event one day after converting.
pub fn contacts(truth: &Truth, n: usize, seed: u64, leak: Option<&str>) -> Vec<Contact> {
    let mut rng = StdRng::seed_from_u64(seed);
    let events_from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let converts_from = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
    let day = |k: u32| Duration::days(i64::from(k));
    (0..n)
        .map(|k| {
            let mut logit = truth.intercept;
            let mut properties = Snapshot::new();
            for (i, w) in truth.fit.iter().enumerate() {
                let matched = rng.random_bool(0.4);
                properties.insert(format!("p{i}"), if matched { "yes" } else { "no" });
                if matched {
                    logit += w;
                }
            }
            let mut events = Vec::new();
            for (j, w) in truth.engagement.iter().enumerate() {
                let count = rng.random_range(0..4u32);
                logit += w * f64::from(count);
                for _ in 0..count {
                    let at = events_from + day(rng.random_range(0..89));
                    events.push(external(&format!("e{j}"), at));
                }
            }
            let converted = rng.random_bool(1.0 / (1.0 + (-logit).exp()));
            let converted_at = converted.then(|| {
                converts_from
                    + day(rng.random_range(0..150))
                    + Duration::minutes(rng.random_range(0..1440))
            });
            if let (Some(leak), Some(at)) = (leak, converted_at) {
                events.push(external(leak, at + day(1)));
            }
            Contact {
                id: format!("c{k}"),
                properties,
                events,
                converted_at,
            }
        })
        .collect()
}

//! Properties of scoring over generated models and ledgers: order independence, decay never
//! raises a score, caps hold, and `next_change_at` is exact and never in the past.

use chrono::{DateTime, Duration, Utc};
use ember_scoring::{
    Axis, Bounds, Caps, CompiledModel, Condition, Decay, EngagementRule, EventMatcher, FitRule,
    Ledger, LedgerEntry, Model, OutputMapping, PropertyNumber, RuleId, Snapshot, next_change_at,
    score,
};
use proptest::prelude::*;

const DAY_MS: i64 = 86_400_000;

fn now() -> DateTime<Utc> {
    "2026-06-01T00:00:00Z".parse().expect("time")
}

#[derive(Debug, Clone)]
struct RuleSpec {
    points: f64,
    cap: Option<u32>,
    min_interval_hours: Option<f64>,
    half_life_days: Option<Option<f64>>,
}

fn rule_spec(negative_allowed: bool) -> impl Strategy<Value = RuleSpec> {
    let points = if negative_allowed {
        (-40i32..=40).boxed()
    } else {
        (0i32..=40).boxed()
    };
    (
        points,
        proptest::option::of(1u32..=4),
        proptest::option::of(prop_oneof![Just(0.0), 1.0f64..72.0]),
        proptest::option::of(proptest::option::of(0.5f64..90.0)),
    )
        .prop_map(
            |(points, cap, min_interval_hours, half_life_days)| RuleSpec {
                points: f64::from(points) + 0.25,
                cap,
                min_interval_hours,
                half_life_days,
            },
        )
}

fn bounds() -> impl Strategy<Value = Bounds> {
    (
        proptest::option::of(-60.0f64..0.0),
        proptest::option::of(10.0f64..120.0),
    )
        .prop_map(|(min, max)| Bounds { min, max })
}

fn caps() -> impl Strategy<Value = Caps> {
    proptest::option::of((bounds(), bounds(), bounds())).prop_map(|c| {
        c.map(|(fit, engagement, total)| Caps {
            fit,
            engagement,
            total,
        })
        .unwrap_or_default()
    })
}

fn build(specs: &[RuleSpec], model_half_life: Option<f64>, caps: Caps) -> CompiledModel {
    let decay = |h: Option<f64>| {
        h.map_or(Decay::None, |half_life_days| Decay::Exponential {
            half_life_days,
        })
    };
    let engagement = specs
        .iter()
        .enumerate()
        .map(|(i, s)| EngagementRule {
            id: RuleId::parse(format!("rule_{i}")).expect("id"),
            label: None,
            points: s.points,
            on: EventMatcher::External {
                event_type: format!("event_{i}"),
            },
            cap: s.cap,
            min_interval_hours: s.min_interval_hours,
            decay: s.half_life_days.map(decay),
        })
        .collect();
    let fit = vec![FitRule {
        id: RuleId::parse("big").expect("id"),
        label: None,
        points: 27.0,
        when: Condition::Gt(PropertyNumber {
            property: "numberofemployees".into(),
            value: 100.0,
        }),
    }];
    let model = Model {
        version: 1,
        name: None,
        decay: decay(model_half_life),
        caps,
        lists: Default::default(),
        fit,
        engagement,
        grades: Vec::new(),
        matrix: None,
        output: OutputMapping {
            total: "ember_score".into(),
            fit: None,
            engagement: None,
            grade: None,
            matrix: None,
            reasons: None,
            max_reasons: 3,
            reasons_max_chars: 250,
        },
    };
    model.validate().expect("generated models are valid")
}

/// Events: (rule index, offset from now in ms; mostly past, a few slightly future).
fn events(rules: usize) -> impl Strategy<Value = Vec<(usize, i64)>> {
    proptest::collection::vec(
        (
            0..rules,
            prop_oneof![9 => -200 * DAY_MS..0i64, 1 => 0i64..3_600_000],
        ),
        0..40,
    )
}

fn ledger_of(events: &[(usize, i64)]) -> Ledger {
    events.iter().map(|&(r, off)| entry(r, off)).collect()
}

fn entry(rule: usize, offset_ms: i64) -> LedgerEntry {
    LedgerEntry {
        rule: RuleId::parse(format!("rule_{rule}")).expect("id"),
        occurred_at: now() + Duration::milliseconds(offset_ms),
    }
}

fn snapshot(big: bool) -> Snapshot {
    [("numberofemployees", if big { "500" } else { "12" })]
        .into_iter()
        .collect()
}

/// Rules, the model's half-life, caps, events and whether the contact is a big company.
type Case = (Vec<RuleSpec>, Option<f64>, Caps, Vec<(usize, i64)>, bool);

fn model_and_events(negative_allowed: bool) -> impl Strategy<Value = Case> {
    proptest::collection::vec(rule_spec(negative_allowed), 1..6).prop_flat_map(|specs| {
        let n = specs.len();
        (
            Just(specs),
            proptest::option::of(0.5f64..120.0),
            caps(),
            events(n),
            any::<bool>(),
        )
    })
}

proptest! {
    // 256 cases by default, PROPTEST_CASES=20000 for a deeper run. Failing inputs are printed,
    // not written next to the tests.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_score_does_not_depend_on_the_arrival_order(
        (specs, half_life, caps, evs, big) in model_and_events(true),
        seed in any::<u64>(),
    ) {
        let model = build(&specs, half_life, caps);
        let mut shuffled = evs.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let mut inserted = Ledger::new();
        for &(r, off) in &shuffled {
            inserted.insert(entry(r, off));
        }
        let snap = snapshot(big);
        let a = score(&model, &snap, &ledger_of(&evs), now());
        let b = score(&model, &snap, &ledger_of(&shuffled), now());
        let c = score(&model, &snap, &inserted, now());
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
    }

    #[test]
    fn decay_never_increases_a_score_without_new_events(
        (specs, half_life, caps, evs, big) in model_and_events(false),
        later_ms in 0i64..400 * DAY_MS,
        more_ms in 0i64..400 * DAY_MS,
    ) {
        let model = build(&specs, half_life, caps);
        let ledger = ledger_of(&evs);
        let snap = snapshot(big);
        let t1 = now() + Duration::milliseconds(later_ms);
        let t2 = t1 + Duration::milliseconds(more_ms);
        let s1 = score(&model, &snap, &ledger, t1);
        let s2 = score(&model, &snap, &ledger, t2);
        prop_assert!(s2.total <= s1.total, "{} then {}", s1.total, s2.total);
        prop_assert!(s2.engagement <= s1.engagement);
    }

    #[test]
    fn each_rule_only_fades_towards_zero_with_mixed_signs(
        (specs, half_life, caps, evs, big) in model_and_events(true),
        later_ms in 0i64..400 * DAY_MS,
    ) {
        let model = build(&specs, half_life, caps);
        let ledger = ledger_of(&evs);
        let snap = snapshot(big);
        let s1 = score(&model, &snap, &ledger, now());
        let s2 = score(&model, &snap, &ledger, now() + Duration::milliseconds(later_ms));
        for (c1, c2) in s1.contributions.iter().zip(&s2.contributions) {
            prop_assert_eq!((c1.axis, c1.rule, c1.count), (c2.axis, c2.rule, c2.count));
            prop_assert!(c2.points.abs() <= c1.points.abs());
            prop_assert!(c1.points.abs() <= c1.raw.abs() + 1e-9);
        }
    }

    #[test]
    fn caps_hold(
        (specs, half_life, caps, evs, big) in model_and_events(true),
    ) {
        let model = build(&specs, half_life, caps);
        let s = score(&model, &snapshot(big), &ledger_of(&evs), now());
        for c in s.contributions.iter().filter(|c| c.axis == Axis::Engagement) {
            let rule = model.rule_id(Axis::Engagement, c.rule).expect("rule");
            let i: usize = rule.as_str().trim_start_matches("rule_").parse().expect("index");
            if let Some(cap) = specs[i].cap {
                prop_assert!(c.count <= cap, "{} counted {} > cap {}", rule, c.count, cap);
            }
            let events_of_rule = evs.iter().filter(|(r, _)| *r == i).count();
            prop_assert!(c.count as usize <= events_of_rule);
        }
        let within = |x: f64, b: Bounds| b.min.is_none_or(|m| x >= m) && b.max.is_none_or(|m| x <= m);
        prop_assert!(within(s.fit, caps.fit));
        prop_assert!(within(s.engagement, caps.engagement));
        prop_assert!(within(s.total, caps.total));
    }

    #[test]
    fn next_change_at_is_exact_and_never_in_the_past(
        (specs, half_life, caps, evs, big) in model_and_events(true),
        sub_ms_nanos in 0u32..1_000_000,
        probes in proptest::collection::vec(0.0f64..1.0, 8),
    ) {
        let model = build(&specs, half_life, caps);
        let ledger = ledger_of(&evs);
        let snap = snapshot(big);
        let t0 = now() + Duration::nanoseconds(i64::from(sub_ms_nanos));
        let rounded = |t: DateTime<Utc>| score(&model, &snap, &ledger, t).rounded_total();
        let start = rounded(t0);
        match next_change_at(&model, &snap, &ledger, t0) {
            Some(next) => {
                prop_assert!(next > t0, "{} is not after {}", next, t0);
                prop_assert_ne!(rounded(next), start, "unchanged at {}", next);
                let before = next - Duration::milliseconds(1);
                if before > t0 {
                    prop_assert_eq!(rounded(before), start, "already changed at {}", before);
                }
                let span = (next - t0).num_milliseconds();
                for p in probes {
                    let t = t0 + Duration::milliseconds((p * span as f64) as i64);
                    if t < next {
                        prop_assert_eq!(rounded(t), start, "changed early at {}", t);
                    }
                }
            }
            None => {
                for p in probes {
                    let t = t0 + Duration::milliseconds((p * p * 3650.0 * DAY_MS as f64) as i64);
                    prop_assert_eq!(rounded(t), start, "changed at {} though none was scheduled", t);
                }
            }
        }
    }
}

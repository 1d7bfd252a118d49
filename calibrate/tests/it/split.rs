//! The time split and the as-of rule of features.

use chrono::{DateTime, Duration, Utc};
use ember_calibrate::features::score_as_of;
use ember_calibrate::{Case, Contact, FeatureSet, Split};
use ember_scoring::{EngagementSignal, Model, SignalKind, Snapshot};

use crate::fixture::{Truth, cutoff};

fn contact(id: &str, converted_at: Option<DateTime<Utc>>) -> Contact {
    Contact {
        id: id.to_owned(),
        properties: Snapshot::new(),
        events: Vec::new(),
        converted_at,
    }
}

#[test]
fn converters_before_the_cutoff_train_as_of_their_conversion_and_the_rest_as_of_the_cutoff() {
    let cutoff = cutoff();
    let early = cutoff - Duration::days(10);
    let late = cutoff + Duration::days(10);
    let contacts = [
        contact("early", Some(early)),
        contact("late", Some(late)),
        contact("never", None),
        contact("at_cutoff", Some(cutoff)),
    ];
    let split = Split::new(&contacts, cutoff);
    let case = |contact, as_of, converted| Case {
        contact,
        as_of,
        converted,
    };
    assert_eq!(
        split.train,
        [
            case(0, early, true),
            case(1, cutoff, false),
            case(2, cutoff, false),
            case(3, cutoff, false),
        ]
    );
    // The early converter is not in the holdout: its outcome was known before the cutoff.
    assert_eq!(
        split.holdout,
        [
            case(1, cutoff, true),
            case(2, cutoff, false),
            case(3, cutoff, true),
        ]
    );
}

#[test]
fn features_count_only_events_strictly_before_the_as_of_time() {
    let model = Truth::small().model(10.0, &[]);
    let features = FeatureSet::new(&model).unwrap();
    let t = cutoff();
    let event = |event_type: &str, at| EngagementSignal {
        kind: SignalKind::External {
            event_type: event_type.to_owned(),
        },
        occurred_at: at,
    };
    let c = Contact {
        id: "c".into(),
        properties: [("p0", "yes"), ("p1", "no"), ("p3", "YES ")]
            .into_iter()
            .collect(),
        events: vec![
            event("e0", t - Duration::milliseconds(1)),
            event("e0", t - Duration::days(3)),
            event("e0", t),
            event("e1", t + Duration::days(1)),
            event("e2", t - Duration::days(40)),
        ],
        converted_at: None,
    };
    // Columns: p0..p4 (matched 0/1, case-insensitive as in scoring), then e0, e1, e2 (counts:
    // the model does not decay). The event at exactly `t` and the one after it do not count.
    assert_eq!(
        features.features(&c, t),
        [1.0, 0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 1.0]
    );
    assert_eq!(
        features.features(&c, t + Duration::days(2)),
        [1.0, 0.0, 0.0, 1.0, 0.0, 3.0, 1.0, 1.0]
    );
    // The score as of `t` reads the same events: 15 + (−10) + 2 × 6 + (−4).
    let compiled = model.validate().unwrap();
    assert!((score_as_of(&compiled, &c, t).total - 13.0).abs() < 1e-9);
}

#[test]
fn engagement_features_are_decayed_counts_when_the_model_decays() {
    let mut model: Model = Truth::small().model(10.0, &[]);
    model.decay = ember_scoring::Decay::Exponential {
        half_life_days: 30.0,
    };
    let features = FeatureSet::new(&model).unwrap();
    let t = cutoff();
    let c = Contact {
        id: "c".into(),
        properties: Snapshot::new(),
        events: vec![EngagementSignal {
            kind: SignalKind::External {
                event_type: "e1".into(),
            },
            occurred_at: t - Duration::days(30),
        }],
        converted_at: None,
    };
    let row = features.features(&c, t);
    assert!(
        (row[6] - 0.5).abs() < 1e-3,
        "one event, one half-life old: {row:?}"
    );
}

//! The fit on a synthetic portal with known weights, rounding, and leakage.

use ember_calibrate::fit::readable_points;
use ember_calibrate::{FitOptions, ReportOptions, Split, fit, report};

use crate::fixture::{Truth, contacts, cutoff};

#[test]
fn the_learned_draft_ranks_the_holdout_as_well_as_the_generating_model() {
    let truth = Truth::small();
    let people = contacts(&truth, 20_000, 7, None);
    let split = Split::new(&people, cutoff());
    // The model before calibration: right rules, arbitrary points, largest 30.
    let mut input = truth.model(10.0, &[]);
    for (rule, points) in input.fit.iter_mut().zip([30.0, 5.0, 5.0, -5.0, 20.0]) {
        rule.points = points;
    }
    let fitted = fit(&input, &people, &split, &FitOptions::default()).unwrap();

    // The draft validates, is the next version, and keeps the signs of the truth.
    let compiled = fitted.draft.validate().expect("the draft validates");
    assert_eq!(compiled.version(), input.version + 1);
    let points: Vec<f64> = fitted.weights.iter().map(|w| w.points).collect();
    assert_eq!(points.len(), 8);
    for (p, w) in points.iter().zip(truth.fit.iter().chain(&truth.engagement)) {
        assert_eq!(p.signum(), w.signum(), "points {points:?}");
        assert_eq!(p % 5.0, 0.0, "multiples of 5: {points:?}");
    }
    // The largest coefficient (p0, 1.5) gets the input's largest points.
    assert_eq!(points[0], 30.0, "{points:?}");
    assert!(fitted.suggested_for_removal().is_empty());

    let options = ReportOptions::default();
    let generating = report(&truth.model(10.0, &[]), &people, &split, &options).unwrap();
    let learned = report(&fitted.draft, &people, &split, &options).unwrap();
    let wrong = report(&truth.model(-10.0, &[]), &people, &split, &options).unwrap();
    assert!(
        (learned.auc - generating.auc).abs() <= 0.02,
        "learned {} vs generating {}",
        learned.auc,
        generating.auc
    );
    assert!(
        generating.auc > 0.7,
        "the fixture is informative: {}",
        generating.auc
    );
    assert!(
        learned.auc >= wrong.auc + 0.1,
        "learned {} vs wrong {}",
        learned.auc,
        wrong.auc
    );
}

#[test]
fn an_event_that_only_follows_conversion_gets_no_weight_and_no_auc() {
    let truth = Truth::small();
    let people = contacts(&truth, 8_000, 11, Some("welcome_call"));
    let split = Split::new(&people, cutoff());
    let input = truth.model(10.0, &["welcome_call"]);
    let fitted = fit(&input, &people, &split, &FitOptions::default()).unwrap();
    let leak = fitted
        .weights
        .iter()
        .find(|w| w.rule.as_str() == "welcome_call")
        .unwrap();
    assert_eq!(leak.coefficient, 0.0, "{leak:?}");
    assert_eq!(leak.points, 0.0);
    assert!(leak.suggested_for_removal);
    assert_eq!(
        fitted
            .suggested_for_removal()
            .iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>(),
        ["welcome_call"]
    );
    let rule = fitted
        .draft
        .engagement
        .iter()
        .find(|r| r.id.as_str() == "welcome_call")
        .unwrap();
    assert_eq!(rule.points, 0.0);

    let options = ReportOptions::default();
    let with_leak = report(&input, &people, &split, &options).unwrap();
    let without = report(&truth.model(10.0, &[]), &people, &split, &options).unwrap();
    assert!(
        with_leak.auc < 0.9,
        "the holdout AUC must not jump: {}",
        with_leak.auc
    );
    assert!((with_leak.auc - without.auc).abs() < 1e-6);

    // The event is a perfect leak when read after the fact: scored at the end of the data,
    // the rule alone separates the holdout's converters.
    let end = cutoff() + chrono::Duration::days(200);
    let mut leaky_split = split.clone();
    for case in &mut leaky_split.holdout {
        case.as_of = end;
    }
    let mut only_leak = input.clone();
    for r in &mut only_leak.fit {
        r.points = 0.0;
    }
    for r in &mut only_leak.engagement {
        if r.id.as_str() != "welcome_call" {
            r.points = 0.0;
        }
    }
    let leaky = report(&only_leak, &people, &leaky_split, &options).unwrap();
    assert!(leaky.auc > 0.99, "{}", leaky.auc);
}

#[test]
fn points_are_multiples_of_five_at_least_five_from_zero() {
    assert_eq!(readable_points(12.0), 10.0);
    assert_eq!(readable_points(12.6), 15.0);
    assert_eq!(readable_points(2.0), 5.0);
    assert_eq!(readable_points(0.1), 5.0);
    assert_eq!(readable_points(-2.0), -5.0);
    assert_eq!(readable_points(-13.0), -15.0);
}

#[test]
fn a_weak_rule_is_suggested_for_removal() {
    // One rule with a tiny weight among strong ones: its |coefficient| is under a tenth of
    // the largest.
    let truth = Truth {
        fit: vec![2.0, 0.0, 1.0],
        engagement: vec![0.5],
        intercept: -2.0,
    };
    let people = contacts(&truth, 20_000, 3, None);
    let split = Split::new(&people, cutoff());
    let fitted = fit(
        &truth.model(10.0, &[]),
        &people,
        &split,
        &FitOptions::default(),
    )
    .unwrap();
    let removed: Vec<&str> = fitted
        .suggested_for_removal()
        .iter()
        .map(|id| id.as_str())
        .collect();
    assert_eq!(removed, ["p1"], "{:?}", fitted.weights);
    assert_eq!(fitted.draft.fit[1].points, 0.0);
}

#[test]
fn a_wide_model_fits_into_a_valid_draft() {
    // The benchmark's shape (30 rules, 20 fit and 10 engagement), small.
    let truth = Truth::wide(30);
    let people = contacts(&truth, 3_000, 8, None);
    let split = Split::new(&people, cutoff());
    let input = truth.model(10.0, &[]);
    let fitted = fit(&input, &people, &split, &FitOptions::default()).unwrap();
    assert_eq!(fitted.weights.len(), 30);
    fitted.draft.validate().expect("the draft validates");
    assert_eq!(fitted.train_contacts, people.len());
    // The strongest true weight (p7, −1.1) keeps its sign.
    assert!(fitted.weights[7].points < 0.0, "{:?}", fitted.weights[7]);
}

#[test]
fn a_train_set_without_converters_is_refused() {
    let truth = Truth::small();
    let mut people = contacts(&truth, 200, 5, None);
    for c in &mut people {
        c.converted_at = None;
    }
    let split = Split::new(&people, cutoff());
    let error = fit(
        &truth.model(10.0, &[]),
        &people,
        &split,
        &FitOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the train set has 0 converter(s) among 200 contact(s): it needs both converters and non-converters"
    );
}

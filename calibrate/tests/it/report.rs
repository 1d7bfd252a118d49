//! The quality report: AUC against a pairwise count, the bootstrap interval, grades,
//! calibration bins and histograms.

use ember_calibrate::report::auc;
use ember_calibrate::{ReportOptions, Split, report};

use crate::fixture::{Truth, contacts, cutoff};

/// The AUC by its definition: over all (converter, non-converter) pairs, the share where the
/// converter scores higher, ties counting one half (the test's oracle).
fn pairwise_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &si) in scores.iter().enumerate() {
        for (j, &sj) in scores.iter().enumerate() {
            if labels[i] && !labels[j] {
                pairs += 1.0;
                wins += if si > sj {
                    1.0
                } else if si == sj {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    wins / pairs
}

#[test]
fn auc_matches_the_pairwise_definition_with_ties_and_zero_scores() {
    let cases: [(&[f64], &[bool]); 4] = [
        (
            &[0.0, 0.0, 10.0, 20.0, 20.0, 5.0],
            &[false, true, false, true, false, true],
        ),
        (&[0.0, 0.0, 0.0, 30.0], &[true, false, false, true]),
        (
            &[-5.0, 3.0, 3.0, 3.0, 8.0],
            &[false, true, false, false, true],
        ),
        (&[7.0, 7.0, 7.0], &[true, false, false]),
    ];
    for (scores, labels) in cases {
        let got = auc(scores, labels);
        let want = pairwise_auc(scores, labels);
        assert!((got - want).abs() < 1e-6, "{scores:?}: {got} vs {want}");
    }
}

#[test]
fn the_report_counts_the_holdout_per_grade_decile_and_bin() {
    let truth = Truth::small();
    let people = contacts(&truth, 5_000, 21, None);
    let split = Split::new(&people, cutoff());
    let r = report(
        &truth.model(10.0, &[]),
        &people,
        &split,
        &ReportOptions::default(),
    )
    .unwrap();
    assert_eq!(r.contacts, split.holdout.len());
    let converters = split.holdout.iter().filter(|c| c.converted).count();
    assert_eq!(r.converters, converters);
    assert!((r.base_rate - converters as f64 / r.contacts as f64).abs() < 1e-12);

    // Grades in the model's order, highest first; every holdout contact has one (C catches
    // the rest); lift rises with the grade.
    let grades: Vec<&str> = r
        .grades
        .iter()
        .map(|g| g.grade.as_deref().unwrap())
        .collect();
    assert_eq!(grades, ["A", "B", "C"]);
    assert_eq!(
        r.grades.iter().map(|g| g.contacts).sum::<usize>(),
        r.contacts
    );
    assert_eq!(
        r.grades.iter().map(|g| g.converters).sum::<usize>(),
        converters
    );
    assert!(r.grades[0].lift > r.grades[1].lift && r.grades[1].lift > r.grades[2].lift);
    let a = &r.grades[0];
    assert!((a.lift - a.conversion_rate / r.base_rate).abs() < 1e-12);

    // Ten deciles of equal size by rank, scores ascending; the predicted probability follows
    // the score and the observed rate of the top decile beats the bottom one.
    assert_eq!(r.calibration.len(), 10);
    assert_eq!(
        r.calibration.iter().map(|b| b.contacts).sum::<usize>(),
        r.contacts
    );
    for pair in r.calibration.windows(2) {
        assert!(pair[0].max_score <= pair[1].min_score);
        assert!(pair[0].mean_predicted.unwrap() <= pair[1].mean_predicted.unwrap());
    }
    assert!(r.calibration[9].observed_rate > r.calibration[0].observed_rate);

    // Histograms: bins of 10 points that hold every holdout contact once.
    assert_eq!(
        r.histogram.iter().map(|b| b.converters).sum::<usize>(),
        converters
    );
    assert_eq!(
        r.histogram
            .iter()
            .map(|b| b.converters + b.non_converters)
            .sum::<usize>(),
        r.contacts
    );
    for b in &r.histogram {
        assert_eq!(b.to - b.from, 10.0);
    }
    // Serializable, with the documented field names.
    let json = serde_json::to_value(&r).unwrap();
    for field in [
        "auc",
        "auc_interval",
        "grades",
        "calibration",
        "histogram",
        "base_rate",
    ] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
}

#[test]
fn the_bootstrap_interval_holds_the_estimate_and_narrows_with_more_data() {
    let truth = Truth::small();
    let model = truth.model(10.0, &[]);
    let options = ReportOptions::default();
    let width = |n: usize| {
        let people = contacts(&truth, n, 99, None);
        let split = Split::new(&people, cutoff());
        let r = report(&model, &people, &split, &options).unwrap();
        let i = r.auc_interval;
        assert!(i.low <= r.auc && r.auc <= i.high, "{} not in {i:?}", r.auc);
        assert_eq!(i.resamples, 200);
        assert_eq!(i.seed, options.seed);
        // Seeded: the same data gives the same interval.
        assert_eq!(
            report(&model, &people, &split, &options)
                .unwrap()
                .auc_interval,
            i
        );
        i.high - i.low
    };
    let small = width(1_500);
    let large = width(12_000);
    assert!(large < small * 0.75, "{large} vs {small}");
}

#[test]
fn a_holdout_without_converters_is_refused() {
    let truth = Truth::small();
    let mut people = contacts(&truth, 300, 4, None);
    for c in &mut people {
        if c.converted_at.is_some_and(|t| t >= cutoff()) {
            c.converted_at = None;
        }
    }
    let split = Split::new(&people, cutoff());
    let error = report(
        &truth.model(10.0, &[]),
        &people,
        &split,
        &ReportOptions::default(),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("the holdout set has 0 converter(s)"),
        "{error}"
    );
}

//! The "Model fit" figures of BENCHMARKS.md: features, fit and reports on a synthetic portal
//! (the tests' seeded fixture) of N contacts × 30 rules.
//!
//! `cargo run --release -p ember-calibrate --example fit_bench -- 100000`
//! (under `/usr/bin/time -v` for the peak RSS).

// The tests' fixture; this example uses only its wide portal.
#[allow(dead_code)]
#[path = "../tests/it/fixture.rs"]
mod fixture;

use std::time::Instant;

use ember_calibrate::{FitOptions, ReportOptions, Split, fit, report};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| {
            a.parse()
                .expect("the first argument is a number of contacts")
        })
        .unwrap_or(100_000);
    let truth = fixture::Truth::wide(30);
    let input = truth.model(10.0, &[]);

    let started = Instant::now();
    let people = fixture::contacts(&truth, n, 1, None);
    let split = Split::new(&people, fixture::cutoff());
    let generated = started.elapsed();

    let started = Instant::now();
    let fitted = fit(&input, &people, &split, &FitOptions::default()).expect("the fit");
    let fitting = started.elapsed();

    let started = Instant::now();
    let options = ReportOptions::default();
    let input_report = report(&input, &people, &split, &options).expect("the input's report");
    let draft_report =
        report(&fitted.draft, &people, &split, &options).expect("the draft's report");
    let reporting = started.elapsed();

    println!(
        "{n} contacts x {} rules: train {} ({} converters), holdout {} ({} converters)",
        fitted.weights.len(),
        fitted.train_contacts,
        fitted.train_converters,
        input_report.contacts,
        input_report.converters
    );
    println!("generate + split: {:.2} s", generated.as_secs_f64());
    println!(
        "fit (features + regression + draft): {:.2} s",
        fitting.as_secs_f64()
    );
    println!(
        "two reports (scores + AUC + {} bootstrap resamples each): {:.2} s",
        options.resamples,
        reporting.as_secs_f64()
    );
    println!(
        "AUC input {:.4}, draft {:.4}; suggested for removal: {:?}",
        input_report.auc,
        draft_report.auc,
        fitted.suggested_for_removal()
    );
}

//! `ember model fit` and `ember model report` as an analyst runs them: a draft written from
//! exported contacts and outcomes, and bad outcome files refused with their line, nothing
//! written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ember_core::scoring::{Format, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const MODEL: &str = "version: 1
decay: { kind: none }
output: { total: ember_score, grade: ember_grade }
grades:
  - { label: A, min: 20 }
  - { label: B }
fit:
  - { id: big_company, points: 10, when: { equals: { property: size, value: big } } }
  - { id: has_phone, points: 20, when: { known: { property: phone } } }
engagement:
  - { id: demo, points: 10, on: { external: { event_type: demo_request } } }
";

/// A temporary folder with a model, contacts and outcomes: conversion odds rise with a big
/// company and demo requests; no contact has a phone, so that rule never matches.
fn inputs(name: &str) -> (PathBuf, Vec<String>) {
    let dir = std::env::temp_dir().join(ember_tests::unique_name(name));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.yaml"), MODEL).unwrap();
    let mut rng = StdRng::seed_from_u64(42);
    let (mut contacts, mut outcomes) = (String::new(), vec!["id,converted_at".to_owned()]);
    for k in 0..4_000 {
        let big = rng.random_bool(0.5);
        let demos = rng.random_range(0..3u32);
        let properties = json!({ "size": if big { "big" } else { "small" } });
        let events: Vec<Value> = (0..demos)
            .map(|d| {
                json!({ "type": "external", "event_type": "demo_request",
                        "occurred_at": format!("2026-02-{:02}T10:00:00Z", 1 + d) })
            })
            .collect();
        let line = json!({ "id": format!("c{k}"), "properties": properties, "events": events });
        contacts.push_str(&format!("{line}\n"));
        let logit = -2.0 + if big { 1.5 } else { 0.0 } + f64::from(demos);
        let converted = rng.random_bool(1.0 / (1.0 + f64::exp(-logit)));
        let at = if converted {
            format!("2026-{:02}-15T09:00:00Z", rng.random_range(4..9u32))
        } else {
            String::new()
        };
        outcomes.push(format!("c{k},{at}"));
    }
    std::fs::write(dir.join("contacts.jsonl"), contacts).unwrap();
    (dir, outcomes)
}

fn ember(dir: &Path, command: &str, outcomes: &[String], extra: &[&str]) -> Output {
    std::fs::write(dir.join("outcomes.csv"), outcomes.join("\n") + "\n").unwrap();
    Command::new(env!("CARGO_BIN_EXE_ember"))
        .current_dir(dir)
        .args([
            "model",
            command,
            "--model",
            "model.yaml",
            "--contacts",
            "contacts.jsonl",
        ])
        .args([
            "--outcomes",
            "outcomes.csv",
            "--cutoff",
            "2026-06-01T00:00:00Z",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_fit_writes_a_valid_draft_and_reports_both_models() {
    let (dir, outcomes) = inputs("model-fit");
    let out = ember(&dir, "fit", &outcomes, &["--out", "draft.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["cutoff"], "2026-06-01T00:00:00Z");
    assert_eq!(report["train_contacts"], 4_000);
    let rules: Vec<(&str, f64)> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["rule"].as_str().unwrap(), r["points"].as_f64().unwrap()))
        .collect();
    assert_eq!(rules.len(), 3);
    // The rule that never matches is suggested for removal; the other two carry signal.
    assert_eq!(report["suggested_for_removal"], json!(["has_phone"]));
    assert!(rules[0].1 >= 5.0 && rules[2].1 >= 5.0, "{rules:?}");
    assert!(report["draft"]["auc"].as_f64().unwrap() > report["input"]["auc"].as_f64().unwrap());

    // The draft on disk is the reported one, valid, one version up.
    let text = std::fs::read_to_string(dir.join("draft.yaml")).unwrap();
    let draft = Model::load(&text, Format::Yaml).expect("the draft validates");
    assert_eq!(draft.version(), 2);
    let written: Vec<(&str, f64)> = draft
        .model()
        .fit
        .iter()
        .map(|r| (r.id.as_str(), r.points))
        .chain(
            draft
                .model()
                .engagement
                .iter()
                .map(|r| (r.id.as_str(), r.points)),
        )
        .collect();
    assert_eq!(written, rules);

    // The report alone, as a table, writes nothing.
    std::fs::remove_file(dir.join("draft.yaml")).unwrap();
    let out = ember(&dir, "report", &outcomes, &["--table"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("model v1: holdout "), "{table}");
    assert!(
        table.contains("AUC") && table.contains("grade A"),
        "{table}"
    );
    assert!(!dir.join("draft.yaml").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_outcomes_are_refused_with_their_line_and_nothing_is_written() {
    let (dir, good) = inputs("model-fit-bad");
    let draft = dir.join("draft.yaml");
    let refused = |outcomes: &[String], want: &str| {
        let out = ember(&dir, "fit", outcomes, &["--out", "draft.yaml"]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(want), "want {want:?} in {err}");
        assert!(err.contains("nothing was written"), "{err}");
        assert!(!draft.exists(), "a draft was written after: {err}");
        assert!(out.stdout.is_empty());
    };

    let mut missing_column = good.clone();
    missing_column[0] = "id,converted".into();
    refused(
        &missing_column,
        "outcomes.csv:1: missing column converted_at",
    );

    let mut bad_date = good.clone();
    bad_date[3] = "c2,yesterday".into();
    refused(
        &bad_date,
        "outcomes.csv:4: converted_at \"yesterday\" is not an RFC 3339 time",
    );

    let mut unknown = good.clone();
    unknown.push("ghost,2026-05-01T00:00:00Z".into());
    refused(
        &unknown,
        &format!(
            "outcomes.csv:{}: unknown contact id \"ghost\"",
            unknown.len()
        ),
    );

    let mut no_row = good.clone();
    no_row.remove(1);
    refused(
        &no_row,
        "contacts.jsonl:1: contact \"c0\" has no row in outcomes.csv",
    );

    // A contact without an id cannot be joined to its outcome.
    let contacts_file = dir.join("contacts.jsonl");
    let contacts = std::fs::read_to_string(&contacts_file).unwrap();
    std::fs::write(
        &contacts_file,
        format!("{contacts}{{\"properties\": {{\"size\": \"big\"}}}}\n"),
    )
    .unwrap();
    refused(
        &good,
        &format!(
            "contacts.jsonl:{}: the contact has no id",
            contacts.lines().count() + 1
        ),
    );
    std::fs::write(&contacts_file, contacts).unwrap();

    // The good file still works: the refusals came from the lines changed.
    let out = ember(&dir, "fit", &good, &["--out", "draft.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(draft.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

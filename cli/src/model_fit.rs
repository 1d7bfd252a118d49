//! `ember model fit` and `ember model report`: learned rule weights and holdout quality,
//! offline, from exported contacts and their conversion times (docs/calibration.md).
//!
//! Inputs: the model file, the contacts in `ember score`'s JSONL format (each with an `id`),
//! and an outcomes CSV with a header naming `id` and `converted_at` (RFC 3339; empty: never
//! converted), one row per contact. Every problem of the inputs is printed as `file:line:
//! problem`; then the command fails and writes nothing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use ember_calibrate::{
    Contact, FitOptions, FitResult, QualityReport, ReportOptions, RuleWeight, Split, fit, report,
};
use ember_core::scoring::Model;
use serde::Serialize;

use crate::score::{load_model, read_contacts};

/// Arguments of `ember model`.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ModelCommand {
    /// Learn rule weights on the outcomes before the cutoff, write a draft model with them and
    /// report the input model and the draft on what happened after it.
    Fit {
        #[command(flatten)]
        inputs: Inputs,
        /// Where to write the draft model (YAML); default: the model's file name with
        /// `.draft.yaml` in place of its extension.
        #[arg(long, value_name = "DRAFT.yaml")]
        out: Option<PathBuf>,
    },
    /// Report a model's quality on what happened after the cutoff (nothing is written).
    Report {
        #[command(flatten)]
        inputs: Inputs,
    },
}

/// What both commands read.
#[derive(Debug, clap::Args)]
struct Inputs {
    /// The model: YAML, or JSON when the file name ends in `.json`.
    #[arg(long, value_name = "MODEL.yaml")]
    model: PathBuf,
    /// Exported contacts, one JSON object per line, each with an `id` (`ember score`'s format).
    #[arg(long, value_name = "CONTACTS.jsonl")]
    contacts: PathBuf,
    /// Conversion times: CSV with the columns `id,converted_at` (RFC 3339; empty: never).
    #[arg(long, value_name = "OUTCOMES.csv")]
    outcomes: PathBuf,
    /// Train on outcomes before this time, measure on what happened from it on (RFC 3339).
    #[arg(long, value_name = "TIME")]
    cutoff: DateTime<Utc>,
    /// Print a short table instead of JSON.
    #[arg(long)]
    table: bool,
}

/// Runs `ember model`.
pub fn run(args: ModelArgs) -> anyhow::Result<()> {
    match args.command {
        ModelCommand::Fit { inputs, out } => {
            let out = out.unwrap_or_else(|| inputs.model.with_extension("draft.yaml"));
            if out == inputs.model {
                bail!(
                    "--out {} is the input model: choose another file for the draft",
                    out.display()
                );
            }
            let (model, contacts, split) = load(&inputs)?;
            let fitted = fit(&model, &contacts, &split, &FitOptions::default())?;
            let options = ReportOptions::default();
            let input_report = report(&model, &contacts, &split, &options)?;
            let draft_report = report(&fitted.draft, &contacts, &split, &options)?;
            let yaml = fitted
                .draft
                .to_yaml_string()
                .context("Cannot write the draft as YAML")?;
            let output = FitOutput {
                cutoff: rfc3339(split.cutoff),
                draft_path: out.display().to_string(),
                train_contacts: fitted.train_contacts,
                train_converters: fitted.train_converters,
                intercept: fitted.intercept,
                points_per_coefficient: fitted.points_per_coefficient,
                rules: &fitted.weights,
                suggested_for_removal: fitted
                    .suggested_for_removal()
                    .iter()
                    .map(|id| id.as_str())
                    .collect(),
                input: &input_report,
                draft: &draft_report,
            };
            let text = if inputs.table {
                fit_table(&fitted, &input_report, &draft_report)
            } else {
                json(&output)?
            };
            // Written last, once everything else succeeded: a failure leaves no draft behind.
            std::fs::write(&out, yaml)
                .with_context(|| format!("Cannot write the draft {}", out.display()))?;
            print!("{text}");
            eprintln!("draft written to {}", out.display());
            Ok(())
        }
        ModelCommand::Report { inputs } => {
            let (model, contacts, split) = load(&inputs)?;
            let r = report(&model, &contacts, &split, &ReportOptions::default())?;
            let text = if inputs.table {
                let mut t = String::new();
                quality_table(&mut t, "model", &r);
                t
            } else {
                json(&ReportOutput {
                    cutoff: rfc3339(split.cutoff),
                    report: &r,
                })?
            };
            print!("{text}");
            Ok(())
        }
    }
}

#[derive(Serialize)]
struct FitOutput<'a> {
    cutoff: String,
    draft_path: String,
    train_contacts: usize,
    train_converters: usize,
    intercept: f64,
    points_per_coefficient: f64,
    rules: &'a [RuleWeight],
    suggested_for_removal: Vec<&'a str>,
    input: &'a QualityReport,
    draft: &'a QualityReport,
}

#[derive(Serialize)]
struct ReportOutput<'a> {
    cutoff: String,
    report: &'a QualityReport,
}

fn json(value: &impl Serialize) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value).context("Cannot write the report")?;
    text.push('\n');
    Ok(text)
}

/// The model, the contacts with their outcomes, and the split; every input problem printed.
fn load(inputs: &Inputs) -> anyhow::Result<(Model, Vec<Contact>, Split)> {
    let model = load_model(&inputs.model)?.model().clone();
    let contacts = load_contacts(&inputs.contacts, &inputs.outcomes)?;
    let split = Split::new(&contacts, inputs.cutoff);
    Ok((model, contacts, split))
}

/// The contacts, each joined to its outcome row.
fn load_contacts(contacts_path: &Path, outcomes_path: &Path) -> anyhow::Result<Vec<Contact>> {
    let mut contacts = Vec::new();
    let mut lines = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut problems = Vec::new();
    let at_line = |line: usize| format!("{}:{line}", contacts_path.display());
    let bad = read_contacts(contacts_path, |line, exported| {
        let Some(id) = exported
            .id
            .map(|id| id.0)
            .filter(|id| !id.trim().is_empty())
        else {
            problems.push(format!(
                "{}: the contact has no id (outcomes are joined to contacts by id)",
                at_line(line)
            ));
            return Ok(());
        };
        if let Some(&first) = by_id.get(&id) {
            problems.push(format!(
                "{}: contact id {id:?} appears again (first on line {})",
                at_line(line),
                lines[first]
            ));
            return Ok(());
        }
        by_id.insert(id.clone(), contacts.len());
        lines.push(line);
        contacts.push(Contact {
            id,
            properties: exported.properties,
            events: exported.events,
            converted_at: None,
        });
        Ok(())
    })?;
    let text = std::fs::read_to_string(outcomes_path)
        .with_context(|| format!("Cannot read the outcomes {}", outcomes_path.display()))?;
    let (times, outcome_problems) =
        parse_outcomes(&text, &outcomes_path.display().to_string(), &by_id);
    problems.extend(outcome_problems);
    // Without a usable header no row was read: the header's problem says it all.
    for (i, contact) in contacts.iter_mut().enumerate().filter(|_| times.is_some()) {
        match times.as_ref().and_then(|t| t.get(i)) {
            Some(Some(at)) => contact.converted_at = *at,
            _ => problems.push(format!(
                "{}: contact {:?} has no row in {}",
                at_line(lines[i]),
                contact.id,
                outcomes_path.display()
            )),
        }
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    if bad > 0 || !problems.is_empty() {
        bail!(
            "{} problem(s) in the inputs ({} unreadable line(s) of {}); nothing was written",
            problems.len() + bad,
            bad,
            contacts_path.display()
        );
    }
    Ok(contacts)
}

/// One outcome row's conversion time: `None` for a contact that never converted.
type Outcome = Option<DateTime<Utc>>;

/// Per contact (by index): its row's outcome, `None` without a row (no list at all when the
/// header is unusable); and the problems, as `file:line: problem`.
fn parse_outcomes(
    text: &str,
    file: &str,
    by_id: &HashMap<String, usize>,
) -> (Option<Vec<Option<Outcome>>>, Vec<String>) {
    let mut times = vec![None; by_id.len()];
    let mut problems = Vec::new();
    let mut rows = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let Some((_, header)) = rows.next() else {
        problems.push(format!(
            "{file}:1: empty file: the header must name id and converted_at"
        ));
        return (None, problems);
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let column = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(id_col), Some(at_col)) = (column("id"), column("converted_at")) else {
        let missing: Vec<&str> = ["id", "converted_at"]
            .into_iter()
            .filter(|name| column(name).is_none())
            .collect();
        problems.push(format!(
            "{file}:1: missing column {} (the header must name id and converted_at; got {header:?})",
            missing.join(" and ")
        ));
        return (None, problems);
    };
    let mut first_line: HashMap<usize, usize> = HashMap::new();
    for (line, row) in rows {
        if row.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = row.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            problems.push(format!(
                "{file}:{line}: {} field(s), the header has {} (fields hold no commas or quotes)",
                fields.len(),
                columns.len()
            ));
            continue;
        }
        let (id, at) = (fields[id_col], fields[at_col]);
        let Some(&index) = by_id.get(id) else {
            problems.push(format!(
                "{file}:{line}: unknown contact id {id:?} (not in the contacts file)"
            ));
            continue;
        };
        if let Some(first) = first_line.insert(index, line) {
            problems.push(format!(
                "{file}:{line}: contact {id:?} has a second row (first on line {first})"
            ));
            continue;
        }
        let converted_at = if at.is_empty() {
            None
        } else {
            match DateTime::parse_from_rfc3339(at) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(e) => {
                    problems.push(format!(
                        "{file}:{line}: converted_at {at:?} is not an RFC 3339 time such as 2026-05-04T10:00:00Z ({e})"
                    ));
                    continue;
                }
            }
        };
        times[index] = Some(converted_at);
    }
    (Some(times), problems)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn fit_table(fitted: &FitResult, input: &QualityReport, draft: &QualityReport) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "train: {} contacts, {} converters",
        fitted.train_contacts, fitted.train_converters
    );
    let _ = writeln!(
        t,
        "{:<32} {:<10} {:>7} {:>9} {:>7}",
        "rule", "axis", "input", "coef", "draft"
    );
    for w in &fitted.weights {
        let axis = match w.axis {
            ember_core::scoring::Axis::Fit => "fit",
            ember_core::scoring::Axis::Engagement => "engagement",
        };
        let _ = writeln!(
            t,
            "{:<32} {:<10} {:>7} {:>9.4} {:>7}{}",
            w.rule.as_str(),
            axis,
            w.input_points,
            w.coefficient,
            w.points,
            if w.suggested_for_removal {
                "  suggested for removal"
            } else {
                ""
            }
        );
    }
    quality_table(&mut t, "input", input);
    quality_table(&mut t, "draft", draft);
    t
}

fn quality_table(t: &mut String, name: &str, r: &QualityReport) {
    let i = &r.auc_interval;
    let _ = writeln!(
        t,
        "{name} v{}: holdout {} contacts, {} converters (base rate {:.2}%), AUC {:.3} [{:.3}, {:.3}]",
        r.model_version,
        r.contacts,
        r.converters,
        r.base_rate * 100.0,
        r.auc,
        i.low,
        i.high
    );
    for g in &r.grades {
        let _ = writeln!(
            t,
            "  grade {:<6} {:>8} contacts {:>7} converters {:>6.2}%  lift {:.2}",
            g.grade.as_deref().unwrap_or("-"),
            g.contacts,
            g.converters,
            g.conversion_rate * 100.0,
            g.lift
        );
    }
}

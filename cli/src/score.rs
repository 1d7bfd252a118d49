//! `ember score`: scores exported contacts offline with a model file, so a person can try a
//! model on real data before deploying it.
//!
//! Input: one JSON object per line, `{"id": "…", "properties": {…}, "events": [{"type":
//! "external", "event_type": "pricing_page_view", "occurred_at": "2026-01-01T00:00:00Z"}, …]}`
//! (event types: `property_change` {property, value}, `workflow` {workflow_id, event?},
//! `external` {event_type}). Output: one JSON line per contact on stdout. Problems go to stderr
//! with their file, line and path; a bad model stops before any scoring, bad lines are skipped
//! and make the command fail at the end.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use ember_core::scoring::{CompiledModel, ExportedContact, Format, Ledger, Model};
use serde_json::{Value, json};

/// Arguments of `ember score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// The model: YAML, or JSON when the file name ends in `.json`.
    #[arg(long, value_name = "MODEL.yaml")]
    pub model: PathBuf,
    /// Exported contacts, one JSON object per line (`-` reads stdin).
    #[arg(long, value_name = "CONTACTS.jsonl")]
    pub contacts: PathBuf,
    /// Score as of this time (RFC 3339, e.g. 2026-01-31T09:00:00Z); default: now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<DateTime<Utc>>,
    /// Add each contributing rule with its raw and decayed points.
    #[arg(long)]
    pub explain: bool,
}

/// Runs `ember score`.
pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    let model = load_model(&args.model)?;
    let now = args.at.unwrap_or_else(Utc::now);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut scored = 0usize;
    let bad = read_contacts(&args.contacts, |line_no, contact| {
        let record = score_contact(&model, &contact, now, line_no, args.explain);
        serde_json::to_writer(&mut out, &record).context("Cannot write the output")?;
        out.write_all(b"\n").context("Cannot write the output")?;
        scored += 1;
        Ok(())
    })?;
    out.flush().context("Cannot write the output")?;
    if bad > 0 {
        bail!(
            "{bad} line(s) of {} could not be read ({scored} scored)",
            args.contacts.display()
        );
    }
    Ok(())
}

/// Reads an exported-contacts file (`-`: stdin), one JSON object per line, calling `each` with
/// the line number and the contact of each readable line. Blank lines are skipped; a line that
/// cannot be read is reported on stderr as `file:line: problem` and counted. Returns how many
/// lines could not be read; an error of `each` stops the reading.
pub(crate) fn read_contacts(
    path: &Path,
    mut each: impl FnMut(usize, ExportedContact) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let input: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let file = File::open(path).with_context(|| format!("Cannot open {}", path.display()))?;
        Box::new(BufReader::new(file))
    };
    let mut bad = 0usize;
    for (i, line) in input.lines().enumerate() {
        let line_no = i + 1;
        let line =
            line.with_context(|| format!("Cannot read {} line {line_no}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match ExportedContact::from_json_line(&line) {
            Ok(contact) => each(line_no, contact)?,
            Err(errors) => {
                bad += 1;
                for issue in &errors.errors {
                    eprintln!("{}:{line_no}: {issue}", path.display());
                }
            }
        }
    }
    Ok(bad)
}

/// Reads and compiles a model file (YAML, or JSON when the name ends in `.json`), printing its
/// warnings and, when it is invalid, every problem on stderr.
pub(crate) fn load_model(path: &Path) -> anyhow::Result<CompiledModel> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Cannot read the model {}", path.display()))?;
    let format = Format::from_file_name(&path.to_string_lossy());
    match Model::load(&text, format) {
        Ok(model) => {
            for warning in model.warnings() {
                eprintln!("{}: warning: {warning}", path.display());
            }
            Ok(model)
        }
        Err(errors) => {
            for issue in &errors.errors {
                eprintln!("{}: {issue}", path.display());
            }
            bail!(
                "The model {} has {} error(s)",
                path.display(),
                errors.errors.len()
            )
        }
    }
}

fn score_contact(
    model: &CompiledModel,
    contact: &ExportedContact,
    now: DateTime<Utc>,
    line: usize,
    explain: bool,
) -> Value {
    let ledger: Ledger = contact
        .events
        .iter()
        .flat_map(|e| model.ledger_entries(e))
        .collect();
    let s = model.score(&contact.properties, &ledger, now);
    let next = model.next_change_at(&contact.properties, &ledger, now);
    let mut record = json!({
        "line": line,
        "id": contact.id.as_ref().map(|id| id.0.as_str()),
        "total": s.rounded_total(),
        "fit": s.rounded_fit(),
        "engagement": s.rounded_engagement(),
        "grade": s.grade.as_deref(),
        "cell": s.cell.as_deref(),
        "next_change_at": next.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        "properties": s.hubspot_values(model),
    });
    if explain && let Value::Object(fields) = &mut record {
        fields.insert(
            "exact".into(),
            json!({ "total": s.total, "fit": s.fit, "engagement": s.engagement }),
        );
        fields.insert(
            "explanation".into(),
            serde_json::to_value(s.explain(model)).unwrap_or(Value::Null),
        );
    }
    record
}

//! One contact as the console shows it: a list entry with its 7-day change, and the
//! explanation of its score, both computed at `now` from the stored snapshot and ledger.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{RISING_DAYS, ScoringInput};
use crate::scoring::{Axis, CompiledModel, Ledger, Scored};

/// A contact in a list (top or rising), scored at `now`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ContactSummary {
    pub contact_id: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Rounded total, fit and engagement, as written to HubSpot.
    pub total: i64,
    pub fit: i64,
    pub engagement: i64,
    pub grade: Option<String>,
    /// The rounded total now minus the rounded total [`RISING_DAYS`] ago, from the ledger (the
    /// properties as they are now).
    pub change_7d: i64,
}

/// The rounded total of a contact as it stood at `then`: only ledger entries up to `then` count.
fn total_at(model: &CompiledModel, input: &ScoringInput, then: DateTime<Utc>) -> i64 {
    let earlier: Ledger = input
        .ledger
        .entries()
        .iter()
        .filter(|e| e.occurred_at <= then)
        .cloned()
        .collect();
    model.score(&input.snapshot, &earlier, then).rounded_total()
}

/// A contact's list entry at `now`.
pub fn summarize(
    model: &CompiledModel,
    input: &ScoringInput,
    now: DateTime<Utc>,
) -> ContactSummary {
    let scored = model.score(&input.snapshot, &input.ledger, now);
    let before = total_at(model, input, now - Duration::days(RISING_DAYS));
    ContactSummary {
        contact_id: input.contact_id.get(),
        email: input.email().map(str::to_owned),
        name: input.name(),
        total: scored.rounded_total(),
        fit: scored.rounded_fit(),
        engagement: scored.rounded_engagement(),
        grade: scored.grade.as_deref().map(str::to_owned),
        change_7d: scored.rounded_total() - before,
    }
}

/// The `limit` contacts whose total rose most over the last [`RISING_DAYS`] days (only rises),
/// largest first, ties by total then id.
pub fn rising(
    model: &CompiledModel,
    candidates: &[ScoringInput],
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<ContactSummary> {
    let mut rows: Vec<ContactSummary> = candidates
        .iter()
        .map(|c| summarize(model, c, now))
        .filter(|s| s.change_7d > 0)
        .collect();
    rows.sort_by(|a, b| {
        b.change_7d
            .cmp(&a.change_7d)
            .then(b.total.cmp(&a.total))
            .then(a.contact_id.cmp(&b.contact_id))
    });
    rows.truncate(limit);
    rows
}

/// One contributing rule of an explanation.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RuleContribution {
    pub rule: String,
    pub label: String,
    #[schema(value_type = String, example = "engagement")]
    pub axis: Axis,
    /// Points before decay (points × counted events for engagement rules).
    pub raw: f64,
    /// Points after decay (equal to `raw` for fit rules).
    pub decayed: f64,
    /// Events counted (1 for a fit rule).
    pub count: u32,
}

/// Why a contact has its score, at `now`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Explanation {
    pub contact_id: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    pub total: i64,
    pub fit: i64,
    pub engagement: i64,
    pub grade: Option<String>,
    /// When decay alone next changes the rounded total (`null`: never).
    pub next_change_at: Option<DateTime<Utc>>,
    /// The reasons text written to HubSpot.
    pub reasons: String,
    pub rules: Vec<RuleContribution>,
}

/// Explains a contact's score at `now`.
pub fn explain(model: &CompiledModel, input: &ScoringInput, now: DateTime<Utc>) -> Explanation {
    let scored: Scored = model.score(&input.snapshot, &input.ledger, now);
    Explanation {
        contact_id: input.contact_id.get(),
        email: input.email().map(str::to_owned),
        name: input.name(),
        total: scored.rounded_total(),
        fit: scored.rounded_fit(),
        engagement: scored.rounded_engagement(),
        grade: scored.grade.as_deref().map(str::to_owned),
        next_change_at: model.next_change_at(&input.snapshot, &input.ledger, now),
        reasons: scored.reasons_text(model),
        rules: scored
            .explain(model)
            .into_iter()
            .map(|r| RuleContribution {
                rule: r.rule.as_str().to_owned(),
                label: r.label,
                axis: r.axis,
                raw: r.raw,
                decayed: r.points,
                count: r.count,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ObjectId;
    use crate::scoring::{LedgerEntry, Model, Snapshot};

    #[test]
    fn the_7_day_change_counts_only_recent_engagement() {
        let model = Model::default_model().validate().unwrap();
        let rule = model.model().engagement[0].id.clone();
        let now = Utc::now();
        let input = ScoringInput {
            contact_id: ObjectId::new(1).unwrap(),
            snapshot: Snapshot::new(),
            ledger: [LedgerEntry {
                rule,
                occurred_at: now - Duration::hours(1),
            }]
            .into_iter()
            .collect(),
        };
        let row = summarize(&model, &input, now);
        assert!(row.change_7d > 0, "{row:?}");
        assert_eq!(
            row.change_7d,
            row.total - total_at(&model, &input, now - Duration::days(7))
        );
        assert_eq!(
            rising(&model, std::slice::from_ref(&input), now, 10).len(),
            1
        );
        let quiet = ScoringInput {
            ledger: Ledger::new(),
            ..input
        };
        assert!(rising(&model, &[quiet], now, 10).is_empty());
    }
}

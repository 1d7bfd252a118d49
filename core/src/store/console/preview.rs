//! A draft model against the active one, on the same sample at the same instant.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ScoringInput;
use super::distribution::{Distribution, distribution, histogram_range};
use crate::scoring::{CompiledModel, Scored};

/// How many sampled contacts moved up, down, or kept their rounded total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct Moved {
    pub up: i64,
    pub down: i64,
    pub same: i64,
}

/// How many sampled contacts go from one grade to another (`null`: no grade).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct GradeChange {
    pub from: Option<String>,
    pub to: Option<String>,
    pub count: i64,
}

/// The current and a draft model compared on the same sample at the same moment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Preview {
    pub sample_size: i64,
    pub current: Distribution,
    pub draft: Distribution,
    pub moved: Moved,
    /// Only actual changes, the largest first.
    pub grade_changes: Vec<GradeChange>,
}

/// Scores `sample` with both models at `now` and compares.
pub fn preview(
    current: &CompiledModel,
    draft: &CompiledModel,
    sample: &[ScoringInput],
    now: DateTime<Utc>,
) -> Preview {
    let scored: Vec<(Scored, Scored)> = sample
        .iter()
        .map(|c| {
            (
                current.score(&c.snapshot, &c.ledger, now),
                draft.score(&c.snapshot, &c.ledger, now),
            )
        })
        .collect();
    let range = histogram_range(
        scored
            .iter()
            .flat_map(|(a, b)| [a.rounded_total(), b.rounded_total()]),
    );
    let groups = |pick: fn(&(Scored, Scored)) -> &Scored| {
        scored
            .iter()
            .map(move |pair| {
                let s = pick(pair);
                (s.rounded_total(), s.grade.as_deref(), 1)
            })
            .collect::<Vec<_>>()
    };
    let mut moved = Moved::default();
    let mut changes: BTreeMap<(Option<String>, Option<String>), i64> = BTreeMap::new();
    for (before, after) in &scored {
        match after.rounded_total().cmp(&before.rounded_total()) {
            std::cmp::Ordering::Greater => moved.up += 1,
            std::cmp::Ordering::Less => moved.down += 1,
            std::cmp::Ordering::Equal => moved.same += 1,
        }
        if before.grade != after.grade {
            let key = (
                before.grade.as_deref().map(str::to_owned),
                after.grade.as_deref().map(str::to_owned),
            );
            *changes.entry(key).or_default() += 1;
        }
    }
    let mut grade_changes: Vec<GradeChange> = changes
        .into_iter()
        .map(|((from, to), count)| GradeChange { from, to, count })
        .collect();
    grade_changes.sort_by_key(|c| std::cmp::Reverse(c.count));
    Preview {
        sample_size: scored.len() as i64,
        current: distribution(current.model(), groups(|p| &p.0), range),
        draft: distribution(draft.model(), groups(|p| &p.1), range),
        moved,
        grade_changes,
    }
}

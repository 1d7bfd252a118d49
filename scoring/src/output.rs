//! From a score to what people and HubSpot see: the explanation, the reasons text and the
//! property values of the model's output mapping. Also matching incoming signals to rules.

use std::collections::BTreeMap;

use serde::Serialize;

use super::compile::{CompiledModel, MatcherC};
use super::contact::{EngagementSignal, LedgerEntry, SignalKind};
use super::engine::{Axis, Scored};
use super::model::RuleId;
use super::text::eq_ci;

/// One contributing rule, named.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainedRule {
    /// The rule's id.
    pub rule: RuleId,
    /// The rule's label.
    pub label: String,
    /// Its axis.
    pub axis: Axis,
    /// Points before decay.
    pub raw: f64,
    /// Points after decay.
    pub points: f64,
    /// Events counted (1 for a fit rule).
    pub count: u32,
}

impl CompiledModel {
    /// The id of the rule a [`Contribution`](super::Contribution) names.
    pub fn rule_id(&self, axis: Axis, index: usize) -> Option<&RuleId> {
        match axis {
            Axis::Fit => self.fit.get(index).map(|r| &r.id),
            Axis::Engagement => self.engagement.get(index).map(|r| &r.id),
        }
    }

    /// The label of the rule a [`Contribution`](super::Contribution) names.
    pub fn rule_label(&self, axis: Axis, index: usize) -> Option<&str> {
        match axis {
            Axis::Fit => self.fit.get(index).map(|r| &*r.label),
            Axis::Engagement => self.engagement.get(index).map(|r| &*r.label),
        }
    }

    /// Ids of the engagement rules an incoming signal matches, in id order.
    pub fn matching_rules<'a>(
        &'a self,
        signal: &'a EngagementSignal,
    ) -> impl Iterator<Item = &'a RuleId> + 'a {
        self.engagement
            .iter()
            .filter(|r| matches(&r.matcher, &signal.kind))
            .map(|r| &r.id)
    }

    /// The ledger entries to store for an incoming signal: one per matching rule.
    pub fn ledger_entries(&self, signal: &EngagementSignal) -> Vec<LedgerEntry> {
        self.matching_rules(signal)
            .map(|rule| LedgerEntry {
                rule: rule.clone(),
                occurred_at: signal.occurred_at,
            })
            .collect()
    }
}

fn matches(m: &MatcherC, s: &SignalKind) -> bool {
    match (m, s) {
        (
            MatcherC::PropertyChange { property, value },
            SignalKind::PropertyChange {
                property: p,
                value: v,
            },
        ) => {
            let v = v.trim();
            **property == *p && !v.is_empty() && value.as_ref().is_none_or(|want| eq_ci(v, want))
        }
        (
            MatcherC::Workflow { workflow_id, event },
            SignalKind::Workflow {
                workflow_id: id,
                event: e,
            },
        ) => {
            workflow_id == id
                && event
                    .as_ref()
                    .is_none_or(|want| e.as_deref().is_some_and(|e| eq_ci(e.trim(), want)))
        }
        (MatcherC::External { event_type }, SignalKind::External { event_type: t }) => {
            eq_ci(t.trim(), event_type)
        }
        _ => false,
    }
}

impl Scored {
    /// Every contributing rule with its id and label.
    pub fn explain(&self, model: &CompiledModel) -> Vec<ExplainedRule> {
        self.contributions
            .iter()
            .filter_map(|c| {
                Some(ExplainedRule {
                    rule: model.rule_id(c.axis, c.rule)?.clone(),
                    label: model.rule_label(c.axis, c.rule)?.to_owned(),
                    axis: c.axis,
                    raw: c.raw,
                    points: c.points,
                    count: c.count,
                })
            })
            .collect()
    }

    /// A short text of the strongest reasons, e.g. `Pricing page visit +20; Freemail address -10`:
    /// the model's `max_reasons` rules with the largest rounded effect, at most
    /// `reasons_max_chars` characters.
    pub fn reasons_text(&self, model: &CompiledModel) -> String {
        let out = &model.source.output;
        let mut top: Vec<_> = self
            .contributions
            .iter()
            .filter(|c| c.points.round() != 0.0)
            .collect();
        // Stable: ties keep the contributions' order (fit rules in model order, then engagement).
        top.sort_by(|a, b| b.points.abs().total_cmp(&a.points.abs()));
        let parts: Vec<String> = top
            .iter()
            .take(usize::from(out.max_reasons))
            .filter_map(|c| {
                Some(format!(
                    "{} {:+}",
                    model.rule_label(c.axis, c.rule)?,
                    c.points.round() as i64
                ))
            })
            .collect();
        truncate_chars(&parts.join("; "), usize::from(out.reasons_max_chars))
    }

    /// The HubSpot property values of the model's output mapping: property name → value. An
    /// empty value clears the property (no grade, no cell, no reason).
    pub fn hubspot_values(&self, model: &CompiledModel) -> BTreeMap<String, String> {
        let o = &model.source.output;
        let mut values = BTreeMap::new();
        values.insert(o.total.clone(), self.rounded_total().to_string());
        let optional = [
            (&o.fit, self.rounded_fit().to_string()),
            (&o.engagement, self.rounded_engagement().to_string()),
            (
                &o.grade,
                self.grade.as_deref().unwrap_or_default().to_owned(),
            ),
            (
                &o.matrix,
                self.cell.as_deref().unwrap_or_default().to_owned(),
            ),
        ];
        for (name, value) in optional {
            if let Some(name) = name {
                values.insert(name.clone(), value);
            }
        }
        if let Some(name) = &o.reasons {
            values.insert(name.clone(), self.reasons_text(model));
        }
        values
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some(_) => {
            let cut = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(0, |(i, _)| i);
            format!("{}…", &s[..cut])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_chars;

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(truncate_chars("ééééé", 3).chars().count(), 3);
    }
}

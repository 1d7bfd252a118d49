//! Which HubSpot contact properties a model reads: the properties its fit rules (negative
//! signals included) test and the properties whose changes its engagement rules count. Ember's
//! HubSpot app subscribes to a `contact.propertyChange` for each of them (docs/hubspot-app.md),
//! and the worker keeps them in a contact's snapshot.
//!
//! The output properties are not reads: Ember writes them, and a subscription to them would only
//! echo every write back.

use std::collections::BTreeSet;

use crate::model::{Condition, EventMatcher, Model};

impl Model {
    /// The contact properties this model reads, sorted and without repeats.
    pub fn read_properties(&self) -> BTreeSet<String> {
        let mut properties = self.fit_properties();
        for rule in &self.engagement {
            if let EventMatcher::PropertyChange { property, .. } = &rule.on {
                properties.insert(property.clone());
            }
        }
        properties
    }

    /// The properties the fit rules (negative signals included) test: what a contact's snapshot
    /// must hold to score its fit.
    pub fn fit_properties(&self) -> BTreeSet<String> {
        let mut properties = BTreeSet::new();
        for rule in &self.fit {
            condition_reads(&rule.when, &mut properties);
        }
        properties
    }
}

fn condition_reads(condition: &Condition, into: &mut BTreeSet<String>) {
    let property = match condition {
        Condition::Equals(t)
        | Condition::NotEquals(t)
        | Condition::Contains(t)
        | Condition::StartsWith(t) => &t.property,
        Condition::OneOf(t) | Condition::NoneOf(t) => &t.property,
        Condition::Gt(n) | Condition::Gte(n) | Condition::Lt(n) | Condition::Lte(n) => &n.property,
        Condition::Between(r) => &r.property,
        Condition::ContainsAny(t) => &t.property,
        Condition::Known(p) | Condition::Unknown(p) => &p.property,
        Condition::EmailDomainIn(d) => &d.property,
        Condition::All(all) | Condition::Any(all) => {
            for c in all {
                condition_reads(c, into);
            }
            return;
        }
        Condition::Not(inner) => return condition_reads(inner, into),
    };
    into.insert(property.clone());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Format;

    fn names(model: &Model) -> Vec<String> {
        model.read_properties().into_iter().collect()
    }

    #[test]
    fn the_default_model_reads_its_fit_negative_and_engagement_properties() {
        assert_eq!(
            names(&Model::default_model()),
            [
                "email",
                "hs_email_last_click_date",
                "hs_email_optout",
                "industry",
                "jobtitle",
                "numberofemployees",
                "phone",
                "recent_conversion_event_name",
            ]
        );
    }

    #[test]
    fn nested_conditions_and_the_default_domain_property_are_read_and_outputs_are_not() {
        let model = Model::parse(
            r#"
version: 1
fit:
  - id: nested
    points: 5
    when:
      any:
        - all:
            - not: { starts_with: { property: zip, value: "9" } }
            - between: { property: annualrevenue, min: 1, max: 2 }
        - email_domain_in: { list: freemail }
        - unknown: { property: zip }
engagement:
  - id: external
    points: 1
    on: { external: { event_type: login } }
  - id: workflow
    points: 1
    on: { workflow: { workflow_id: 7 } }
  - id: stage
    points: 2
    on: { property_change: { property: lifecyclestage, value: customer } }
output:
  total: custom_score
  grade: custom_grade
"#,
            Format::Yaml,
        )
        .expect("model parses");
        assert_eq!(
            names(&model),
            ["annualrevenue", "email", "lifecyclestage", "zip"]
        );
    }

    #[test]
    fn a_model_without_rules_reads_nothing() {
        let model = Model::parse("version: 1\noutput: { total: ember_score }\n", Format::Yaml)
            .expect("model parses");
        assert!(model.read_properties().is_empty());
    }
}

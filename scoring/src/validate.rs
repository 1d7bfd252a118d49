//! Validation of a model document: every problem with its path, all reported at once.
//!
//! [`check`] walks the whole document and never stops at the first problem; compilation runs only
//! on a document without errors, so the compiler can rely on what is checked here.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::lists::BUILTIN_LIST_NAMES;
use super::model::{
    Band, Bounds, Condition, Decay, EngagementRule, EventMatcher, FitRule, Model, OutputMapping,
};

/// At most this many distinct properties per model: the compiled form keeps one slot per
/// property on the stack while scoring.
pub const MAX_PROPERTIES: usize = 64;
/// At most this many properties read as numbers per model.
pub const MAX_NUMBER_PROPERTIES: usize = 16;
/// At most this many properties read as e-mail domains per model.
pub const MAX_DOMAIN_PROPERTIES: usize = 8;
/// At most this many domain tests (named lists plus inline domain sets) per model.
pub const MAX_DOMAIN_SETS: usize = 64;

/// One problem in a model or an input, at a path such as `engagement[3].points`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationIssue {
    /// Where: dotted fields and `[index]`; empty for the whole document.
    pub path: String,
    /// What is wrong, in the user's terms.
    pub message: String,
}

impl ValidationIssue {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every error found in a model (at least one), and the warnings found alongside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(&self.errors))]
pub struct ValidationErrors {
    /// The errors, in document order.
    pub errors: Vec<ValidationIssue>,
    /// Warnings: the model would work but probably not as meant.
    pub warnings: Vec<ValidationIssue>,
}

fn render(issues: &[ValidationIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects issues while walking a document.
#[derive(Default)]
pub(crate) struct Report {
    pub(crate) errors: Vec<ValidationIssue>,
    pub(crate) warnings: Vec<ValidationIssue>,
}

impl Report {
    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ValidationIssue::new(path, message));
    }
    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(ValidationIssue::new(path, message));
    }
    fn finite(&mut self, path: &str, x: f64) {
        if !x.is_finite() {
            self.error(path, "expected a finite number");
        }
    }
}

/// Checks a whole model; the errors are empty when it can be compiled.
pub(crate) fn check(model: &Model) -> Report {
    let mut r = Report::default();
    if model.version == 0 {
        r.error("version", "must be at least 1");
    }
    check_decay(&mut r, "decay", &model.decay);
    check_bounds(&mut r, "caps.fit", &model.caps.fit);
    check_bounds(&mut r, "caps.engagement", &model.caps.engagement);
    check_bounds(&mut r, "caps.total", &model.caps.total);
    let lists = check_lists(&mut r, model);
    let mut ids = BTreeSet::new();
    let mut props = BTreeSet::new();
    let mut uses = Uses::default();
    for (i, rule) in model.fit.iter().enumerate() {
        let path = format!("fit[{i}]");
        check_id(&mut r, &path, rule.id.as_str(), &mut ids);
        check_fit(&mut r, &path, rule, &lists, &mut props, &mut uses);
    }
    for (i, rule) in model.engagement.iter().enumerate() {
        let path = format!("engagement[{i}]");
        check_id(&mut r, &path, rule.id.as_str(), &mut ids);
        check_engagement(&mut r, &path, rule);
    }
    if props.len() > MAX_PROPERTIES {
        r.error(
            "fit",
            format!("uses {} properties; at most {MAX_PROPERTIES}", props.len()),
        );
    }
    if uses.domain_sets > MAX_DOMAIN_SETS {
        r.error(
            "fit",
            format!(
                "has {} domain tests; at most {MAX_DOMAIN_SETS}",
                uses.domain_sets
            ),
        );
    }
    if uses.numbers.len() > MAX_NUMBER_PROPERTIES {
        r.error(
            "fit",
            format!(
                "compares {} properties as numbers; at most {MAX_NUMBER_PROPERTIES}",
                uses.numbers.len()
            ),
        );
    }
    if uses.domains.len() > MAX_DOMAIN_PROPERTIES {
        r.error(
            "fit",
            format!(
                "reads {} properties as e-mail domains; at most {MAX_DOMAIN_PROPERTIES}",
                uses.domains.len()
            ),
        );
    }
    check_bands(&mut r, "grades", &model.grades, false);
    if let Some(m) = &model.matrix {
        check_bands(&mut r, "matrix.fit", &m.fit, true);
        check_bands(&mut r, "matrix.engagement", &m.engagement, true);
    }
    check_output(&mut r, &model.output, &props);
    if model.fit.is_empty() && model.engagement.is_empty() {
        r.warn(
            "",
            "the model has no fit and no engagement rules: it never changes a score",
        );
    }
    r
}

fn check_id(r: &mut Report, path: &str, id: &str, seen: &mut BTreeSet<String>) {
    if !seen.insert(id.to_owned()) {
        r.error(&format!("{path}.id"), format!("duplicate rule id {id:?}"));
    }
}

fn check_points(r: &mut Report, path: &str, points: f64) {
    let path = format!("{path}.points");
    r.finite(&path, points);
    if points == 0.0 {
        r.warn(&path, "zero points: the rule never changes a score");
    }
}

fn check_decay(r: &mut Report, path: &str, decay: &Decay) {
    if let Decay::Exponential { half_life_days } = decay
        && !(half_life_days.is_finite() && *half_life_days > 0.0)
    {
        r.error(
            &format!("{path}.half_life_days"),
            "expected a number of days above 0",
        );
    }
}

fn check_bounds(r: &mut Report, path: &str, b: &Bounds) {
    if let Some(min) = b.min {
        r.finite(&format!("{path}.min"), min);
    }
    if let Some(max) = b.max {
        r.finite(&format!("{path}.max"), max);
    }
    if let (Some(min), Some(max)) = (b.min, b.max)
        && min > max
    {
        r.error(path, format!("min ({min}) is above max ({max})"));
    }
}

fn check_lists(r: &mut Report, model: &Model) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = BUILTIN_LIST_NAMES.iter().map(|s| (*s).to_owned()).collect();
    for (name, entries) in &model.lists.custom {
        let path = format!("lists.custom.{name}");
        if !is_property_name(name) {
            r.error(&path, "a list name is lowercase letters, digits and '_'");
        } else if !names.insert(name.clone()) {
            r.error(&path, "a built-in list has this name");
        }
        check_entries(r, &path, entries);
    }
    let l = &model.lists;
    check_entries(r, "lists.freemail.add", &l.freemail.add);
    check_entries(r, "lists.academic_domains.add", &l.academic_domains.add);
    check_entries(r, "lists.student_titles.add", &l.student_titles.add);
    check_entries(r, "lists.competitors", &l.competitors);
    names
}

fn check_entries(r: &mut Report, path: &str, entries: &[String]) {
    for (i, e) in entries.iter().enumerate() {
        if e.trim().is_empty() {
            r.error(&format!("{path}[{i}]"), "expected a non-blank entry");
        }
    }
}

/// What the fit rules read, counted against the compiled form's fixed-size slots.
#[derive(Default)]
struct Uses {
    domain_sets: usize,
    numbers: BTreeSet<String>,
    domains: BTreeSet<String>,
}

fn check_fit(
    r: &mut Report,
    path: &str,
    rule: &FitRule,
    lists: &BTreeSet<String>,
    props: &mut BTreeSet<String>,
    uses: &mut Uses,
) {
    check_points(r, path, rule.points);
    let mut walk = CondWalk {
        r,
        lists,
        props,
        uses,
    };
    walk.condition(&format!("{path}.when"), &rule.when);
}

struct CondWalk<'a> {
    r: &'a mut Report,
    lists: &'a BTreeSet<String>,
    props: &'a mut BTreeSet<String>,
    uses: &'a mut Uses,
}

impl CondWalk<'_> {
    fn property(&mut self, path: &str, name: &str) {
        if is_property_name(name) {
            self.props.insert(name.to_owned());
        } else {
            self.r
                .error(&format!("{path}.property"), property_name_message(name));
        }
    }

    fn text(&mut self, path: &str, value: &str) {
        if value.trim().is_empty() {
            self.r.error(
                path,
                "expected a non-blank text (use `known` or `unknown` for blanks)",
            );
        }
    }

    fn list(&mut self, path: &str, list: &Option<String>) {
        if let Some(name) = list
            && !self.lists.contains(name)
        {
            let known: Vec<&str> = self.lists.iter().map(String::as_str).collect();
            self.r.error(
                &format!("{path}.list"),
                format!("unknown list {name:?}; lists: {}", known.join(", ")),
            );
        }
    }

    fn condition(&mut self, path: &str, c: &Condition) {
        match c {
            Condition::Equals(t)
            | Condition::NotEquals(t)
            | Condition::Contains(t)
            | Condition::StartsWith(t) => {
                let path = format!("{path}.{}", variant_name(c));
                self.property(&path, &t.property);
                self.text(&format!("{path}.value"), &t.value.0);
            }
            Condition::OneOf(t) | Condition::NoneOf(t) => {
                let path = format!("{path}.{}", variant_name(c));
                self.property(&path, &t.property);
                if t.values.is_empty() {
                    self.r
                        .error(&format!("{path}.values"), "expected at least one value");
                }
                for (i, v) in t.values.iter().enumerate() {
                    self.text(&format!("{path}.values[{i}]"), &v.0);
                }
            }
            Condition::Gt(n) | Condition::Gte(n) | Condition::Lt(n) | Condition::Lte(n) => {
                let path = format!("{path}.{}", variant_name(c));
                self.property(&path, &n.property);
                self.uses.numbers.insert(n.property.clone());
                self.r.finite(&format!("{path}.value"), n.value);
            }
            Condition::Between(b) => {
                let path = format!("{path}.between");
                self.property(&path, &b.property);
                self.uses.numbers.insert(b.property.clone());
                self.r.finite(&format!("{path}.min"), b.min);
                self.r.finite(&format!("{path}.max"), b.max);
                if b.min > b.max {
                    self.r
                        .error(&path, format!("min ({}) is above max ({})", b.min, b.max));
                }
            }
            Condition::ContainsAny(t) => {
                let path = format!("{path}.contains_any");
                self.property(&path, &t.property);
                for (i, v) in t.values.iter().enumerate() {
                    self.text(&format!("{path}.values[{i}]"), &v.0);
                }
                self.list(&path, &t.list);
                if t.values.is_empty() && t.list.is_none() {
                    self.r.error(&path, "expected `values`, `list` or both");
                }
            }
            Condition::Known(p) | Condition::Unknown(p) => {
                let path = format!("{path}.{}", variant_name(c));
                self.property(&path, &p.property);
            }
            Condition::EmailDomainIn(d) => {
                let path = format!("{path}.email_domain_in");
                self.property(&path, &d.property);
                self.list(&path, &d.list);
                for (i, v) in d.domains.iter().enumerate() {
                    self.text(&format!("{path}.domains[{i}]"), v);
                }
                if d.domains.is_empty() && d.list.is_none() {
                    self.r.error(&path, "expected `list`, `domains` or both");
                }
                self.uses.domain_sets +=
                    usize::from(d.list.is_some()) + usize::from(!d.domains.is_empty());
                self.uses.domains.insert(d.property.clone());
            }
            Condition::All(cs) | Condition::Any(cs) => {
                let path = format!("{path}.{}", variant_name(c));
                if cs.is_empty() {
                    self.r.error(&path, "expected at least one condition");
                }
                for (i, c) in cs.iter().enumerate() {
                    self.condition(&format!("{path}[{i}]"), c);
                }
            }
            Condition::Not(inner) => self.condition(&format!("{path}.not"), inner),
        }
    }
}

/// The YAML/JSON key of a condition.
pub(crate) fn variant_name(c: &Condition) -> &'static str {
    match c {
        Condition::Equals(_) => "equals",
        Condition::NotEquals(_) => "not_equals",
        Condition::OneOf(_) => "one_of",
        Condition::NoneOf(_) => "none_of",
        Condition::Gt(_) => "gt",
        Condition::Gte(_) => "gte",
        Condition::Lt(_) => "lt",
        Condition::Lte(_) => "lte",
        Condition::Between(_) => "between",
        Condition::Contains(_) => "contains",
        Condition::StartsWith(_) => "starts_with",
        Condition::ContainsAny(_) => "contains_any",
        Condition::Known(_) => "known",
        Condition::Unknown(_) => "unknown",
        Condition::EmailDomainIn(_) => "email_domain_in",
        Condition::All(_) => "all",
        Condition::Any(_) => "any",
        Condition::Not(_) => "not",
    }
}

fn check_engagement(r: &mut Report, path: &str, rule: &EngagementRule) {
    check_points(r, path, rule.points);
    match &rule.on {
        EventMatcher::PropertyChange { property, value } => {
            if !is_property_name(property) {
                r.error(
                    &format!("{path}.on.property_change.property"),
                    property_name_message(property),
                );
            }
            if let Some(v) = value
                && v.0.trim().is_empty()
            {
                r.error(
                    &format!("{path}.on.property_change.value"),
                    "expected a non-blank text",
                );
            }
        }
        EventMatcher::Workflow { event, .. } => {
            if let Some(e) = event
                && e.trim().is_empty()
            {
                r.error(
                    &format!("{path}.on.workflow.event"),
                    "expected a non-blank event name",
                );
            }
        }
        EventMatcher::External { event_type } => {
            if event_type.trim().is_empty() {
                r.error(
                    &format!("{path}.on.external.event_type"),
                    "expected a non-blank event type",
                );
            }
        }
    }
    if rule.cap == Some(0) {
        r.error(
            &format!("{path}.cap"),
            "expected at least 1 (remove the rule to count nothing)",
        );
    }
    if let Some(h) = rule.min_interval_hours
        && !(h.is_finite() && h >= 0.0)
    {
        r.error(
            &format!("{path}.min_interval_hours"),
            "expected a number of hours of at least 0",
        );
    }
    if let Some(d) = &rule.decay {
        check_decay(r, &format!("{path}.decay"), d);
    }
}

fn check_bands(r: &mut Report, path: &str, bands: &[Band], need_catch_all: bool) {
    if need_catch_all && bands.is_empty() {
        r.error(path, "expected at least one band");
    }
    let mut labels = BTreeSet::new();
    let mut mins = Vec::new();
    for (i, b) in bands.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if b.label.trim().is_empty() || b.label.chars().count() > 32 {
            r.error(
                &format!("{p}.label"),
                "expected a label of 1 to 32 characters",
            );
        } else if !labels.insert(b.label.as_str()) {
            r.error(
                &format!("{p}.label"),
                format!("duplicate label {:?}", b.label),
            );
        }
        match b.min {
            Some(m) if !m.is_finite() => r.error(&format!("{p}.min"), "expected a finite number"),
            Some(m) if mins.contains(&m.to_bits()) => {
                r.error(&format!("{p}.min"), format!("another band starts at {m}"))
            }
            Some(m) => mins.push(m.to_bits()),
            None if bands.iter().take(i).any(|o| o.min.is_none()) => {
                r.error(&format!("{p}.min"), "only one band may omit `min`");
            }
            None => {}
        }
    }
    if need_catch_all && !bands.is_empty() && bands.iter().all(|b| b.min.is_some()) {
        r.warn(path, "no band without `min`: low values get no label");
    }
}

fn check_output(r: &mut Report, o: &OutputMapping, scoring_props: &BTreeSet<String>) {
    let fields = [
        ("output.total", Some(&o.total)),
        ("output.fit", o.fit.as_ref()),
        ("output.engagement", o.engagement.as_ref()),
        ("output.grade", o.grade.as_ref()),
        ("output.matrix", o.matrix.as_ref()),
        ("output.reasons", o.reasons.as_ref()),
    ];
    let mut seen = BTreeSet::new();
    for (path, name) in fields {
        let Some(name) = name else { continue };
        if !is_property_name(name) {
            r.error(path, property_name_message(name));
        } else if !seen.insert(name.as_str()) {
            r.error(
                path,
                format!("property {name:?} already receives another output"),
            );
        } else if scoring_props.contains(name) {
            r.warn(
                path,
                format!("{name:?} is also read by a fit rule: the score would feed itself"),
            );
        }
    }
    if !(1..=10).contains(&o.max_reasons) {
        r.error("output.max_reasons", "expected 1 to 10");
    }
    if !(20..=1000).contains(&o.reasons_max_chars) {
        r.error("output.reasons_max_chars", "expected 20 to 1000");
    }
}

/// HubSpot internal names: a lowercase letter, then lowercase letters, digits and `_`.
pub(crate) fn is_property_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 100
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn property_name_message(name: &str) -> String {
    format!(
        "{name:?} is not a HubSpot internal property name (a lowercase letter, then a-z, 0-9, '_')"
    )
}

//! The compiled form of a model, built once per model version.
//!
//! Compilation interns property names into slots (resolved at compile time, so scoring does no
//! lookup per rule), lowercases every needle, merges all domain lists into one index mapping a
//! domain to a bit set of lists, sorts engagement rules by id (to merge-join them with the
//! sorted ledger) and precomputes decay rates, bands and matrix cells.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::lists::{self, lowercase};
use super::model::{Band, Bounds, Condition, Decay, EngagementRule, EventMatcher, Model, RuleId};
use super::text::{FxBuild, Needles, name_key, name_tail_key};
use super::validate::{self, ValidationErrors, ValidationIssue};

/// A label written to HubSpot (grade, matrix cell); cheap to clone.
pub type Label = Arc<str>;

const MS_PER_DAY: f64 = 86_400_000.0;
const MS_PER_HOUR: f64 = 3_600_000.0;

/// A validated, compiled model: the only thing that scores.
#[derive(Debug, Clone)]
pub struct CompiledModel {
    pub(crate) source: Model,
    pub(crate) warnings: Vec<ValidationIssue>,
    /// Property slots, sorted by name.
    pub(crate) props: Vec<PropSlot>,
    pub(crate) fit: Vec<FitRuleC>,
    /// Sorted by id.
    pub(crate) engagement: Vec<EngagementRuleC>,
    /// What scoring reads of each engagement rule, in the same order.
    pub(crate) terms: Vec<EngagementTerm>,
    pub(crate) domains: HashMap<Box<str>, u64, FxBuild>,
    pub(crate) caps: CapsC,
    pub(crate) grades: Vec<(f64, Label)>,
    pub(crate) matrix: Option<MatrixC>,
}

/// A property read by fit rules, with what binding must precompute for it.
#[derive(Debug, Clone)]
pub(crate) struct PropSlot {
    pub(crate) name: Box<str>,
    pub(crate) key: u64,
    pub(crate) tail_key: u64,
    /// Index into the bound numbers, when a rule reads this property as a number.
    pub(crate) numeric: Option<usize>,
    /// Index into the bound domain masks, when a rule reads this property as an e-mail domain.
    pub(crate) domain: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct FitRuleC {
    pub(crate) id: RuleId,
    pub(crate) label: Label,
    pub(crate) points: f64,
    /// The condition without its outer negations, which `negated` counts: most negative tests
    /// (`unknown`, `not_equals`, `none_of`) are then a leaf test, evaluated inline.
    pub(crate) cond: Cond,
    pub(crate) negated: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct EngagementRuleC {
    pub(crate) id: RuleId,
    pub(crate) key: u64,
    pub(crate) label: Label,
    pub(crate) points: f64,
    pub(crate) matcher: MatcherC,
    pub(crate) cap: Option<usize>,
    pub(crate) min_interval_ms: i64,
    /// 1 / half-life in milliseconds; 0 when the rule does not decay.
    pub(crate) rate_per_ms: f64,
}

/// The part of an engagement rule that scoring reads for every contact, kept apart from its id,
/// label and matcher so that the 15 or so rules of a model fill a dozen cache lines, not thirty.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EngagementTerm {
    /// [`name_key`] of the rule's id.
    pub(crate) key: u64,
    /// Length of the rule's id.
    pub(crate) id_len: usize,
    pub(crate) points: f64,
    /// −256 / half-life in milliseconds, 0 when the rule does not decay: an entry of age Δ is
    /// worth `2^(Δ · neg_rate_256 / 256)` (scaled by 256 for the table of `decay`, negated so
    /// that no sign flip is needed per entry; both are exact).
    pub(crate) neg_rate_256: f64,
    pub(crate) min_interval_ms: i64,
    /// How many of the most recent counted entries count; `usize::MAX` when uncapped.
    pub(crate) cap: usize,
}

impl EngagementTerm {
    fn of(rule: &EngagementRuleC) -> Self {
        Self {
            key: rule.key,
            id_len: rule.id.as_str().len(),
            points: rule.points,
            neg_rate_256: -(rule.rate_per_ms * 256.0),
            min_interval_ms: rule.min_interval_ms,
            cap: rule.cap.unwrap_or(usize::MAX),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum MatcherC {
    PropertyChange {
        property: Box<str>,
        value: Option<Box<str>>,
    },
    Workflow {
        workflow_id: u64,
        event: Option<Box<str>>,
    },
    External {
        event_type: Box<str>,
    },
}

/// A compiled condition; `p` is a property slot, strings are lowercased.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Equals {
        p: usize,
        value: Box<str>,
    },
    OneOf {
        p: usize,
        values: Box<[Box<str>]>,
    },
    /// `n` is a number slot.
    Cmp {
        n: usize,
        op: CmpOp,
        value: f64,
    },
    /// `n` is a number slot.
    Between {
        n: usize,
        min: f64,
        max: f64,
    },
    Contains {
        p: usize,
        value: Box<str>,
    },
    StartsWith {
        p: usize,
        value: Box<str>,
    },
    ContainsWord {
        p: usize,
        needles: Needles,
    },
    Known {
        p: usize,
    },
    /// `d` is a domain slot.
    DomainIn {
        d: usize,
        mask: u64,
    },
    All(Box<[Cond]>),
    Any(Box<[Cond]>),
    Not(Box<Cond>),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct CapsC {
    pub(crate) fit: (f64, f64),
    pub(crate) engagement: (f64, f64),
    pub(crate) total: (f64, f64),
}

#[derive(Debug, Clone)]
pub(crate) struct MatrixC {
    pub(crate) fit: Vec<(f64, usize)>,
    pub(crate) engagement: Vec<(f64, usize)>,
    /// cells[fit band][engagement band]
    pub(crate) cells: Vec<Vec<Label>>,
}

impl Model {
    /// Validates the whole model (every error with its path, all at once) and compiles it.
    /// Warnings of a valid model are kept in [`CompiledModel::warnings`].
    pub fn validate(&self) -> Result<CompiledModel, ValidationErrors> {
        let report = validate::check(self);
        if !report.errors.is_empty() {
            return Err(ValidationErrors {
                errors: report.errors,
                warnings: report.warnings,
            });
        }
        Ok(compile(self, report.warnings))
    }
}

impl CompiledModel {
    /// The model document this was compiled from.
    pub fn model(&self) -> &Model {
        &self.source
    }

    /// Warnings found while validating.
    pub fn warnings(&self) -> &[ValidationIssue] {
        &self.warnings
    }

    /// The model's version.
    pub fn version(&self) -> u32 {
        self.source.version
    }
}

fn compile(model: &Model, warnings: Vec<ValidationIssue>) -> CompiledModel {
    let resolved = lists::resolve(model);
    let mut b = Builder {
        lists: &resolved,
        props: BTreeMap::new(),
        domain_sets: Vec::new(),
    };
    // First pass collects property names so slots can be numbered in sorted order.
    for rule in &model.fit {
        b.collect(&rule.when);
    }
    let (mut numbers, mut domain_props) = (0, 0);
    let next = |flag: bool, counter: &mut usize| {
        flag.then(|| {
            *counter += 1;
            *counter - 1
        })
    };
    let props: Vec<PropSlot> = b
        .props
        .iter()
        .map(|(name, &(numeric, domain))| PropSlot {
            name: name.as_str().into(),
            key: name_key(name),
            tail_key: name_tail_key(name),
            numeric: next(numeric, &mut numbers),
            domain: next(domain, &mut domain_props),
        })
        .collect();
    let slot = |name: &str| props.iter().position(|p| &*p.name == name).unwrap_or(0);
    let number_slot = |name: &str| {
        props
            .iter()
            .find(|p| &*p.name == name)
            .and_then(|p| p.numeric)
            .unwrap_or(0)
    };
    let domain_slot = |name: &str| {
        props
            .iter()
            .find(|p| &*p.name == name)
            .and_then(|p| p.domain)
            .unwrap_or(0)
    };
    let slots = Slots {
        text: &slot,
        number: &number_slot,
        domain: &domain_slot,
    };
    let fit = model
        .fit
        .iter()
        .map(|r| {
            let (cond, negated) = without_negations(b.cond(&r.when, &slots));
            FitRuleC {
                id: r.id.clone(),
                label: label_of(r.label.as_deref(), &r.id),
                points: r.points,
                cond,
                negated,
            }
        })
        .collect();
    let mut domains: HashMap<Box<str>, u64, FxBuild> = HashMap::default();
    for (bit, set) in b.domain_sets.iter().enumerate() {
        for d in set {
            *domains.entry(d.as_str().into()).or_default() |= 1u64 << bit;
        }
    }
    let mut engagement: Vec<EngagementRuleC> = model
        .engagement
        .iter()
        .map(|r| engagement_rule(r, model.decay))
        .collect();
    engagement.sort_by(|a, b| a.id.cmp(&b.id));
    let terms = engagement.iter().map(EngagementTerm::of).collect();
    CompiledModel {
        source: model.clone(),
        warnings,
        props,
        fit,
        engagement,
        terms,
        domains,
        caps: CapsC {
            fit: bounds(model.caps.fit),
            engagement: bounds(model.caps.engagement),
            total: bounds(model.caps.total),
        },
        grades: bands(&model.grades)
            .into_iter()
            .map(|(min, i)| (min, model.grades[i].label.as_str().into()))
            .collect(),
        matrix: model.matrix.as_ref().map(|m| MatrixC {
            fit: bands(&m.fit),
            engagement: bands(&m.engagement),
            cells: m
                .fit
                .iter()
                .map(|f| {
                    m.engagement
                        .iter()
                        .map(|e| format!("{}{}", f.label, e.label).into())
                        .collect()
                })
                .collect(),
        }),
    }
}

/// The condition under its outer `not`s, and whether their number is odd.
fn without_negations(mut cond: Cond) -> (Cond, bool) {
    let mut negated = false;
    while let Cond::Not(inner) = cond {
        cond = *inner;
        negated = !negated;
    }
    (cond, negated)
}

fn label_of(label: Option<&str>, id: &RuleId) -> Label {
    label.unwrap_or(id.as_str()).into()
}

fn bounds(b: Bounds) -> (f64, f64) {
    (
        b.min.unwrap_or(f64::NEG_INFINITY),
        b.max.unwrap_or(f64::INFINITY),
    )
}

/// Bands sorted by threshold, highest first, with their index in the document; the band without
/// `min` comes last with a threshold of −∞.
fn bands(bands: &[Band]) -> Vec<(f64, usize)> {
    let mut v: Vec<(f64, usize)> = bands
        .iter()
        .enumerate()
        .map(|(i, b)| (b.min.unwrap_or(f64::NEG_INFINITY), i))
        .collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    v
}

fn engagement_rule(r: &EngagementRule, model_decay: Decay) -> EngagementRuleC {
    let rate_per_ms = match r.decay.unwrap_or(model_decay) {
        Decay::None => 0.0,
        Decay::Exponential { half_life_days } => 1.0 / (half_life_days * MS_PER_DAY),
    };
    let lower = |s: &str| -> Box<str> { lowercase(s.trim()).into() };
    EngagementRuleC {
        id: r.id.clone(),
        key: name_key(r.id.as_str()),
        label: label_of(r.label.as_deref(), &r.id),
        points: r.points,
        matcher: match &r.on {
            EventMatcher::PropertyChange { property, value } => MatcherC::PropertyChange {
                property: property.as_str().into(),
                value: value.as_ref().map(|v| lower(&v.0)),
            },
            EventMatcher::Workflow { workflow_id, event } => MatcherC::Workflow {
                workflow_id: *workflow_id,
                event: event.as_deref().map(lower),
            },
            EventMatcher::External { event_type } => MatcherC::External {
                event_type: lower(event_type),
            },
        },
        cap: r.cap.map(|c| c as usize),
        min_interval_ms: r
            .min_interval_hours
            .map_or(0, |h| (h * MS_PER_HOUR).round() as i64),
        rate_per_ms,
    }
}

/// Property name → its text slot, number slot and domain slot.
struct Slots<'a> {
    text: &'a dyn Fn(&str) -> usize,
    number: &'a dyn Fn(&str) -> usize,
    domain: &'a dyn Fn(&str) -> usize,
}

struct Builder<'a> {
    lists: &'a BTreeMap<String, Vec<String>>,
    /// name → (read as a number, read as a domain)
    props: BTreeMap<String, (bool, bool)>,
    domain_sets: Vec<BTreeSet<String>>,
}

impl Builder<'_> {
    fn collect(&mut self, c: &Condition) {
        let mut mark = |name: &str, numeric: bool, domain: bool| {
            let e = self.props.entry(name.to_owned()).or_default();
            e.0 |= numeric;
            e.1 |= domain;
        };
        match c {
            Condition::Equals(t)
            | Condition::NotEquals(t)
            | Condition::Contains(t)
            | Condition::StartsWith(t) => {
                mark(&t.property, false, false);
            }
            Condition::OneOf(t) | Condition::NoneOf(t) => mark(&t.property, false, false),
            Condition::Gt(n) | Condition::Gte(n) | Condition::Lt(n) | Condition::Lte(n) => {
                mark(&n.property, true, false)
            }
            Condition::Between(r) => mark(&r.property, true, false),
            Condition::ContainsAny(t) => mark(&t.property, false, false),
            Condition::Known(p) | Condition::Unknown(p) => mark(&p.property, false, false),
            Condition::EmailDomainIn(d) => mark(&d.property, false, true),
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| self.collect(c)),
            Condition::Not(c) => self.collect(c),
        }
    }

    fn list(&self, name: &str) -> &[String] {
        self.lists.get(name).map_or(&[], Vec::as_slice)
    }

    /// The bit of a domain set, reusing the bit of an identical set.
    fn domain_bit(&mut self, set: BTreeSet<String>) -> u64 {
        let i = self
            .domain_sets
            .iter()
            .position(|s| *s == set)
            .unwrap_or_else(|| {
                self.domain_sets.push(set);
                self.domain_sets.len() - 1
            });
        1u64 << i
    }

    fn cond(&mut self, c: &Condition, slots: &Slots<'_>) -> Cond {
        let slot = slots.text;
        let lower = |s: &str| -> Box<str> { lowercase(s.trim()).into() };
        let many = |vs: &[super::model::TextValue]| -> Box<[Box<str>]> {
            vs.iter().map(|v| lower(&v.0)).collect()
        };
        let num = |p: &str, op, value| Cond::Cmp {
            n: (slots.number)(p),
            op,
            value,
        };
        match c {
            Condition::Equals(t) => Cond::Equals {
                p: slot(&t.property),
                value: lower(&t.value.0),
            },
            Condition::NotEquals(t) => Cond::Not(Box::new(Cond::Equals {
                p: slot(&t.property),
                value: lower(&t.value.0),
            })),
            Condition::OneOf(t) => Cond::OneOf {
                p: slot(&t.property),
                values: many(&t.values),
            },
            Condition::NoneOf(t) => Cond::Not(Box::new(Cond::OneOf {
                p: slot(&t.property),
                values: many(&t.values),
            })),
            Condition::Gt(n) => num(&n.property, CmpOp::Gt, n.value),
            Condition::Gte(n) => num(&n.property, CmpOp::Gte, n.value),
            Condition::Lt(n) => num(&n.property, CmpOp::Lt, n.value),
            Condition::Lte(n) => num(&n.property, CmpOp::Lte, n.value),
            Condition::Between(r) => Cond::Between {
                n: (slots.number)(&r.property),
                min: r.min,
                max: r.max,
            },
            Condition::Contains(t) => Cond::Contains {
                p: slot(&t.property),
                value: lower(&t.value.0),
            },
            Condition::StartsWith(t) => Cond::StartsWith {
                p: slot(&t.property),
                value: lower(&t.value.0),
            },
            Condition::ContainsAny(t) => {
                let mut values: Vec<Box<str>> = t.values.iter().map(|v| lower(&v.0)).collect();
                if let Some(list) = &t.list {
                    values.extend(self.list(list).iter().map(|s| s.as_str().into()));
                }
                Cond::ContainsWord {
                    p: slot(&t.property),
                    needles: Needles::new(values),
                }
            }
            Condition::Known(p) => Cond::Known {
                p: slot(&p.property),
            },
            Condition::Unknown(p) => Cond::Not(Box::new(Cond::Known {
                p: slot(&p.property),
            })),
            Condition::EmailDomainIn(d) => {
                let mut mask = 0;
                if let Some(list) = &d.list {
                    let set = self.list(list).iter().cloned().collect();
                    mask |= self.domain_bit(set);
                }
                if !d.domains.is_empty() {
                    let set = d
                        .domains
                        .iter()
                        .filter_map(|e| lists::normalize_entry(e))
                        .collect();
                    mask |= self.domain_bit(set);
                }
                Cond::DomainIn {
                    d: (slots.domain)(&d.property),
                    mask,
                }
            }
            Condition::All(cs) => Cond::All(cs.iter().map(|c| self.cond(c, slots)).collect()),
            Condition::Any(cs) => Cond::Any(cs.iter().map(|c| self.cond(c, slots)).collect()),
            Condition::Not(c) => Cond::Not(Box::new(self.cond(c, slots))),
        }
    }
}

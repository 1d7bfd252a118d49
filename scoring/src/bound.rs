//! Fit: a snapshot bound to the compiled property slots, and the fit rules evaluated on it.
//!
//! Binding walks the snapshot and the model's properties together (both sorted by name) once
//! per contact: values are trimmed and located, numbers parsed and e-mail domains looked up in
//! the merged domain index, so each rule then reads a slot instead of searching.

use std::cell::Cell;

use super::compile::{CmpOp, CompiledModel, Cond};
use super::contact::Snapshot;
use super::engine::{Axis, Contribution};
use super::text::{
    MAX_DOMAIN, contains_ci, contains_ci_ascii, domain_and_parents, domain_of, eq_ci,
    lowercase_domain, parse_number, starts_with_ci, starts_with_ci_ascii, word_starts,
};
use super::validate::{MAX_DOMAIN_PROPERTIES, MAX_NUMBER_PROPERTIES, MAX_PROPERTIES};

impl CompiledModel {
    /// The sum of the fit rules that hold, recording each.
    pub(crate) fn fit_points(&self, snapshot: &Snapshot, out: &mut Vec<Contribution>) -> f64 {
        let mut bound = Bound {
            snapshot,
            values: [None; MAX_PROPERTIES],
            ascii: 0,
            numbers: [f64::NAN; MAX_NUMBER_PROPERTIES],
            domains: [0; MAX_DOMAIN_PROPERTIES],
            words: Cell::new(None),
        };
        bound.bind(self);
        let mut sum = 0.0;
        for (i, rule) in self.fit.iter().enumerate() {
            if bound.eval_inline(&rule.cond) != rule.negated {
                sum += rule.points;
                out.push(Contribution {
                    axis: Axis::Fit,
                    rule: i,
                    raw: rule.points,
                    points: rule.points,
                    count: 1,
                });
            }
        }
        sum
    }
}

/// A snapshot bound to the compiled property slots, with numbers parsed and domains looked up
/// once per contact. Kept small (about 1.2 KB): it is initialized for every contact.
struct Bound<'a> {
    snapshot: &'a Snapshot,
    /// Each slot's trimmed value; `None` when unknown or blank.
    values: [Option<&'a str>; MAX_PROPERTIES],
    /// Bit `slot` is set when that value is ASCII (the fast comparison path).
    ascii: u64,
    numbers: [f64; MAX_NUMBER_PROPERTIES],
    domains: [u64; MAX_DOMAIN_PROPERTIES],
    /// The word starts of the last slot searched for words (a job title is usually searched by
    /// several rules in a row).
    words: Cell<Option<(usize, u64)>>,
}

impl<'a> Bound<'a> {
    /// Fills the slots from the snapshot (the struct starts empty, built in place by the
    /// caller: it is too large to move around for every contact).
    fn bind(&mut self, model: &CompiledModel) {
        let snapshot = self.snapshot;
        let b = self;
        let spans = snapshot.spans();
        let mut j = 0;
        for (slot, prop) in model.props.iter().enumerate().take(MAX_PROPERTIES) {
            // Both sides are sorted by name, hence by key; equal keys (a shared 8-byte prefix)
            // are told apart by the full name.
            while j < spans.len() && spans[j].key < prop.key {
                j += 1;
            }
            let mut k = j;
            let span = loop {
                match spans.get(k) {
                    Some(span) if span.key == prop.key => {
                        if snapshot.name_is(span, &prop.name, prop.tail_key) {
                            break Some(span);
                        }
                        k += 1;
                    }
                    _ => break None,
                }
            };
            let Some(span) = span else {
                continue;
            };
            let value = snapshot.trimmed_value_of(span);
            if value.is_empty() {
                continue;
            }
            let ascii = span.ascii;
            b.values[slot] = Some(value);
            b.ascii |= u64::from(ascii) << slot;
            if let Some(n) = prop.numeric
                && let Some(x) = b.numbers.get_mut(n)
            {
                *x = parse_number(value);
            }
            if let Some(d) = prop.domain
                && let Some(domain) = domain_of(value)
                && let Some(mask) = b.domains.get_mut(d)
            {
                *mask = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
                    domain_mask_lowercased(model, domain)
                } else {
                    domain_mask(model, domain)
                };
            }
        }
    }

    #[inline(always)]
    fn text(&self, slot: usize) -> Option<&'a str> {
        self.values.get(slot).copied().flatten()
    }

    /// [`Self::eval`] with the leaf tests inlined; only combinations make a call.
    #[inline(always)]
    fn eval_inline(&self, c: &Cond) -> bool {
        match c {
            Cond::All(_) | Cond::Any(_) | Cond::Not(_) => self.eval(c),
            _ => self.leaf(c),
        }
    }

    fn eval(&self, c: &Cond) -> bool {
        match c {
            Cond::All(cs) => cs.iter().all(|c| self.eval_inline(c)),
            Cond::Any(cs) => cs.iter().any(|c| self.eval_inline(c)),
            Cond::Not(c) => !self.eval_inline(c),
            _ => self.leaf(c),
        }
    }

    #[inline(always)]
    fn leaf(&self, c: &Cond) -> bool {
        let ascii = |p: usize| self.ascii >> p & 1 == 1;
        let number = |n: usize| self.numbers.get(n).copied().unwrap_or(f64::NAN);
        match c {
            Cond::Equals { p, value } => self
                .text(*p)
                .is_some_and(|v| equals_lowercase(v, ascii(*p), value)),
            Cond::OneOf { p, values } => self.text(*p).is_some_and(|v| {
                let ascii = ascii(*p);
                values.iter().any(|x| equals_lowercase(v, ascii, x))
            }),
            Cond::Cmp { n, op, value } => {
                let x = number(*n);
                match op {
                    CmpOp::Gt => x > *value,
                    CmpOp::Gte => x >= *value,
                    CmpOp::Lt => x < *value,
                    CmpOp::Lte => x <= *value,
                }
            }
            Cond::Between { n, min, max } => {
                let x = number(*n);
                x >= *min && x <= *max
            }
            Cond::Contains { p, value } => self.text(*p).is_some_and(|v| {
                if ascii(*p) {
                    contains_ci_ascii(v.as_bytes(), value.as_bytes())
                } else {
                    contains_ci(v, value)
                }
            }),
            Cond::StartsWith { p, value } => self.text(*p).is_some_and(|v| {
                if ascii(*p) {
                    starts_with_ci_ascii(v.as_bytes(), value.as_bytes())
                } else {
                    starts_with_ci(v, value)
                }
            }),
            Cond::ContainsWord { p, needles } => self.text(*p).is_some_and(|v| {
                let starts = match self.words.get() {
                    Some((slot, starts)) if slot == *p => starts,
                    _ => {
                        let starts = word_starts(v.as_bytes());
                        self.words.set(Some((*p, starts)));
                        starts
                    }
                };
                needles.find_in(v, ascii(*p), Some(starts))
            }),
            Cond::Known { p } => self.text(*p).is_some(),
            Cond::DomainIn { d, mask } => self.domains.get(*d).is_some_and(|m| m & mask != 0),
            Cond::All(_) | Cond::Any(_) | Cond::Not(_) => self.eval(c),
        }
    }
}

/// Whether a value equals a lowercased needle; `ascii` tells whether the value is ASCII, in
/// which case it can only equal a needle of its length (checked first, inline: most needles of
/// a `one_of` have another length).
#[inline(always)]
fn equals_lowercase(value: &str, ascii: bool, needle: &str) -> bool {
    if ascii {
        value.len() == needle.len() && value.eq_ignore_ascii_case(needle)
    } else {
        equals_lowercase_unicode(value, needle)
    }
}

#[inline(never)]
fn equals_lowercase_unicode(value: &str, needle: &str) -> bool {
    eq_ci(value, needle)
}

/// The domain lists (bits) that a lowercase domain or one of its parents is in.
fn domain_mask(model: &CompiledModel, domain: &str) -> u64 {
    domain_and_parents(domain).fold(0, |m, d| m | model.domains.get(d).copied().unwrap_or(0))
}

/// [`domain_mask`] of a domain with capitals, lowercased in a stack buffer (kept out of the
/// common path, which would otherwise clear the buffer for every contact).
#[inline(never)]
fn domain_mask_lowercased(model: &CompiledModel, domain: &str) -> u64 {
    let mut buf = [0; MAX_DOMAIN];
    domain_mask(model, lowercase_domain(domain, &mut buf))
}

//! The model document: what a portal's administrator writes (YAML or JSON, one schema).
//!
//! These types are the wire form of a model. They are deliberately loose (plain strings for
//! property names, plain numbers for points) so that `Model::validate` can report every problem
//! at once with its path; the only way to score with a model is through the
//! [`CompiledModel`](super::CompiledModel) that validation produces.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// One portal's scoring model, versioned. See `scoring/data/default-model.yaml` for an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Version of this portal's model; increase it on every published change.
    pub version: u32,
    /// A human name for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How engagement points fade with time (default: no decay).
    #[serde(default)]
    pub decay: Decay,
    /// Bounds on the fit axis, the engagement axis and the total.
    #[serde(default)]
    pub caps: Caps,
    /// Per-portal edits of the built-in lists, competitor domains and custom lists.
    #[serde(default)]
    pub lists: ListOverrides,
    /// Rules on contact properties; each matching rule adds its points once.
    #[serde(default)]
    pub fit: Vec<FitRule>,
    /// Rules on events; each counted event adds its points, decayed by its age.
    #[serde(default)]
    pub engagement: Vec<EngagementRule>,
    /// Grades by rounded total, e.g. `A` from 80; the highest band reached wins.
    #[serde(default)]
    pub grades: Vec<Band>,
    /// The two-axis fit × engagement matrix (A1…C3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Matrix>,
    /// Which HubSpot properties receive the results.
    pub output: OutputMapping,
}

/// A rule's stable identifier, chosen in the model and stored in the engagement ledger.
///
/// 1 to 64 characters of `a-z`, `0-9`, `_`, `-` and `.`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RuleId(String);

/// Why a string is not a [`RuleId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a rule id is 1 to 64 characters of a-z, 0-9, '_', '-' and '.', starting with a letter or digit; got {0:?}"
)]
pub struct RuleIdError(String);

impl RuleId {
    /// Parses a rule id.
    pub fn parse(s: impl Into<String>) -> Result<Self, RuleIdError> {
        let s = s.into();
        let valid_char =
            |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.".contains(&c);
        let bytes = s.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 64
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes.iter().all(|&c| valid_char(c));
        if ok { Ok(Self(s)) } else { Err(RuleIdError(s)) }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RuleId {
    type Error = RuleIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<RuleId> for String {
    fn from(id: RuleId) -> Self {
        id.0
    }
}

impl AsRef<str> for RuleId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for RuleId {
    fn schema_name() -> Cow<'static, str> {
        "RuleId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$" })
    }
}

/// A property value to compare with. HubSpot sends every value as a string; a model may write
/// `100` or `true` and it is compared as the text `"100"` or `"true"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct TextValue(pub String);

impl<'de> Deserialize<'de> for TextValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Scalar;
        impl serde::de::Visitor<'_> for Scalar {
            type Value = TextValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TextValue, E> {
                Ok(TextValue(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<TextValue, E> {
                Ok(TextValue(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<TextValue, E> {
                Ok(TextValue(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<TextValue, E> {
                Ok(TextValue(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<TextValue, E> {
                Ok(TextValue(v.to_string()))
            }
        }
        d.deserialize_any(Scalar)
    }
}

impl From<TextValue> for String {
    fn from(v: TextValue) -> Self {
        v.0
    }
}

impl JsonSchema for TextValue {
    fn schema_name() -> Cow<'static, str> {
        "TextValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// How engagement points fade: `{kind: exponential, half_life_days: 30}` or `{kind: none}`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decay {
    /// Points never fade.
    #[default]
    None,
    /// Points halve every `half_life_days`: decay(Δ) = 2^(−Δ / half_life).
    Exponential {
        /// Days after which an event is worth half its points (> 0).
        half_life_days: f64,
    },
}

/// Optional lower and upper bounds, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Lowest value kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Highest value kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// Caps per axis and on the total; the total is the capped fit plus the capped engagement,
/// capped again.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// Bounds of the fit axis.
    #[serde(default)]
    pub fit: Bounds,
    /// Bounds of the engagement axis.
    #[serde(default)]
    pub engagement: Bounds,
    /// Bounds of the total.
    #[serde(default)]
    pub total: Bounds,
}

/// Entries to add to and remove from a built-in list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListEdit {
    /// Entries added to the built-in list.
    #[serde(default)]
    pub add: Vec<String>,
    /// Entries removed from the built-in list.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Per-portal lists. Conditions refer to lists by name: `freemail`, `academic_domains`,
/// `student_titles`, `competitors`, or a key of `custom`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListOverrides {
    /// Edits of the built-in free e-mail domains.
    #[serde(default)]
    pub freemail: ListEdit,
    /// Edits of the built-in academic domains (suffixes such as `edu` or `ac.uk`).
    #[serde(default)]
    pub academic_domains: ListEdit,
    /// Edits of the built-in student job-title words.
    #[serde(default)]
    pub student_titles: ListEdit,
    /// This portal's competitors' domains (added to the shipped list, usually empty).
    #[serde(default)]
    pub competitors: Vec<String>,
    /// Further named lists of this portal.
    #[serde(default)]
    pub custom: BTreeMap<String, Vec<String>>,
}

/// A fit rule: when the condition holds for the contact's properties, add `points`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FitRule {
    /// Stable id, unique in the model.
    pub id: RuleId,
    /// Short text used in reasons (defaults to the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Points awarded; negative points are ordinary weights below zero.
    pub points: f64,
    /// When the rule applies.
    pub when: Condition,
}

/// A property and a text value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyText {
    /// HubSpot internal property name.
    pub property: String,
    /// Compared case-insensitively, surrounding spaces ignored.
    pub value: TextValue,
}

/// A property and a set of text values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyTexts {
    /// HubSpot internal property name.
    pub property: String,
    /// Compared case-insensitively, surrounding spaces ignored.
    pub values: Vec<TextValue>,
}

/// A property and a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyNumber {
    /// HubSpot internal property name (its value must parse as a number to match).
    pub property: String,
    /// The number compared with.
    pub value: f64,
}

/// A property and an inclusive range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyRange {
    /// HubSpot internal property name (its value must parse as a number to match).
    pub property: String,
    /// Lowest matching value (inclusive).
    pub min: f64,
    /// Highest matching value (inclusive).
    pub max: f64,
}

/// A property alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyOnly {
    /// HubSpot internal property name.
    pub property: String,
}

/// Words or phrases searched in a property, from inline values and/or a named list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyTerms {
    /// HubSpot internal property name.
    pub property: String,
    /// Inline terms.
    #[serde(default)]
    pub values: Vec<TextValue>,
    /// A list name (see [`ListOverrides`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
}

/// The domain of an e-mail address (or a bare domain) in a list; parent domains count, so
/// `cs.stanford.edu` is in a list holding `edu`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainTest {
    /// Property holding the address (default `email`).
    #[serde(default = "default_email_property")]
    pub property: String,
    /// A list name (see [`ListOverrides`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// Inline domains.
    #[serde(default)]
    pub domains: Vec<String>,
}

fn default_email_property() -> String {
    "email".to_owned()
}

/// A test on contact properties. Text tests are case-insensitive; a property is unknown when it
/// is absent or blank. Numeric tests never match an unknown or non-numeric value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The value equals `value`.
    Equals(PropertyText),
    /// The value does not equal `value` (an unknown value matches).
    NotEquals(PropertyText),
    /// The value is one of `values`.
    OneOf(PropertyTexts),
    /// The value is none of `values` (an unknown value matches).
    NoneOf(PropertyTexts),
    /// value > `value`.
    Gt(PropertyNumber),
    /// value ≥ `value`.
    Gte(PropertyNumber),
    /// value < `value`.
    Lt(PropertyNumber),
    /// value ≤ `value`.
    Lte(PropertyNumber),
    /// `min` ≤ value ≤ `max`.
    Between(PropertyRange),
    /// The value contains `value`.
    Contains(PropertyText),
    /// The value starts with `value`.
    StartsWith(PropertyText),
    /// The value contains any of the terms.
    ContainsAny(PropertyTerms),
    /// The property has a non-blank value.
    Known(PropertyOnly),
    /// The property is absent or blank.
    Unknown(PropertyOnly),
    /// The e-mail domain is in a list.
    EmailDomainIn(DomainTest),
    /// Every condition holds.
    All(Vec<Condition>),
    /// At least one condition holds.
    Any(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
}

/// An engagement rule: each counted matching event adds `points`, decayed by its age.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngagementRule {
    /// Stable id, unique in the model; the ledger stores it.
    pub id: RuleId,
    /// Short text used in reasons (defaults to the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Points per counted event (before decay).
    pub points: f64,
    /// Which events match.
    pub on: EventMatcher,
    /// At most this many events count (the most recent ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<u32>,
    /// A repeat counts only this many hours after the previous counted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval_hours: Option<f64>,
    /// Overrides the model's decay for this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay: Option<Decay>,
}

/// Which incoming signal an engagement rule matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EventMatcher {
    /// A webhook property change; without `value`, any change to a non-blank value.
    PropertyChange {
        /// HubSpot internal property name.
        property: String,
        /// The new value, compared case-insensitively.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<TextValue>,
    },
    /// A workflow webhook, optionally with a given event name.
    Workflow {
        /// HubSpot workflow id.
        workflow_id: u64,
        /// Event name carried by the webhook, compared case-insensitively.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<String>,
    },
    /// An external event such as `pricing_page_view` or `product_login`.
    External {
        /// Event type, compared case-insensitively.
        event_type: String,
    },
}

/// A labelled threshold: reached when the rounded value is ≥ `min`; a band without `min`
/// catches everything below the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Label written to HubSpot, e.g. `A`.
    pub label: String,
    /// Lowest rounded value of this band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

/// Bands of each axis; the cell is the fit label followed by the engagement label (`A1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// Fit bands, e.g. A, B, C.
    pub fit: Vec<Band>,
    /// Engagement bands, e.g. 1, 2, 3.
    pub engagement: Vec<Band>,
}

/// HubSpot property names that receive the results; an absent name is not written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputMapping {
    /// Receives the rounded total.
    pub total: String,
    /// Receives the rounded fit axis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<String>,
    /// Receives the rounded engagement axis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engagement: Option<String>,
    /// Receives the grade label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// Receives the matrix cell (A1…C3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<String>,
    /// Receives a short text of the top reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<String>,
    /// How many reasons the text names (1–10, default 3).
    #[serde(default = "default_max_reasons")]
    pub max_reasons: u8,
    /// Longest reasons text in characters (20–1000, default 250).
    #[serde(default = "default_reasons_chars")]
    pub reasons_max_chars: u16,
}

fn default_max_reasons() -> u8 {
    3
}

fn default_reasons_chars() -> u16 {
    250
}

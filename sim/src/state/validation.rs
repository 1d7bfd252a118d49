//! HubSpot's checks on written values (docs/hubspot.md E.2, E.3): unknown and read-only properties
//! are refused, typed values are checked and normalised, `""` clears. Failures are the entries
//! of HubSpot's `Property values were not valid: [...]` message.

use chrono::{NaiveDate, SecondsFormat};
use ember_hubspot::wire::crm::PropertyInputs;
use ember_hubspot::wire::error::PropertyValidationResult;

use super::properties::ValueType;
use super::{Portal, PortalId};
use crate::clock::ms_to_datetime;
use crate::setup::{RuleCheck, ValidationRule};

fn invalid(portal: PortalId, name: &str, error: &str, message: String) -> PropertyValidationResult {
    PropertyValidationResult {
        is_valid: false,
        localized_error_message: message.clone(),
        message,
        error: error.into(),
        name: name.into(),
        portal_id: portal,
    }
}

/// Normalises a date/datetime value the way HubSpot stores it, or `None` if invalid.
fn normalize_time(value: &str, date_only: bool) -> Option<String> {
    if let Ok(ms) = value.parse::<i64>() {
        let t = ms_to_datetime(ms);
        if date_only {
            // A date takes epoch ms at midnight UTC only (docs/hubspot.md E.2).
            return (ms % 86_400_000 == 0).then(|| t.format("%Y-%m-%d").to_string());
        }
        return Some(t.to_rfc3339_opts(SecondsFormat::Millis, true));
    }
    if date_only {
        return NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .map(|d| d.to_string());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        );
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl Portal {
    /// `internal` writes (HubSpot itself, the generator) may set read-only properties.
    pub(crate) fn validate(
        &self,
        inputs: &PropertyInputs,
        internal: bool,
    ) -> Result<Vec<(String, String)>, Vec<PropertyValidationResult>> {
        let mut out = Vec::with_capacity(inputs.len());
        let mut errors = Vec::new();
        for (name, value) in inputs {
            // An archived definition takes no values (docs/hubspot.md F).
            let Some(def) = self.property(name).filter(|d| !d.archived.unwrap_or(false)) else {
                errors.push(invalid(
                    self.id,
                    name,
                    "PROPERTY_DOESNT_EXIST",
                    format!("Property \"{name}\" does not exist"),
                ));
                continue;
            };
            let read_only = def
                .modification_metadata
                .as_ref()
                .is_some_and(|m| m.read_only_value);
            if read_only && !internal {
                errors.push(invalid(
                    self.id,
                    name,
                    "READ_ONLY_VALUE",
                    format!("\"{name}\" is a read only property; its value cannot be set."),
                ));
                continue;
            }
            if value.is_empty() {
                out.push((name.clone(), String::new()));
                continue;
            }
            let kind = ValueType::parse(&def.type_).unwrap_or(ValueType::String);
            let normalized = match kind {
                ValueType::String => {
                    if name == "email" && !looks_like_email(value) {
                        errors.push(invalid(
                            self.id,
                            name,
                            "INVALID_EMAIL",
                            format!("Email address {value} is invalid"),
                        ));
                        continue;
                    }
                    Some(value.clone())
                }
                ValueType::Number => value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|_| value.trim().to_string()),
                ValueType::Bool => match value.to_ascii_lowercase().as_str() {
                    "true" | "false" => Some(value.to_ascii_lowercase()),
                    _ => None,
                },
                ValueType::Date => normalize_time(value, true),
                ValueType::DateTime => normalize_time(value, false),
                ValueType::Enumeration => {
                    let allowed = |v: &str| def.options.iter().any(|o| o.value == v);
                    if def.options.is_empty() {
                        Some(value.clone())
                    } else if def.field_type == "checkbox" {
                        let parts: Vec<&str> = value
                            .trim_start_matches(';')
                            .split(';')
                            .filter(|s| !s.is_empty())
                            .collect();
                        parts.iter().all(|p| allowed(p)).then(|| value.clone())
                    } else {
                        allowed(value).then(|| value.clone())
                    }
                }
            };
            match normalized {
                Some(v) => out.push((name.clone(), v)),
                None => {
                    let (code, message) = match kind {
                        ValueType::Number => (
                            "INVALID_INTEGER",
                            format!("{value} was not a valid number."),
                        ),
                        ValueType::Bool => (
                            "INVALID_BOOLEAN",
                            format!("{value} was not a valid boolean."),
                        ),
                        ValueType::Date => (
                            "INVALID_DATE",
                            format!(
                                "{value} was not a valid date (YYYY-MM-DD or epoch ms at midnight UTC)."
                            ),
                        ),
                        ValueType::DateTime => (
                            "INVALID_DATETIME",
                            format!("{value} was not a valid datetime."),
                        ),
                        _ => {
                            let opts: Vec<&str> =
                                def.options.iter().map(|o| o.value.as_str()).collect();
                            (
                                "INVALID_OPTION",
                                format!(
                                    "{value} was not one of the allowed options: [{}]",
                                    opts.join(", ")
                                ),
                            )
                        }
                    };
                    errors.push(invalid(self.id, name, code, message));
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

fn looks_like_email(v: &str) -> bool {
    let mut parts = v.splitn(2, '@');
    let local = parts.next().unwrap_or("");
    let domain = parts.next().unwrap_or("");
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.contains(' ')
}

impl RuleCheck {
    /// Whether a written value satisfies the check; clearing (`""`) always does.
    pub(crate) fn allows(&self, value: &str) -> bool {
        if value.is_empty() {
            return true;
        }
        match self {
            RuleCheck::NumberRange { min, max } => value
                .parse::<f64>()
                .is_ok_and(|n| min.is_none_or(|lo| n >= lo) && max.is_none_or(|hi| n <= hi)),
            RuleCheck::MaxLength { max } => value.chars().count() <= *max,
            RuleCheck::OneOf { values } => values.iter().any(|v| v == value),
        }
    }

    /// Why the check itself cannot be used, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        match self {
            RuleCheck::NumberRange {
                min: Some(lo),
                max: Some(hi),
            } if lo > hi => Some(format!("min {lo} is greater than max {hi}")),
            RuleCheck::NumberRange { min, max }
                if min.is_some_and(|v| !v.is_finite()) || max.is_some_and(|v| !v.is_finite()) =>
            {
                Some("min and max must be finite numbers".into())
            }
            RuleCheck::OneOf { values } if values.is_empty() => {
                Some("one_of needs at least one value".into())
            }
            _ => None,
        }
    }
}

impl Portal {
    /// The portal's rules that validated values break (docs/hubspot.md P3).
    pub(crate) fn broken_rules(&self, values: &[(String, String)]) -> Vec<&ValidationRule> {
        self.validation_rules
            .iter()
            .filter(|rule| {
                values
                    .iter()
                    .any(|(name, value)| *name == rule.property_name && !rule.check.allows(value))
            })
            .collect()
    }
}

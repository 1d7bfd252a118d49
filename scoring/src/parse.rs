//! Reading model documents (YAML or JSON) and exported contact lines, with errors that name
//! their path (`engagement[3].points: expected a number`).
//!
//! A document is first read into a JSON value (syntax errors carry line and column), then each
//! top-level field, and each rule of the rule lists, is deserialized on its own, so a document
//! with several broken rules reports all of them at once.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::compile::CompiledModel;
use super::contact::ExportedContact;
use super::model::{
    Band, Caps, Decay, EngagementRule, FitRule, ListOverrides, Matrix, Model, OutputMapping,
};
use super::validate::{ValidationErrors, ValidationIssue};

/// The starter model installed into new portals.
const DEFAULT_MODEL_YAML: &str = include_str!("../data/default-model.yaml");

/// A model document's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// YAML (1.2, as serde_yaml reads it).
    Yaml,
}

impl Format {
    /// The format a file name suggests: JSON for `.json`, YAML otherwise.
    pub fn from_file_name(name: &str) -> Self {
        if name.to_ascii_lowercase().ends_with(".json") {
            Self::Json
        } else {
            Self::Yaml
        }
    }
}

const TOP_LEVEL_FIELDS: &str =
    "version, name, decay, caps, lists, fit, engagement, grades, matrix, output";

impl Model {
    /// Reads a model document; every error names its path.
    pub fn parse(text: &str, format: Format) -> Result<Self, ValidationErrors> {
        let value: Value =
            match format {
                Format::Json => serde_json::from_str(text)
                    .map_err(|e| single("", format!("invalid JSON: {e}")))?,
                Format::Yaml => serde_yaml::from_str(text)
                    .map_err(|e| single("", format!("invalid YAML: {e}")))?,
            };
        from_value(value)
    }

    /// Reads a JSON model document.
    pub fn from_json_str(text: &str) -> Result<Self, ValidationErrors> {
        Self::parse(text, Format::Json)
    }

    /// Reads a YAML model document.
    pub fn from_yaml_str(text: &str) -> Result<Self, ValidationErrors> {
        Self::parse(text, Format::Yaml)
    }

    /// Reads, validates and compiles a model document.
    pub fn load(text: &str, format: Format) -> Result<CompiledModel, ValidationErrors> {
        Self::parse(text, format)?.validate()
    }

    /// The document as pretty JSON.
    pub fn to_json_string(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// The document as YAML. (Through a JSON value: serde_yaml cannot write nested enums such as
    /// `not: {equals: …}` directly.)
    pub fn to_yaml_string(&self) -> Result<String, serde_yaml::Error> {
        let value =
            serde_json::to_value(self).map_err(<serde_yaml::Error as serde::ser::Error>::custom)?;
        serde_yaml::to_string(&value)
    }

    /// The starter model for new portals (`scoring/data/default-model.yaml`).
    pub fn default_model() -> Self {
        // The shipped file is parsed and validated by the tests, so this cannot fail at run time.
        #[allow(clippy::expect_used)]
        Self::from_yaml_str(DEFAULT_MODEL_YAML)
            .expect("scoring/data/default-model.yaml is a valid model")
    }

    /// The model document's JSON Schema (draft 2020-12), generated from these types.
    pub fn json_schema() -> Value {
        schemars::schema_for!(Model).to_value()
    }
}

impl ExportedContact {
    /// Reads one line of an exported-contacts file (JSON).
    pub fn from_json_line(line: &str) -> Result<Self, ValidationErrors> {
        let mut de = serde_json::Deserializer::from_str(line);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = path_string(e.path());
            single(&path, humanize(&e.into_inner().to_string()))
        })
    }
}

fn single(path: &str, message: impl Into<String>) -> ValidationErrors {
    ValidationErrors {
        errors: vec![ValidationIssue::new(path, message)],
        warnings: Vec::new(),
    }
}

fn from_value(value: Value) -> Result<Model, ValidationErrors> {
    let Value::Object(fields) = &value else {
        return Err(single("", "expected a mapping with the model's fields"));
    };
    let mut errors = Vec::new();
    // Fields in a fixed order, whatever the order of the document's map.
    for key in TOP_LEVEL_FIELDS.split(", ") {
        let e = &mut errors;
        let Some(v) = fields.get(key) else {
            if matches!(key, "version" | "output") {
                e.push(ValidationIssue::new(key, "missing field"));
            }
            continue;
        };
        match key {
            "version" => check::<u32>(key, v, e),
            "name" => check::<Option<String>>(key, v, e),
            "decay" => check::<Decay>(key, v, e),
            "caps" => check::<Caps>(key, v, e),
            "lists" => check::<ListOverrides>(key, v, e),
            "fit" => check_each::<FitRule>(key, v, e),
            "engagement" => check_each::<EngagementRule>(key, v, e),
            "grades" => check_each::<Band>(key, v, e),
            "matrix" => check::<Option<Matrix>>(key, v, e),
            _ => check::<OutputMapping>(key, v, e),
        }
    }
    let mut unknown: Vec<&String> = fields
        .keys()
        .filter(|k| !TOP_LEVEL_FIELDS.split(", ").any(|f| f == k.as_str()))
        .collect();
    unknown.sort();
    for key in unknown {
        errors.push(ValidationIssue::new(
            key.as_str(),
            format!("unknown field; expected one of {TOP_LEVEL_FIELDS}"),
        ));
    }
    if !errors.is_empty() {
        return Err(ValidationErrors {
            errors,
            warnings: Vec::new(),
        });
    }
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = path_string(e.path());
        single(&path, humanize(&e.into_inner().to_string()))
    })
}

fn check<T: DeserializeOwned>(prefix: &str, v: &Value, errors: &mut Vec<ValidationIssue>) {
    if let Err(e) = serde_path_to_error::deserialize::<_, T>(v) {
        let inner = path_string(e.path());
        let path = if inner.is_empty() {
            prefix.to_owned()
        } else if inner.starts_with('[') {
            format!("{prefix}{inner}")
        } else {
            format!("{prefix}.{inner}")
        };
        errors.push(ValidationIssue::new(
            path,
            humanize(&e.into_inner().to_string()),
        ));
    }
}

fn check_each<T: DeserializeOwned>(key: &str, v: &Value, errors: &mut Vec<ValidationIssue>) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check::<T>(&format!("{key}[{i}]"), item, errors);
            }
        }
        _ => check::<Vec<T>>(key, v, errors),
    }
}

fn path_string(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// Rewrites serde's messages in a user's terms: `invalid type: string "ten", expected f64`
/// becomes `expected a number (found string "ten")`.
pub(crate) fn humanize(msg: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((found, expected)) = rest.rsplit_once(", expected ")
        {
            return format!("expected {} (found {found})", expected_in_words(expected));
        }
    }
    msg.to_owned()
}

fn expected_in_words(expected: &str) -> String {
    match expected {
        "f64" | "f32" => "a number".to_owned(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number of at least 0".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" | "map" => "a mapping".to_owned(),
        other if other.starts_with("struct ") => "a mapping".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::humanize;

    #[test]
    fn serde_messages_read_in_the_users_terms() {
        assert_eq!(
            humanize("invalid type: string \"ten\", expected f64"),
            "expected a number (found string \"ten\")"
        );
        assert_eq!(
            humanize("invalid value: integer `-1`, expected u32"),
            "expected a whole number of at least 0 (found integer `-1`)"
        );
        assert_eq!(humanize("missing field `points`"), "missing field `points`");
    }
}

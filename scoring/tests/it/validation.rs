//! Every validation error names its path, and all errors of a document are reported at once.

use ember_scoring::{Format, Model, ValidationErrors};

const OUTPUT: &str = "output: { total: ember_score }\n";

/// Parses and validates; returns `path: message` lines of the errors.
fn errors(doc: &str) -> Vec<String> {
    match Model::parse(doc, Format::Yaml).and_then(|m| m.validate()) {
        Ok(_) => Vec::new(),
        Err(ValidationErrors { errors, .. }) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(doc: &str) -> Vec<String> {
    let model = Model::parse(doc, Format::Yaml)
        .expect("parses")
        .validate()
        .expect("valid");
    model.warnings().iter().map(ToString::to_string).collect()
}

/// Asserts that exactly one error is reported, at `path`, and returns its message.
#[track_caller]
fn single_error_at(doc: &str, path: &str) -> String {
    let errs = errors(doc);
    assert_eq!(errs.len(), 1, "expected one error at {path}, got {errs:#?}");
    let prefix = format!("{path}: ");
    assert!(
        errs[0].starts_with(&prefix),
        "expected an error at {path}, got {:?}",
        errs[0]
    );
    errs[0][prefix.len()..].to_owned()
}

fn with_rules(fit: &str, engagement: &str) -> String {
    format!("version: 1\nfit: {fit}\nengagement: {engagement}\n{OUTPUT}")
}

const ONE_EVENT: &str = "{ id: e, points: 1, on: { external: { event_type: x } } }";

#[test]
fn a_point_value_that_is_not_a_number_names_its_rule() {
    let doc = with_rules(
        "[]",
        &format!(
            "[{ONE_EVENT}, {ONE_EVENT}, {ONE_EVENT}, {{ id: d, points: ten, on: {{ external: {{ event_type: x }} }} }}]"
        ),
    );
    let errs = errors(&doc);
    assert_eq!(
        errs,
        ["engagement[3].points: expected a number (found string \"ten\")"]
    );
}

#[test]
fn every_parse_error_of_a_document_is_reported_at_once() {
    let doc = r#"
version: one
fit:
  - { id: a, points: 1, when: { equal: { property: industry, value: SaaS } } }
  - { id: b, points: 1, when: { gt: { property: numberofemployees, value: many } } }
  - { id: Bad Id, points: 1, when: { known: { property: phone } } }
engagement:
  - { id: c, pointz: 1, on: { external: { event_type: x } } }
colour: blue
"#;
    let errs = errors(doc);
    let paths: Vec<&str> = errs
        .iter()
        .map(|e| e.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        paths,
        [
            "version",
            "fit[0].when",
            "fit[1].when.gt.value",
            "fit[2].id",
            "engagement[0].pointz",
            "output",
            "colour"
        ],
        "{errs:#?}"
    );
    assert!(errs[0].contains("expected a whole number"));
    assert!(errs[1].contains("unknown variant `equal`"));
    assert!(errs[4].contains("unknown field `pointz`"));
    assert!(errs[5].contains("missing field"));
}

#[test]
fn syntax_errors_carry_the_line() {
    let yaml = errors("version: 1\nfit: [\n");
    assert_eq!(yaml.len(), 1);
    assert!(
        yaml[0].starts_with("invalid YAML") && yaml[0].contains("line"),
        "{yaml:?}"
    );
    let json =
        Model::parse("{\"version\": 1,\n \"output\": }", Format::Json).expect_err("bad JSON");
    assert!(json.errors[0].message.contains("line 2"), "{json}");
}

#[test]
fn a_document_that_is_not_a_mapping_is_rejected() {
    assert_eq!(
        errors("- 1\n- 2\n"),
        ["expected a mapping with the model's fields"]
    );
}

#[test]
fn semantic_errors_are_all_reported_with_their_paths() {
    let doc = r#"
version: 0
decay: { kind: exponential, half_life_days: 0 }
caps: { total: { min: 10, max: 5 } }
fit:
  - { id: a, points: 1, when: { equals: { property: Industry, value: SaaS } } }
  - { id: a, points: 1, when: { between: { property: numberofemployees, min: 10, max: 1 } } }
  - { id: c, points: 1, when: { one_of: { property: industry, values: [] } } }
  - { id: d, points: 1, when: { contains: { property: jobtitle, value: "  " } } }
  - { id: e, points: 1, when: { contains_any: { property: jobtitle } } }
  - { id: f, points: 1, when: { contains_any: { property: jobtitle, list: nope } } }
  - { id: g, points: 1, when: { email_domain_in: { property: email } } }
  - { id: h, points: 1, when: { all: [] } }
  - { id: i, points: 1, when: { not: { any: [ { lt: { property: 9x, value: 1 } } ] } } }
engagement:
  - { id: j, points: 1, cap: 0, min_interval_hours: -1, decay: { kind: exponential, half_life_days: -2 },
      on: { property_change: { property: "Bad Name" } } }
  - { id: k, points: 1, on: { external: { event_type: "" } } }
  - { id: l, points: 1, on: { workflow: { workflow_id: 9, event: " " } } }
grades: [ { label: A, min: 80 }, { label: A, min: 80 }, { label: C }, { label: D } ]
matrix: { fit: [], engagement: [ { label: "" } ] }
lists:
  custom: { Bad: [x], freemail: [y], ok: ["  "] }
  competitors: [""]
output: { total: ember_score, fit: ember_score, grade: "Ember Grade", max_reasons: 0, reasons_max_chars: 5 }
"#;
    let errs = errors(doc);
    let expected = [
        "version: must be at least 1",
        "decay.half_life_days: ",
        "caps.total: min (10) is above max (5)",
        "lists.custom.Bad: ",
        "lists.custom.freemail: a built-in list has this name",
        "lists.custom.ok[0]: ",
        "lists.competitors[0]: ",
        "fit[0].when.equals.property: ",
        "fit[1].id: duplicate rule id \"a\"",
        "fit[1].when.between: min (10) is above max (1)",
        "fit[2].when.one_of.values: expected at least one value",
        "fit[3].when.contains.value: ",
        "fit[4].when.contains_any: expected `values`, `list` or both",
        "fit[5].when.contains_any.list: unknown list \"nope\"",
        "fit[6].when.email_domain_in: expected `list`, `domains` or both",
        "fit[7].when.all: expected at least one condition",
        "fit[8].when.not.any[0].lt.property: ",
        "engagement[0].on.property_change.property: ",
        "engagement[0].cap: ",
        "engagement[0].min_interval_hours: ",
        "engagement[0].decay.half_life_days: ",
        "engagement[1].on.external.event_type: ",
        "engagement[2].on.workflow.event: ",
        "grades[1].label: duplicate label \"A\"",
        "grades[1].min: another band starts at 80",
        "grades[3].min: only one band may omit `min`",
        "matrix.fit: expected at least one band",
        "matrix.engagement[0].label: ",
        "output.fit: property \"ember_score\" already receives another output",
        "output.grade: ",
        "output.max_reasons: expected 1 to 10",
        "output.reasons_max_chars: expected 20 to 1000",
    ];
    for want in expected {
        assert!(
            errs.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
}

#[test]
fn numbers_that_are_not_finite_are_rejected() {
    let doc = with_rules(
        "[ { id: a, points: .nan, when: { known: { property: phone } } } ]",
        "[]",
    );
    let message = single_error_at(&doc, "fit[0].points");
    assert!(message.starts_with("expected a number"), "{message}");
}

#[test]
fn a_model_reading_more_than_64_properties_is_rejected() {
    let rules: Vec<String> = (0..65)
        .map(|i| format!("{{ id: r{i}, points: 1, when: {{ known: {{ property: p{i} }} }} }}"))
        .collect();
    let doc = with_rules(&format!("[{}]", rules.join(", ")), "[]");
    let message = single_error_at(&doc, "fit");
    assert!(message.contains("65 properties"), "{message}");
}

#[test]
fn a_model_without_rules_is_valid_with_a_warning() {
    let w = warnings(&format!("version: 1\n{OUTPUT}"));
    assert_eq!(
        w,
        ["the model has no fit and no engagement rules: it never changes a score"]
    );
}

#[test]
fn zero_points_and_self_feeding_outputs_are_warnings() {
    let doc =
        "version: 1\nfit: [ { id: a, points: 0, when: { known: { property: ember_score } } } ]\n"
            .to_owned()
            + OUTPUT;
    let w = warnings(&doc);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("fit[0].points: zero points"));
    assert!(w[1].starts_with("output.total: \"ember_score\" is also read by a fit rule"));
}

#[test]
fn validation_errors_display_one_issue_per_line() {
    let err = Model::parse("version: 0\noutput: { total: X }\n", Format::Yaml)
        .expect("parses")
        .validate()
        .expect_err("invalid");
    let text = err.to_string();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.starts_with("version: must be at least 1\noutput.total: "));
}

#[test]
fn json_and_yaml_documents_read_the_same() {
    let yaml = Model::default_model();
    let json_text = yaml.to_json_string().expect("serializes");
    let json = Model::from_json_str(&json_text).expect("parses");
    assert_eq!(json, yaml);
    let yaml_text = yaml.to_yaml_string().expect("serializes");
    assert_eq!(Model::from_yaml_str(&yaml_text).expect("parses"), yaml);
}

//! The shipped data: the default model, the built-in lists and the published JSON Schema.

use chrono::{DateTime, Duration, Utc};
use ember_scoring::{
    EngagementSignal, ExportedContact, Ledger, Model, SignalKind, Snapshot, builtin_list, score,
};

const SCHEMA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/model.schema.json");

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 time")
}

#[test]
fn the_default_model_is_valid_without_warnings_and_writes_the_ember_properties() {
    let model = Model::default_model().validate().expect("valid");
    assert!(model.warnings().is_empty(), "{:?}", model.warnings());
    let out = &model.model().output;
    assert_eq!(out.total, "ember_score");
    assert_eq!(out.fit.as_deref(), Some("ember_fit"));
    assert_eq!(out.engagement.as_deref(), Some("ember_engagement"));
    assert_eq!(out.grade.as_deref(), Some("ember_grade"));
    assert_eq!(out.reasons.as_deref(), Some("ember_reasons"));
}

#[test]
fn the_default_model_ranks_a_hot_saas_buyer_above_a_student() {
    let model = Model::default_model().validate().expect("valid");
    let now = at("2026-03-01T12:00:00Z");
    let buyer: Snapshot = [
        ("email", "dana@bigcorp.com"),
        ("numberofemployees", "450"),
        ("industry", "COMPUTER_SOFTWARE"),
        ("jobtitle", "VP of Revenue Operations"),
        ("phone", "+1 555 0100"),
    ]
    .into_iter()
    .collect();
    let student: Snapshot = [
        ("email", "sam@cs.stanford.edu"),
        ("jobtitle", "PhD Student"),
    ]
    .into_iter()
    .collect();
    let signals = [
        SignalKind::External {
            event_type: "pricing_page_view".into(),
        },
        SignalKind::PropertyChange {
            property: "recent_conversion_event_name".into(),
            value: "Demo request".into(),
        },
        SignalKind::External {
            event_type: "webinar_attended".into(),
        },
    ];
    let ledger: Ledger = signals
        .into_iter()
        .flat_map(|kind| {
            model.ledger_entries(&EngagementSignal {
                kind,
                occurred_at: now - Duration::days(2),
            })
        })
        .collect();

    let hot = score(&model, &buyer, &ledger, now);
    let cold = score(&model, &student, &Ledger::new(), now);

    assert_eq!(ledger.len(), 3);
    assert_eq!(hot.rounded_fit(), 58); // 25 + 20 + 10 + 3
    assert_eq!(hot.rounded_total(), 100); // capped
    assert_eq!(hot.grade.as_deref(), Some("A"));
    assert_eq!(hot.cell.as_deref(), Some("A1"));
    assert_eq!(cold.rounded_total(), 0); // −30 fit, total floored at 0
    assert_eq!(cold.rounded_fit(), -30);
    assert_eq!(cold.grade.as_deref(), Some("D"));
    let reasons = &cold.hubspot_values(&model)["ember_reasons"];
    assert_eq!(
        reasons,
        "Academic e-mail address -15; Student job title -15"
    );
}

#[test]
fn built_in_lists_are_shipped_as_data() {
    for name in [
        "freemail",
        "academic_domains",
        "student_titles",
        "competitors",
    ] {
        assert!(builtin_list(name).is_some(), "{name}");
    }
    assert!(
        builtin_list("competitors").expect("list").is_empty(),
        "competitors are per portal"
    );
}

#[test]
fn per_portal_list_edits_change_what_matches() {
    let mut doc = Model::default_model();
    doc.lists.freemail.remove.push("gmail.com".into());
    doc.lists.competitors.push("rival.io".into());
    let model = doc.validate().expect("valid");
    let now = at("2026-03-01T00:00:00Z");
    let fit = |email: &str| {
        let snap: Snapshot = [("email", email)].into_iter().collect();
        score(&model, &snap, &Ledger::new(), now).fit
    };
    assert_eq!(fit("a@gmail.com"), 0.0);
    assert_eq!(fit("a@yahoo.com"), -10.0);
    assert_eq!(fit("a@rival.io"), -50.0);
}

#[test]
fn the_published_json_schema_is_up_to_date() {
    let generated = serde_json::to_string_pretty(&Model::json_schema()).expect("serializes") + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_PATH, &generated).expect("writes the schema");
    }
    let published = std::fs::read_to_string(SCHEMA_PATH).unwrap_or_default();
    // Compared as JSON values: key order may differ with serde_json's `preserve_order`.
    let published: serde_json::Value = serde_json::from_str(&published).unwrap_or_default();
    assert!(
        published == Model::json_schema(),
        "scoring/data/model.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p ember-scoring --test it default_model::`"
    );
}

#[test]
fn the_schema_describes_rules_and_conditions() {
    let schema = Model::json_schema().to_string();
    for word in [
        "engagement",
        "half_life_days",
        "email_domain_in",
        "contains_any",
        "min_interval_hours",
        "RuleId",
    ] {
        assert!(schema.contains(word), "{word} missing from the schema");
    }
}

#[test]
fn exported_contact_lines_read_properties_and_events() {
    let line = r#"{"id": 17, "properties": {"email": "a@b.com", "numberofemployees": 250, "phone": null},
        "events": [{"type": "external", "event_type": "pricing_page_view", "occurred_at": "2026-01-01T00:00:00Z"},
                   {"type": "workflow", "workflow_id": 5, "occurred_at": "2026-01-02T00:00:00Z"}]}"#;
    let contact = ExportedContact::from_json_line(line).expect("reads");
    assert_eq!(contact.id.map(|id| id.0), Some("17".to_owned()));
    assert_eq!(contact.properties.get("numberofemployees"), Some("250"));
    assert_eq!(contact.properties.get("phone"), None);
    assert_eq!(contact.events.len(), 2);

    let bad = ExportedContact::from_json_line(r#"{"properties": {}, "events": [{"type": "external", "event_type": "x", "occurred_at": "yesterday"}]}"#)
        .expect_err("bad time");
    assert!(bad.errors[0].path.starts_with("events[0]"), "{bad}");
}

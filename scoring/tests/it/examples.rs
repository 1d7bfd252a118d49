//! The blueprint's worked examples, and the behaviour around them: fit points, engagement with
//! decay, negatives for freemail, students and competitors, caps, grades, matrix, explanation,
//! signal matching and the values written to HubSpot.

use chrono::{DateTime, Duration, Utc};
use ember_scoring::{
    Axis, CompiledModel, EngagementSignal, Ledger, LedgerEntry, Model, RuleId, SignalKind,
    Snapshot, next_change_at, score,
};

const MODEL: &str = r#"
version: 3
decay: { kind: exponential, half_life_days: 30 }
lists:
  competitors: [rival.io]
  freemail: { add: [corp-mail.example], remove: [gmx.net] }
fit:
  - { id: employees_over_100, label: More than 100 employees, points: 25,
      when: { gt: { property: numberofemployees, value: 100 } } }
  - { id: industry_saas, label: SaaS industry, points: 20,
      when: { equals: { property: industry, value: SaaS } } }
  - { id: freemail, label: Free e-mail address, points: -10,
      when: { email_domain_in: { list: freemail } } }
  - { id: student, label: Student, points: -15,
      when: { any: [ { email_domain_in: { list: academic_domains } },
                     { contains_any: { property: jobtitle, list: student_titles } } ] } }
  - { id: competitor, label: Competitor, points: -50,
      when: { email_domain_in: { list: competitors } } }
engagement:
  - { id: pricing_page, label: Pricing page visit, points: 20,
      on: { external: { event_type: pricing_page_view } } }
  - { id: blog_post, label: Blog post, points: 3,
      on: { external: { event_type: blog_post_view } } }
  - { id: webinar, label: Webinar, points: 10, cap: 3,
      on: { workflow: { workflow_id: 42, event: attended } } }
  - { id: login, label: Product login, points: 2, min_interval_hours: 24,
      on: { external: { event_type: product_login } } }
  - { id: demo, label: Demo request, points: 30, decay: { kind: none },
      on: { property_change: { property: recent_conversion_event_name, value: Demo request } } }
grades: [ { label: A, min: 80 }, { label: B, min: 40 }, { label: C } ]
matrix:
  fit: [ { label: A, min: 40 }, { label: B, min: 10 }, { label: C } ]
  engagement: [ { label: "1", min: 40 }, { label: "2", min: 10 }, { label: "3" } ]
output: { total: ember_score, fit: ember_fit, engagement: ember_engagement, grade: ember_grade,
          matrix: ember_matrix, reasons: ember_reasons }
"#;

fn model() -> CompiledModel {
    Model::from_yaml_str(MODEL)
        .expect("parses")
        .validate()
        .expect("valid")
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 time")
}

fn entry(rule: &str, when: DateTime<Utc>) -> LedgerEntry {
    LedgerEntry {
        rule: RuleId::parse(rule).expect("rule id"),
        occurred_at: when,
    }
}

fn snapshot(pairs: &[(&str, &str)]) -> Snapshot {
    pairs.iter().copied().collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn more_than_100_employees_gives_25_and_the_saas_industry_20() {
    let m = model();
    let now = at("2026-01-01T00:00:00Z");
    let big = snapshot(&[("numberofemployees", "150"), ("email", "a@acme.com")]);
    let exactly_100 = snapshot(&[("numberofemployees", "100")]);
    let saas = snapshot(&[("numberofemployees", "250"), ("industry", "saas")]);

    assert_eq!(score(&m, &big, &Ledger::new(), now).fit, 25.0);
    assert_eq!(score(&m, &exactly_100, &Ledger::new(), now).fit, 0.0);
    let s = score(&m, &saas, &Ledger::new(), now);
    assert_eq!(s.fit, 45.0);
    assert_eq!(s.rounded_total(), 45);
}

#[test]
fn a_pricing_page_visit_gives_20_and_a_blog_post_3() {
    let m = model();
    let now = at("2026-01-01T12:00:00Z");
    let ledger: Ledger = [entry("pricing_page", now), entry("blog_post", now)]
        .into_iter()
        .collect();

    let s = score(&m, &Snapshot::new(), &ledger, now);

    assert_eq!(s.engagement, 23.0);
    assert_eq!(s.total, 23.0);
}

#[test]
fn decay_halves_engagement_after_one_half_life() {
    let m = model();
    let visit = at("2026-01-01T00:00:00Z");
    let ledger: Ledger = [entry("pricing_page", visit)].into_iter().collect();

    let fresh = score(&m, &Snapshot::new(), &ledger, visit);
    let one_half_life = score(&m, &Snapshot::new(), &ledger, visit + Duration::days(30));
    let two_half_lives = score(&m, &Snapshot::new(), &ledger, visit + Duration::days(60));

    assert_eq!(fresh.engagement, 20.0);
    assert!(
        close(one_half_life.engagement, 10.0),
        "{}",
        one_half_life.engagement
    );
    assert!(
        close(two_half_lives.engagement, 5.0),
        "{}",
        two_half_lives.engagement
    );
}

#[test]
fn a_rule_without_decay_keeps_its_points() {
    let m = model();
    let t = at("2025-01-01T00:00:00Z");
    let ledger: Ledger = [entry("demo", t)].into_iter().collect();
    assert_eq!(
        score(&m, &Snapshot::new(), &ledger, t + Duration::days(400)).engagement,
        30.0
    );
}

#[test]
fn freemail_students_and_competitors_get_negative_points() {
    let m = model();
    let now = at("2026-01-01T00:00:00Z");
    let cases = [
        (snapshot(&[("email", "jane@GMail.com")]), -10.0),
        (snapshot(&[("email", "jane@corp-mail.example")]), -10.0), // added per portal
        (snapshot(&[("email", "jane@gmx.net")]), 0.0),             // removed per portal
        (snapshot(&[("email", "jane@cs.stanford.edu")]), -15.0),
        (snapshot(&[("email", "jane@ox.ac.uk")]), -15.0),
        (
            snapshot(&[("email", "jane@acme.com"), ("jobtitle", "Marketing Intern")]),
            -15.0,
        ),
        (
            snapshot(&[
                ("email", "jane@acme.com"),
                ("jobtitle", "Director, International Sales"),
            ]),
            0.0,
        ),
        (snapshot(&[("email", "spy@eu.rival.io")]), -50.0),
        (snapshot(&[("email", "jane@acme.com")]), 0.0),
    ];
    for (snap, want) in cases {
        assert_eq!(score(&m, &snap, &Ledger::new(), now).fit, want, "{snap:?}");
    }
}

#[test]
fn the_total_combines_fit_and_decayed_engagement() {
    let m = model();
    let visit = at("2026-01-01T00:00:00Z");
    let snap = snapshot(&[
        ("numberofemployees", "500"),
        ("industry", "SaaS"),
        ("email", "cto@acme.com"),
    ]);
    let ledger: Ledger = [entry("pricing_page", visit), entry("blog_post", visit)]
        .into_iter()
        .collect();

    let s = score(&m, &snap, &ledger, visit + Duration::days(30));

    assert!(close(s.total, 45.0 + 11.5), "{}", s.total);
    assert_eq!(s.rounded_total(), 57); // 56.5 rounds half up
    assert_eq!(s.grade.as_deref(), Some("B"));
    assert_eq!(s.cell.as_deref(), Some("A2"));
}

#[test]
fn the_explanation_lists_each_rule_with_raw_and_decayed_points() {
    let m = model();
    let t0 = at("2026-01-01T00:00:00Z");
    let snap = snapshot(&[("numberofemployees", "500"), ("email", "x@gmail.com")]);
    let ledger: Ledger = [
        entry("pricing_page", t0),
        entry("pricing_page", t0 + Duration::days(30)),
    ]
    .into_iter()
    .collect();

    let s = score(&m, &snap, &ledger, t0 + Duration::days(60));
    let explained = s.explain(&m);

    let ids: Vec<&str> = explained.iter().map(|e| e.rule.as_str()).collect();
    assert_eq!(ids, ["employees_over_100", "freemail", "pricing_page"]);
    let pricing = &explained[2];
    assert_eq!(
        (pricing.axis, pricing.count, pricing.raw),
        (Axis::Engagement, 2, 40.0)
    );
    assert!(close(pricing.points, 5.0 + 10.0), "{}", pricing.points);
    assert_eq!(explained[1].points, -10.0);
}

#[test]
fn the_webinar_cap_counts_only_the_three_most_recent_attendances() {
    let m = model();
    let t0 = at("2026-01-01T00:00:00Z");
    let ledger: Ledger = (0..5)
        .map(|d| entry("webinar", t0 + Duration::days(d)))
        .collect();
    let m_no_decay = {
        let mut doc = m.model().clone();
        doc.decay = ember_scoring::Decay::None;
        doc.validate().expect("valid")
    };

    let s = score(
        &m_no_decay,
        &Snapshot::new(),
        &ledger,
        t0 + Duration::days(5),
    );

    assert_eq!(s.engagement, 30.0);
    assert_eq!(s.contributions[0].count, 3);
    // With decay, the three counted are the most recent: days 2, 3 and 4.
    let decayed = score(&m, &Snapshot::new(), &ledger, t0 + Duration::days(4)).engagement;
    let want: f64 = [2.0f64, 1.0, 0.0]
        .iter()
        .map(|age| 10.0 * (-age / 30.0).exp2())
        .sum();
    assert!(close(decayed, want), "{decayed} vs {want}");
}

#[test]
fn repeats_within_the_minimum_interval_do_not_count() {
    let m = model();
    let t0 = at("2026-01-01T08:00:00Z");
    let ledger: Ledger = [0, 1, 5, 23, 24, 50]
        .into_iter()
        .map(|h| entry("login", t0 + Duration::hours(h)))
        .collect();

    let s = score(&m, &Snapshot::new(), &ledger, t0 + Duration::hours(50));

    // Counted: 0 h, 24 h, 50 h.
    assert_eq!(s.contributions[0].count, 3);
}

#[test]
fn signals_match_their_rules_and_become_ledger_entries() {
    let m = model();
    let t = at("2026-02-01T10:00:00Z");
    let signal = |kind| EngagementSignal {
        kind,
        occurred_at: t,
    };
    let ids = |s: &EngagementSignal| {
        m.matching_rules(s)
            .map(|r| r.as_str().to_owned())
            .collect::<Vec<_>>()
    };

    assert_eq!(
        ids(&signal(SignalKind::External {
            event_type: "Pricing_Page_View".into()
        })),
        ["pricing_page"]
    );
    assert_eq!(
        ids(&signal(SignalKind::Workflow {
            workflow_id: 42,
            event: Some("attended".into())
        })),
        ["webinar"]
    );
    assert!(
        ids(&signal(SignalKind::Workflow {
            workflow_id: 42,
            event: None
        }))
        .is_empty()
    );
    assert!(
        ids(&signal(SignalKind::Workflow {
            workflow_id: 7,
            event: Some("attended".into())
        }))
        .is_empty()
    );
    let demo = signal(SignalKind::PropertyChange {
        property: "recent_conversion_event_name".into(),
        value: "demo request".into(),
    });
    assert_eq!(m.ledger_entries(&demo), [entry("demo", t)]);
    let other_form = signal(SignalKind::PropertyChange {
        property: "recent_conversion_event_name".into(),
        value: "Newsletter".into(),
    });
    assert!(m.ledger_entries(&other_form).is_empty());
}

#[test]
fn hubspot_values_follow_the_output_mapping() {
    let m = model();
    let t0 = at("2026-01-01T00:00:00Z");
    let snap = snapshot(&[
        ("numberofemployees", "500"),
        ("industry", "SaaS"),
        ("email", "x@gmail.com"),
    ]);
    let ledger: Ledger = [entry("pricing_page", t0), entry("demo", t0)]
        .into_iter()
        .collect();

    let values = score(&m, &snap, &ledger, t0).hubspot_values(&m);

    assert_eq!(values["ember_score"], "85");
    assert_eq!(values["ember_fit"], "35");
    assert_eq!(values["ember_engagement"], "50");
    assert_eq!(values["ember_grade"], "A");
    assert_eq!(values["ember_matrix"], "B1");
    assert_eq!(
        values["ember_reasons"],
        "Demo request +30; More than 100 employees +25; SaaS industry +20"
    );
    assert_eq!(values.len(), 6);
}

#[test]
fn ledger_entries_of_unknown_rules_are_ignored() {
    let m = model();
    let t = at("2026-01-01T00:00:00Z");
    let ledger: Ledger = [
        entry("retired_rule", t),
        entry("pricing_page", t),
        entry("zzz", t),
    ]
    .into_iter()
    .collect();
    assert_eq!(score(&m, &Snapshot::new(), &ledger, t).engagement, 20.0);
}

#[test]
fn next_change_is_when_half_a_point_has_decayed() {
    let m = model();
    let t0 = at("2026-01-01T00:00:00Z");
    let ledger: Ledger = [entry("pricing_page", t0)].into_iter().collect();
    let snap = Snapshot::new();

    let next = next_change_at(&m, &snap, &ledger, t0).expect("decays");

    // 20 · 2^(−Δ/30d) < 19.5  ⇔  Δ > 30d · log2(20/19.5)
    let exact_days = 30.0 * (20.0f64 / 19.5).log2();
    let expected = t0 + Duration::milliseconds((exact_days * 86_400_000.0).ceil() as i64);
    assert!(
        (next - expected).num_milliseconds().abs() <= 1,
        "{next} vs {expected}"
    );
    assert_eq!(score(&m, &snap, &ledger, next).rounded_total(), 19);
    assert_eq!(
        score(&m, &snap, &ledger, next - Duration::milliseconds(1)).rounded_total(),
        20
    );
}

#[test]
fn nothing_is_scheduled_without_decaying_points() {
    let m = model();
    let t = at("2026-01-01T00:00:00Z");
    let demo_only: Ledger = [entry("demo", t)].into_iter().collect();
    assert_eq!(
        next_change_at(&m, &Snapshot::new(), &Ledger::new(), t),
        None
    );
    assert_eq!(next_change_at(&m, &Snapshot::new(), &demo_only, t), None);
    // A visit decayed to under half a point long ago never changes the rounded total again.
    let old: Ledger = [entry("pricing_page", t - Duration::days(3650))]
        .into_iter()
        .collect();
    assert_eq!(next_change_at(&m, &Snapshot::new(), &old, t), None);
}

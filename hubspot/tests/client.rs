//! The HubSpot client against `hubspot-sim` over real HTTP on loopback: OAuth 2026-03 (authorize,
//! exchange, introspect, refresh, refresh-token revoke, self-uninstall), CRM batch read/update with
//! per-row outcomes, properties provisioning, rate-limit telemetry and the call gate, and
//! error classification.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ember_hubspot::crm::{RowResult, UpdateRow, property_inputs};
use ember_hubspot::wire::properties::{PropertyCreate, PropertyGroupCreate};
use ember_hubspot::{
    AuthorizeRequest, CallGate, GateError, GateFuture, HubSpot, HubSpotConfig, RateLimitTelemetry,
};
use hubspot_sim::{Faults, PortalSpec, SimConfig, SimHandle, SimServer};
use secrecy::{ExposeSecret, SecretString};

const REDIRECT: &str = "http://localhost:8080/oauth/callback";

async fn sim() -> SimHandle {
    let _ = rustls::crypto::ring::default_provider().install_default();
    SimServer::start(SimConfig {
        clock_speed: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("sim starts")
}

fn client(sim: &SimHandle) -> HubSpot {
    let app = sim.app();
    HubSpot::new(HubSpotConfig {
        api_base_url: sim.base_url().parse().unwrap(),
        auth_base_url: sim.base_url().parse().unwrap(),
        client_id: app.client_id,
        client_secret: Some(SecretString::from(app.client_secret)),
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Follows the authorize URL as a browser would and returns the `code` HubSpot redirects with.
async fn authorize(hs: &HubSpot, state: &str) -> String {
    let scopes: Vec<String> = [
        "oauth",
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.schemas.contacts.write",
    ]
    .map(String::from)
    .to_vec();
    let url = hs.authorize_url(&AuthorizeRequest {
        redirect_uri: REDIRECT,
        scopes: &scopes,
        optional_scopes: &[],
        state,
        portal: None,
    });
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(url).send().await.unwrap();
    assert_eq!(answer.status(), 302);
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(pairs.get("state").map(String::as_str), Some(state));
    pairs["code"].clone()
}

#[tokio::test]
async fn the_oauth_lifecycle_works_against_the_simulator() {
    let sim = sim().await;
    let portal = sim.control().create_portal(PortalSpec::default());
    let hs = client(&sim);

    let code = authorize(&hs, "s1").await;
    let tokens = hs
        .exchange_code(&secret(&code), REDIRECT)
        .await
        .expect("exchange");
    assert_eq!(tokens.hub_id, Some(portal.id));
    assert_eq!(tokens.expires_in, Duration::from_secs(1800));
    let refresh = tokens.refresh_token.clone().expect("refresh token");

    // The code is single use.
    let again = hs
        .exchange_code(&secret(&code), REDIRECT)
        .await
        .unwrap_err();
    assert!(again.is_invalid_grant(), "{again}");
    assert!(!again.is_transient());

    let info = hs
        .introspect_access_token(&tokens.access_token)
        .await
        .expect("introspect")
        .expect("an active token");
    assert_eq!(info.hub_id, portal.id);
    assert_eq!(info.token_use, "access_token");
    assert!(
        info.scopes
            .iter()
            .any(|s| s == "crm.objects.contacts.write")
    );

    let refreshed = hs.refresh(&refresh).await.expect("refresh");
    assert_ne!(
        refreshed.access_token.expose_secret(),
        tokens.access_token.expose_secret()
    );

    // Revoking the refresh token does not uninstall, but refreshing then fails with
    // invalid_grant; revoking it again is not an error (RFC 7009).
    hs.revoke_refresh_token(&refresh).await.expect("revoke");
    hs.revoke_refresh_token(&refresh)
        .await
        .expect("revoke again");
    let dead = hs.refresh(&refresh).await.unwrap_err();
    assert!(dead.is_invalid_grant(), "{dead}");
    assert!(sim.control().portal(portal.id).unwrap().installed);

    // Self-uninstall with the access token: the app is gone and tokens stop working.
    hs.uninstall_app(portal.id as i64, &refreshed.access_token)
        .await
        .expect("uninstall");
    assert!(!sim.control().portal(portal.id).unwrap().installed);
    assert_eq!(
        hs.introspect_access_token(&refreshed.access_token)
            .await
            .expect("introspect"),
        None
    );
    let after = hs
        .account_details(portal.id as i64, &refreshed.access_token)
        .await
        .unwrap_err();
    assert!(after.is_unauthorized(), "{after}");
    assert_eq!(sim.control().legacy_calls(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_never_contain_tokens() {
    let sim = sim().await;
    let hs = client(&sim);
    let token = secret("CN-very-secret-token-value");
    assert_eq!(hs.introspect_access_token(&token).await.unwrap(), None);
    let mut wrong_secret = sim.app();
    wrong_secret.client_secret = "not-the-secret".into();
    let impostor = HubSpot::new(HubSpotConfig {
        client_secret: Some(SecretString::from(wrong_secret.client_secret)),
        ..hs.config().clone()
    })
    .unwrap();
    let e = impostor.introspect_access_token(&token).await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    let e2 = hs.account_details(1, &token).await.unwrap_err();
    assert!(e2.is_unauthorized());
    let e3 = hs.refresh(&token).await.unwrap_err();
    for text in [
        format!("{e} {e:?}"),
        format!("{e2} {e2:?}"),
        format!("{e3} {e3:?}"),
    ] {
        assert!(!text.contains("very-secret"), "{text}");
    }
    sim.shutdown().await;
}

/// Counts permits and keeps the last telemetry.
#[derive(Default)]
struct CountingGate {
    acquired: AtomicU32,
    last: std::sync::Mutex<Option<RateLimitTelemetry>>,
    refuse: bool,
}

impl CallGate for CountingGate {
    fn acquire(&self, _portal: i64) -> GateFuture<'_> {
        Box::pin(async move {
            self.acquired.fetch_add(1, Ordering::SeqCst);
            if self.refuse {
                Err(GateError::new("no permit", Some(Duration::from_secs(1))))
            } else {
                Ok(())
            }
        })
    }
    fn observe(&self, _portal: i64, telemetry: &RateLimitTelemetry) {
        *self.last.lock().unwrap() = Some(telemetry.clone());
    }
}

#[tokio::test]
async fn batch_calls_report_per_row_outcomes_and_rate_limit_telemetry_through_the_gate() {
    let sim = sim().await;
    let portal = sim.control().create_portal(PortalSpec {
        contacts: 3,
        ..PortalSpec::default()
    });
    let tokens = sim.control().install(portal.id).unwrap();
    let token = secret(&tokens.access_token);
    let gate = Arc::new(CountingGate::default());
    let hs = client(&sim).with_gate(gate.clone());
    let pid = portal.id as i64;
    let ids: Vec<String> = sim
        .control()
        .contact_ids(portal.id)
        .iter()
        .map(u64::to_string)
        .collect();

    let mut wanted = ids.clone();
    wanted.push("999999999".into());
    let read = hs
        .batch_read_contacts(pid, &token, &wanted, &["email".into()])
        .await
        .expect("read");
    assert_eq!(read.value.records.len(), 3);
    assert_eq!(read.value.not_found, vec!["999999999".to_string()]);
    assert_eq!(read.rate_limit.max, Some(110));
    assert!(read.rate_limit.remaining.is_some());

    let group = PropertyGroupCreate {
        name: "ember".into(),
        label: "Ember lead scoring".into(),
        display_order: None,
    };
    let score = PropertyCreate {
        name: "ember_score".into(),
        label: "Ember score".into(),
        type_: "number".into(),
        field_type: "number".into(),
        group_name: "ember".into(),
        description: None,
        options: None,
        display_order: None,
        has_unique_value: None,
        hidden: None,
        form_field: None,
        calculation_formula: None,
        data_sensitivity: None,
        external_options: None,
        referenced_object_type: None,
        number_display_hint: None,
        text_display_hint: None,
        show_currency_symbol: None,
        currency_property_name: None,
    };
    let first = hs
        .ensure_properties(
            pid,
            &token,
            "contacts",
            &group,
            std::slice::from_ref(&score),
        )
        .await
        .expect("provision");
    assert!(first.group_created);
    assert_eq!(first.created, vec!["ember_score".to_string()]);
    let second = hs
        .ensure_properties(
            pid,
            &token,
            "contacts",
            &group,
            std::slice::from_ref(&score),
        )
        .await
        .expect("again");
    assert!(!second.group_created);
    assert_eq!(second.existing, vec!["ember_score".to_string()]);
    let as_text = PropertyCreate {
        type_: "string".into(),
        field_type: "text".into(),
        ..score.clone()
    };
    let conflict = hs
        .ensure_properties(pid, &token, "contacts", &group, &[as_text])
        .await
        .expect("conflict run");
    assert_eq!(conflict.conflicts.len(), 1);
    assert_eq!(conflict.conflicts[0].found, "number/number");

    let mut rows: Vec<UpdateRow> = ids
        .iter()
        .map(|id| UpdateRow {
            id: id.clone(),
            properties: property_inputs([("ember_score", "42")]),
        })
        .collect();
    rows.push(UpdateRow {
        id: "999999999".into(),
        properties: property_inputs([("ember_score", "1")]),
    });
    let update = hs
        .batch_update_contacts(pid, &token, &rows)
        .await
        .expect("update");
    for row in &update.value.rows[..3] {
        assert_eq!(row.result, RowResult::Updated, "{row:?}");
    }
    assert!(
        matches!(&update.value.rows[3].result, RowResult::Failed { category, .. } if category == "OBJECT_NOT_FOUND")
    );
    let contact = sim
        .control()
        .contact(portal.id, ids[0].parse().unwrap())
        .unwrap();
    assert_eq!(
        contact.properties.get("ember_score").map(String::as_str),
        Some("42")
    );

    let one = hs
        .get_contact(pid, &token, &ids[0], &["ember_score".into()])
        .await
        .expect("get");
    assert_eq!(
        one.value.unwrap().properties["ember_score"].as_deref(),
        Some("42")
    );
    assert!(
        hs.get_contact(pid, &token, "999999999", &[])
            .await
            .unwrap()
            .value
            .is_none()
    );

    let too_many: Vec<UpdateRow> = (0..101)
        .map(|i| UpdateRow {
            id: i.to_string(),
            properties: property_inputs([("ember_score", "1")]),
        })
        .collect();
    assert!(
        hs.batch_update_contacts(pid, &token, &too_many)
            .await
            .is_err()
    );

    let calls = gate.acquired.load(Ordering::SeqCst);
    assert!(calls >= 10, "{calls}");
    assert_eq!(gate.last.lock().unwrap().as_ref().unwrap().max, Some(110));
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_transient_and_a_refused_gate_sends_nothing() {
    let sim = sim().await;
    let portal = sim.control().create_portal(PortalSpec::default());
    let token = secret(&sim.control().install(portal.id).unwrap().access_token);
    let pid = portal.id as i64;
    let hs = client(&sim);

    sim.control().set_faults(
        Some(portal.id),
        Faults {
            burst_429: 1,
            ..Faults::default()
        },
    );
    let limited = hs.account_details(pid, &token).await.unwrap_err();
    assert!(limited.is_transient());
    assert_eq!(limited.status(), Some(429));
    let ember_hubspot::Error::Api(a) = &limited else {
        panic!("{limited:?}")
    };
    assert_eq!(a.policy.as_deref(), Some("TEN_SECONDLY_ROLLING"));

    sim.control().set_faults(
        Some(portal.id),
        Faults {
            error_next: 1,
            error_status: 503,
            ..Faults::default()
        },
    );
    let unavailable = hs.account_details(pid, &token).await.unwrap_err();
    assert!(unavailable.is_transient(), "{unavailable}");

    // HubSpot's edge answers an HTML page, not JSON: transient, never a bad value.
    sim.control().set_faults(
        Some(portal.id),
        Faults {
            error_next: 1,
            error_status: 502,
            error_html: true,
            ..Faults::default()
        },
    );
    let edge = hs.account_details(pid, &token).await.unwrap_err();
    assert!(edge.is_transient(), "{edge}");
    assert_eq!(edge.status(), Some(502));
    let ember_hubspot::Error::Api(a) = &edge else {
        panic!("{edge:?}")
    };
    assert!(a.not_json, "{a:?}");
    assert!(
        a.message.starts_with("a non-JSON answer (text/html"),
        "{}",
        a.message
    );
    assert!(
        !a.message.contains("<html"),
        "the page is summarised, not kept"
    );

    sim.control().set_faults(
        Some(portal.id),
        Faults {
            reset_next: 1,
            ..Faults::default()
        },
    );
    let reset = hs.account_details(pid, &token).await.unwrap_err();
    assert!(
        matches!(reset, ember_hubspot::Error::Transport { .. }),
        "{reset:?}"
    );
    assert!(reset.is_transient());

    sim.control().clear_faults();
    let before = sim.control().call_count();
    let refusing = hs.with_gate(Arc::new(CountingGate {
        refuse: true,
        ..CountingGate::default()
    }));
    let refused = refusing.account_details(pid, &token).await.unwrap_err();
    assert!(matches!(refused, ember_hubspot::Error::Gate(_)));
    assert!(refused.is_transient());
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(sim.control().call_count(), before);
    sim.shutdown().await;
}

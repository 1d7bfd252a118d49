//! The OAuth install flow as Ember drives it.

use std::time::Duration;

use ember_hubspot::wire::oauth::AccessTokenResponse;

use crate::helpers::{TestSim, json, start};

fn authorize_url(t: &TestSim, scope: &str, state: &str) -> String {
    let app = t.sim.app();
    let mut u = url::Url::parse(&t.url("/oauth/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", &app.redirect_uris[0])
        .append_pair("scope", scope)
        .append_pair("state", state);
    u.to_string()
}

fn query(location: &str) -> Vec<(String, String)> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn exchange(t: &TestSim, code: &str) -> reqwest::Response {
    let app = t.sim.app();
    t.http
        .post(t.url("/oauth/v1/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &app.redirect_uris[0]),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn consent_redirects_with_a_code_and_the_state_and_the_code_installs_the_app() {
    let t = start().await;
    let p = t.sim.control().create_portal(Default::default());
    let r = t
        .http
        .get(authorize_url(
            &t,
            "oauth crm.objects.contacts.read crm.objects.contacts.write",
            "xyz",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let q = query(r.headers()["location"].to_str().unwrap());
    assert!(q.iter().any(|(k, v)| k == "state" && v == "xyz"));
    let code = q.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    assert!(!t.sim.control().portal(p.id).unwrap().installed);
    let tok: AccessTokenResponse = json(exchange(&t, &code).await).await.pipe_parse();
    assert!(t.sim.control().portal(p.id).unwrap().installed);
    let r = t
        .get(&tok.access_token, "/crm/v3/objects/contacts?limit=1")
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn denied_consent_redirects_with_access_denied_and_the_state() {
    let t = start().await;
    t.sim.control().create_portal(Default::default());
    t.sim.control().set_authorize(true, None);
    let r = t
        .http
        .get(authorize_url(&t, "oauth crm.objects.contacts.read", "abc"))
        .send()
        .await
        .unwrap();
    let q = query(r.headers()["location"].to_str().unwrap());
    assert!(q.contains(&("error".into(), "access_denied".into())));
    assert!(q.contains(&("state".into(), "abc".into())));
    assert!(!q.iter().any(|(k, _)| k == "code"));
}

#[tokio::test]
async fn a_missing_required_scope_or_unknown_redirect_shows_an_error_page() {
    let t = start().await;
    t.sim.control().create_portal(Default::default());
    let r = t
        .http
        .get(authorize_url(&t, "oauth", "s"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let app = t.sim.app();
    let r = t
        .http
        .get(t.url("/oauth/authorize"))
        .query(&[
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", "http://evil.example/cb"),
            ("scope", "oauth crm.objects.contacts.read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn access_tokens_expire_after_1800_simulated_seconds_and_refresh_keeps_the_refresh_token() {
    let t = start().await;
    let (_p, tok) = t.installed_portal(1);
    t.sim.control().advance(Duration::from_secs(1799));
    assert_eq!(
        t.get(&tok.access_token, "/account-info/v3/details")
            .await
            .status(),
        200
    );
    t.sim.control().advance(Duration::from_secs(1));
    assert_eq!(
        t.get(&tok.access_token, "/account-info/v3/details")
            .await
            .status(),
        401
    );
    let app = t.sim.app();
    let fresh: AccessTokenResponse = json(
        t.http
            .post(t.url("/oauth/v1/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &tok.refresh_token),
                ("client_id", &app.client_id),
                ("client_secret", &app.client_secret),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
    .pipe_parse();
    assert_eq!(fresh.refresh_token, tok.refresh_token);
    assert_eq!(
        t.get(&fresh.access_token, "/account-info/v3/details")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn deleting_the_refresh_token_keeps_access_tokens_but_uninstall_kills_both() {
    let t = start().await;
    let (p, tok) = t.installed_portal(1);
    let r = t
        .http
        .delete(t.url(&format!("/oauth/v1/refresh-tokens/{}", tok.refresh_token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        t.get(&tok.access_token, "/account-info/v3/details")
            .await
            .status(),
        200
    );
    let tok2 = t.sim.control().install(p.id).unwrap();
    let r = t
        .http
        .delete(t.url("/appinstalls/v3/external-install"))
        .bearer_auth(&tok2.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        t.get(&tok2.access_token, "/account-info/v3/details")
            .await
            .status(),
        401
    );
    let app = t.sim.app();
    let r = t
        .http
        .post(t.url("/oauth/v1/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tok2.refresh_token),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["status"], "BAD_REFRESH_TOKEN");
    assert!(!t.sim.control().portal(p.id).unwrap().installed);
}

trait ParseJson {
    fn pipe_parse<T: serde::de::DeserializeOwned>(self) -> T;
}
impl ParseJson for serde_json::Value {
    fn pipe_parse<T: serde::de::DeserializeOwned>(self) -> T {
        serde_json::from_value(self).expect("wire type")
    }
}

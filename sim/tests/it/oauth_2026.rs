//! The 2026-03 OAuth endpoints (docs/hubspot.md D.2–D.6): code exchange, refresh, introspection
//! and revocation with every parameter in the form body; the refusals with RFC 6749's `error`
//! beside HubSpot's `status`; and the legacy paths, counted and, when asked, refused as HubSpot
//! refuses a project app (docs/hubspot.md D.7).

use ember_hubspot::wire::oauth::{
    AccessTokenIntrospection, AccessTokenResponse, OAuthError, RefreshTokenIntrospection,
};
use serde::de::DeserializeOwned;

use crate::helpers::{TestSim, json, start, start_with};

const TOKEN: &str = "/oauth/2026-03/token";
const INTROSPECT: &str = "/oauth/2026-03/token/introspect";
const REVOKE: &str = "/oauth/2026-03/token/revoke";

fn parse<T: DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// Walks the authorize page for a new portal and returns the portal and the code.
async fn code_for_new_portal(t: &TestSim) -> (u64, String) {
    let p = t.sim.control().create_portal(Default::default());
    let app = t.sim.app();
    let mut u = url::Url::parse(&t.url("/oauth/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", &app.redirect_uris[0])
        .append_pair(
            "scope",
            "oauth crm.objects.contacts.read crm.objects.contacts.write",
        )
        .append_pair("state", "s");
    let r = t.http.get(u.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    (p.id, code)
}

/// Posts a form; `extra` overrides or adds fields to the app's credentials.
async fn post_form(t: &TestSim, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let app = t.sim.app();
    let mut form: Vec<(&str, String)> = vec![
        ("client_id", app.client_id.clone()),
        ("client_secret", app.client_secret.clone()),
    ];
    for (k, v) in fields {
        form.retain(|(key, _)| key != k);
        form.push((k, (*v).to_owned()));
    }
    t.http.post(t.url(path)).form(&form).send().await.unwrap()
}

async fn exchange(t: &TestSim, code: &str) -> reqwest::Response {
    let redirect = t.sim.app().redirect_uris[0].clone();
    post_form(
        t,
        TOKEN,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect),
        ],
    )
    .await
}

async fn refresh(t: &TestSim, refresh_token: &str) -> reqwest::Response {
    post_form(
        t,
        TOKEN,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// A 400 refusal with the RFC 6749 code, HubSpot's status and the standard error's fields.
async fn refused(r: reqwest::Response, error: &str, status: &str) -> OAuthError {
    assert_eq!(r.status(), 400);
    let e: OAuthError = parse(json(r).await);
    assert_eq!(
        (e.error.as_deref(), e.status.as_str()),
        (Some(error), status)
    );
    assert!(e.error_description.is_some() && !e.message.is_empty());
    assert!(e.category.is_some() && e.correlation_id.is_some(), "{e:?}");
    e
}

#[tokio::test]
async fn a_code_exchanges_for_tokens_that_refresh_and_introspect() {
    let t = start().await;
    let (portal, code) = code_for_new_portal(&t).await;

    let tokens: AccessTokenResponse = parse(json(exchange(&t, &code).await).await);
    assert_eq!(tokens.hub_id, Some(portal));
    assert_eq!(
        (tokens.expires_in, tokens.token_use.as_str()),
        (1800, "access_token")
    );
    assert!(t.sim.control().portal(portal).unwrap().installed);

    let fresh: AccessTokenResponse = parse(json(refresh(&t, &tokens.refresh_token).await).await);
    assert_ne!(fresh.access_token, tokens.access_token);
    assert_eq!(fresh.refresh_token, tokens.refresh_token);

    let info: AccessTokenIntrospection =
        parse(json(post_form(&t, INTROSPECT, &[("token", &fresh.access_token)]).await).await);
    assert!(info.active);
    assert_eq!(
        (info.hub_id, info.token_use.as_str()),
        (portal, "access_token")
    );
    assert_eq!(info.client_id, t.sim.app().client_id);
    assert!(
        info.scopes
            .iter()
            .any(|s| s == "crm.objects.contacts.write")
    );
    assert!(info.expires_in > 0 && info.expires_in <= 1800);

    let about_refresh: RefreshTokenIntrospection = parse(
        json(
            post_form(
                &t,
                INTROSPECT,
                &[
                    ("token", &tokens.refresh_token),
                    ("token_type_hint", "refresh_token"),
                ],
            )
            .await,
        )
        .await,
    );
    assert_eq!(
        (about_refresh.hub_id, about_refresh.token_use.as_str()),
        (portal, "refresh_token")
    );

    // The dated CRM paths take the token.
    let r = t
        .get(&fresh.access_token, "/crm/objects/2026-09/contacts?limit=1")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(t.sim.control().legacy_calls(), 0);
}

#[tokio::test]
async fn a_revoked_refresh_token_is_invalid_grant_and_inactive_but_the_app_stays_installed() {
    let t = start().await;
    let (portal, code) = code_for_new_portal(&t).await;
    let tokens: AccessTokenResponse = parse(json(exchange(&t, &code).await).await);

    let r = post_form(
        &t,
        REVOKE,
        &[
            ("token", &tokens.refresh_token),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    // Revoking again, or an unknown token, is no error (RFC 7009).
    let again = post_form(&t, REVOKE, &[("token", &tokens.refresh_token)]).await;
    assert_eq!(again.status(), 200);

    refused(
        refresh(&t, &tokens.refresh_token).await,
        "invalid_grant",
        "BAD_REFRESH_TOKEN",
    )
    .await;
    let inactive = json(post_form(&t, INTROSPECT, &[("token", &tokens.refresh_token)]).await).await;
    assert_eq!(inactive, serde_json::json!({"active": false}));
    assert!(t.sim.control().portal(portal).unwrap().installed);
    // The access token still works.
    let r = t
        .get(
            &tokens.access_token,
            "/crm/objects/2026-09/contacts?limit=1",
        )
        .await;
    assert_eq!(r.status(), 200);

    // An access token cannot be revoked at this endpoint.
    let r = post_form(&t, REVOKE, &[("token", &tokens.access_token)]).await;
    refused(r, "unsupported_token_type", "BAD_TOKEN_TYPE").await;
}

#[tokio::test]
async fn bad_token_requests_are_refused_with_rfc_and_hubspot_codes() {
    let t = start().await;
    let (_, code) = code_for_new_portal(&t).await;
    let redirect = t.sim.app().redirect_uris[0].clone();

    // No grant_type.
    let r = post_form(&t, TOKEN, &[("code", &code), ("redirect_uri", &redirect)]).await;
    refused(r, "invalid_request", "BAD_GRANT_TYPE").await;
    // An unknown grant_type.
    let r = post_form(&t, TOKEN, &[("grant_type", "password")]).await;
    refused(r, "unsupported_grant_type", "BAD_GRANT_TYPE").await;
    // An unknown client, and the right client with a wrong secret.
    let r = post_form(
        &t,
        TOKEN,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "nobody"),
        ],
    )
    .await;
    refused(r, "invalid_client", "BAD_CLIENT_ID").await;
    let r = post_form(
        &t,
        TOKEN,
        &[
            ("grant_type", "authorization_code"),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    refused(r, "invalid_client", "BAD_CLIENT_SECRET").await;
    // A code that was never issued, then a wrong redirect_uri (the code is used up by then).
    refused(
        exchange(&t, "not-a-code").await,
        "invalid_grant",
        "BAD_AUTH_CODE",
    )
    .await;
    let r = post_form(
        &t,
        TOKEN,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://elsewhere.example/cb"),
        ],
    )
    .await;
    refused(r, "invalid_grant", "BAD_REDIRECT_URI").await;
    refused(exchange(&t, &code).await, "invalid_grant", "BAD_AUTH_CODE").await;
    // A refresh token that was never issued.
    refused(
        refresh(&t, "no-such-token").await,
        "invalid_grant",
        "BAD_REFRESH_TOKEN",
    )
    .await;

    // Introspect and revoke check the app's credentials and need a token.
    let r = post_form(
        &t,
        INTROSPECT,
        &[("client_secret", "wrong"), ("token", "x")],
    )
    .await;
    refused(r, "invalid_client", "BAD_CLIENT_SECRET").await;
    let r = post_form(&t, REVOKE, &[("client_id", "nobody"), ("token", "x")]).await;
    refused(r, "invalid_client", "BAD_CLIENT_ID").await;
    refused(
        post_form(&t, INTROSPECT, &[]).await,
        "invalid_request",
        "BAD_TOKEN",
    )
    .await;
    refused(
        post_form(&t, REVOKE, &[]).await,
        "invalid_request",
        "BAD_TOKEN",
    )
    .await;
    let r = post_form(&t, INTROSPECT, &[("token", "never-issued")]).await;
    assert_eq!(json(r).await, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn the_2026_03_token_endpoint_reads_the_form_body_only() {
    let t = start().await;
    let (_, code) = code_for_new_portal(&t).await;
    let app = t.sim.app();
    // The secret in the query string, as v1 allowed: refused on 2026-03.
    let r = t
        .http
        .post(t.url(&format!("{TOKEN}?client_secret={}", app.client_secret)))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", app.redirect_uris[0].as_str()),
            ("client_id", app.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    refused(r, "invalid_client", "BAD_CLIENT_SECRET").await;
}

#[tokio::test]
async fn legacy_paths_are_counted_and_refused_with_a_json_404_when_asked() {
    let t = start().await;
    let (_, tokens) = t.installed_portal(1);

    // Served by default, and counted.
    let r = t
        .get(&tokens.access_token, "/crm/v3/objects/contacts?limit=1")
        .await;
    assert_eq!(r.status(), 200);
    let r = t
        .get(&tokens.access_token, "/account-info/v3/details")
        .await;
    assert_eq!(r.status(), 200);
    // The dated paths are not counted.
    let r = t
        .get(
            &tokens.access_token,
            "/crm/objects/2026-09/contacts?limit=1",
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(t.sim.control().legacy_calls(), 2);
    let state = json(t.http.get(t.url("/_sim/legacy")).send().await.unwrap()).await;
    assert_eq!(state, serde_json::json!({"calls": 2, "refuse": false}));

    // Refused over the control API: 404 with HubSpot's error body, still counted.
    let r = t
        .http
        .put(t.url("/_sim/legacy"))
        .json(&serde_json::json!({"refuse": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.sim.control().refuses_legacy_paths());
    let r = t
        .get(&tokens.access_token, "/crm/v3/objects/contacts?limit=1")
        .await;
    assert_eq!(r.status(), 404);
    let body = json(r).await;
    assert_eq!(body["category"], "OBJECT_NOT_FOUND");
    assert!(body["correlationId"].is_string() && body["message"].is_string());
    let r = refresh(&t, &tokens.refresh_token).await;
    assert_eq!(r.status(), 200, "the dated token endpoint still answers");
    let app = t.sim.app();
    let r = t
        .http
        .post(t.url("/oauth/v1/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token.as_str()),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(t.sim.control().legacy_calls(), 4);
    let refused_calls: Vec<u16> = t
        .sim
        .control()
        .calls()
        .iter()
        .filter(|c| c.path.contains("/v1/") || c.path.contains("/v3/"))
        .map(|c| c.status)
        .collect();
    assert_eq!(refused_calls, vec![200, 200, 404, 404]);
}

#[tokio::test]
async fn a_simulator_configured_to_refuse_legacy_paths_refuses_them_from_the_start() {
    let t = start_with(|c| c.refuse_legacy_paths = true).await;
    let (_, tokens) = t.installed_portal(1);
    assert!(t.sim.control().refuses_legacy_paths());
    let r = t
        .get(&tokens.access_token, "/crm/v3/properties/contacts")
        .await;
    assert_eq!(r.status(), 404);
    let r = t
        .get(&tokens.access_token, "/crm/properties/2026-09/contacts")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(t.sim.control().legacy_calls(), 1);
}

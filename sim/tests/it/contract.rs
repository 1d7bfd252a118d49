//! Contract tests: every answer of every endpoint, success and each error, deserializes
//! strictly into `ember_hubspot::wire` and carries every field the spec marks required.

use ember_hubspot::wire::account::PortalInformation;
use ember_hubspot::wire::crm::{
    BatchResponseSimplePublicObject, BatchResponseSimplePublicUpsertObject, SearchResponse,
    SimplePublicObject,
};
use ember_hubspot::wire::error::{ErrorBody, parse_property_validation};
use ember_hubspot::wire::oauth::{AccessTokenResponse, OAuthError};
use ember_hubspot::wire::oauth_legacy::{AccessTokenInfo, RefreshTokenInfo};
use ember_hubspot::wire::properties::{CollectionNoPaging, Property, PropertyGroup};
use ember_hubspot::wire::rate_limit::RateLimitError;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::helpers::{json, start};
use crate::spec::{self, check, check_batch, check_record};

const C: &str = "/crm/v3/objects/contacts";

fn parse<T: DeserializeOwned>(v: &Value, what: &str) -> T {
    serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("{what}: does not fit the wire type: {e}\n{v}"))
}

async fn expect(r: reqwest::Response, status: u16, what: &str) -> Value {
    let got = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what}: status, body {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

fn error(v: &Value, what: &str) -> ErrorBody {
    check(v, spec::ERROR, what);
    parse(v, what)
}

#[tokio::test]
async fn oauth_answers_fit_the_wire_types() {
    let t = start().await;
    let p = t.sim.control().create_portal(Default::default());
    let app = t.sim.app();
    let redirect = &app.redirect_uris[0];
    let r = t
        .http
        .get(t.url("/oauth/authorize"))
        .query(&[
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", redirect),
            ("scope", "oauth crm.objects.contacts.read"),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let form = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("client_id", app.client_id.clone()),
            ("client_secret", app.client_secret.clone()),
        ];
        v.extend(extra.iter().map(|(k, x)| (*k, x.to_string())));
        v
    };
    let ok = expect(
        t.http
            .post(t.url("/oauth/v1/token"))
            .form(&form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
            ]))
            .send()
            .await
            .unwrap(),
        200,
        "token",
    )
    .await;
    check(&ok, spec::ACCESS_TOKEN_RESPONSE, "token");
    let tok: AccessTokenResponse = parse(&ok, "token");
    assert_eq!(
        (tok.expires_in, tok.token_use.as_str(), tok.hub_id),
        (1800, "access_token", Some(p.id))
    );

    let reused = expect(
        t.http
            .post(t.url("/oauth/v1/token"))
            .form(&form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
            ]))
            .send()
            .await
            .unwrap(),
        400,
        "reused code",
    )
    .await;
    assert_eq!(
        parse::<OAuthError>(&reused, "reused code").status,
        "BAD_AUTH_CODE"
    );
    let bad_refresh = expect(
        t.http
            .post(t.url("/oauth/v1/token"))
            .form(&form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "nope"),
            ]))
            .send()
            .await
            .unwrap(),
        400,
        "bad refresh",
    )
    .await;
    let e: OAuthError = parse(&bad_refresh, "bad refresh");
    assert_eq!(
        (e.status.as_str(), e.error.as_deref()),
        ("BAD_REFRESH_TOKEN", Some("invalid_grant"))
    );

    let refreshed = expect(
        t.http
            .post(t.url("/oauth/v1/token"))
            .form(&form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &tok.refresh_token),
            ]))
            .send()
            .await
            .unwrap(),
        200,
        "refresh",
    )
    .await;
    check(&refreshed, spec::ACCESS_TOKEN_RESPONSE, "refresh");
    let _: AccessTokenResponse = parse(&refreshed, "refresh");

    let info = expect(
        t.http
            .get(t.url(&format!("/oauth/v1/access-tokens/{}", tok.access_token)))
            .send()
            .await
            .unwrap(),
        200,
        "access info",
    )
    .await;
    check(&info, spec::ACCESS_TOKEN_INFO, "access info");
    let info: AccessTokenInfo = parse(&info, "access info");
    assert_eq!((info.hub_id, info.expires_in), (p.id, 1800));
    let missing = expect(
        t.http
            .get(t.url("/oauth/v1/access-tokens/nope"))
            .send()
            .await
            .unwrap(),
        404,
        "access info 404",
    )
    .await;
    error(&missing, "access info 404");

    let rinfo = expect(
        t.http
            .get(t.url(&format!("/oauth/v1/refresh-tokens/{}", tok.refresh_token)))
            .send()
            .await
            .unwrap(),
        200,
        "refresh info",
    )
    .await;
    check(&rinfo, spec::REFRESH_TOKEN_INFO, "refresh info");
    let _: RefreshTokenInfo = parse(&rinfo, "refresh info");
    let r = t
        .http
        .delete(t.url(&format!("/oauth/v1/refresh-tokens/{}", tok.refresh_token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    expect(
        t.http
            .get(t.url(&format!("/oauth/v1/refresh-tokens/{}", tok.refresh_token)))
            .send()
            .await
            .unwrap(),
        404,
        "deleted refresh",
    )
    .await;
}

#[tokio::test]
async fn single_contact_answers_fit_the_wire_types() {
    let t = start().await;
    let (p, tok) = t.installed_portal(3);
    let id = t.sim.control().contact_ids(p.id)[0];
    let a = &tok.access_token;

    let one = expect(
        t.get(
            a,
            &format!("{C}/{id}?properties=email,jobtitle,numemployees"),
        )
        .await,
        200,
        "get",
    )
    .await;
    check_record(&one, spec::SIMPLE_PUBLIC_OBJECT, "get");
    let rec: SimplePublicObject = parse(&one, "get");
    assert_eq!(rec.id, id.to_string());

    let nf = expect(t.get(a, &format!("{C}/1")).await, 404, "get 404").await;
    assert_eq!(error(&nf, "get 404").category, "OBJECT_NOT_FOUND");
    let unauth = expect(t.get("bogus", &format!("{C}/{id}")).await, 401, "401").await;
    assert_eq!(error(&unauth, "401").category, "INVALID_AUTHENTICATION");

    let patched = expect(
        t.patch(
            a,
            &format!("{C}/{id}"),
            json!({"properties": {"jobtitle": "CTO"}}),
        )
        .await,
        200,
        "patch",
    )
    .await;
    check_record(&patched, spec::SIMPLE_PUBLIC_OBJECT, "patch");
    assert_eq!(patched["properties"]["jobtitle"], "CTO");

    let bad = expect(
        t.patch(
            a,
            &format!("{C}/{id}"),
            json!({"properties": {"nope": "1", "hs_object_id": "5", "numemployees": "lots"}}),
        )
        .await,
        400,
        "patch 400",
    )
    .await;
    let e = error(&bad, "patch 400");
    assert_eq!(e.category, "VALIDATION_ERROR");
    let codes: Vec<String> = parse_property_validation(&e.message)
        .expect("validation list")
        .into_iter()
        .map(|r| r.error)
        .collect();
    assert_eq!(
        codes,
        ["READ_ONLY_VALUE", "PROPERTY_DOESNT_EXIST", "INVALID_OPTION"]
    );

    let malformed = t
        .http
        .patch(t.url(&format!("{C}/{id}")))
        .bearer_auth(a)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    error(&expect(malformed, 400, "malformed").await, "malformed");

    let created = expect(
        t.post(a, C, json!({"properties": {"email": "new@example.org"}}))
            .await,
        201,
        "create",
    )
    .await;
    check_record(&created, spec::SIMPLE_PUBLIC_OBJECT, "create");
    let conflict = expect(
        t.post(a, C, json!({"properties": {"email": "new@example.org"}}))
            .await,
        409,
        "conflict",
    )
    .await;
    assert_eq!(error(&conflict, "conflict").category, "CONFLICT");

    t.sim
        .control()
        .advance(std::time::Duration::from_secs(1801));
    let expired = expect(t.get(a, &format!("{C}/{id}")).await, 401, "expired").await;
    assert_eq!(
        error(&expired, "expired").category,
        "EXPIRED_AUTHENTICATION"
    );
}

#[tokio::test]
async fn batch_answers_and_their_errors_fit_the_wire_types() {
    let t = start().await;
    let (p, tok) = t.installed_portal(5);
    let a = &tok.access_token;
    let ids = t.sim.control().contact_ids(p.id);

    let read = expect(t.post(a, &format!("{C}/batch/read"), json!({"properties": ["email"], "propertiesWithHistory": [], "inputs": [{"id": ids[0].to_string()}]})).await, 200, "read").await;
    check_batch(&read, spec::SIMPLE_PUBLIC_OBJECT, "read");
    let _: BatchResponseSimplePublicObject = parse(&read, "read");
    let partial = expect(
        t.post(
            a,
            &format!("{C}/batch/read"),
            json!({"inputs": [{"id": ids[0].to_string()}, {"id": "999"}]}),
        )
        .await,
        207,
        "read 207",
    )
    .await;
    check_batch(&partial, spec::SIMPLE_PUBLIC_OBJECT, "read 207");
    let b: BatchResponseSimplePublicObject = parse(&partial, "read 207");
    let errs = b.errors.expect("errors");
    assert_eq!(
        (errs[0].category.as_str(), errs[0].context["ids"].clone()),
        ("OBJECT_NOT_FOUND", vec!["999".to_string()])
    );

    let upd = expect(
        t.post(
            a,
            &format!("{C}/batch/update"),
            json!({"inputs": [{"id": ids[0].to_string(), "properties": {"jobtitle": "CEO"}}]}),
        )
        .await,
        200,
        "update",
    )
    .await;
    check_batch(&upd, spec::SIMPLE_PUBLIC_OBJECT, "update");
    let _: BatchResponseSimplePublicObject = parse(&upd, "update");
    let traced = expect(
        t.post(
            a,
            &format!("{C}/batch/update"),
            json!({"inputs": [
        {"id": ids[1].to_string(), "properties": {"jobtitle": "CFO"}, "objectWriteTraceId": "t1"},
        {"id": ids[2].to_string(), "properties": {"hs_object_id": "1"}, "objectWriteTraceId": "t2"},
        {"id": "12345", "properties": {"jobtitle": "x"}, "objectWriteTraceId": "t3"}]}),
        )
        .await,
        207,
        "update 207",
    )
    .await;
    check_batch(&traced, spec::SIMPLE_PUBLIC_OBJECT, "update 207");
    let _: BatchResponseSimplePublicObject = parse(&traced, "update 207");

    let dup = expect(
        t.post(
            a,
            &format!("{C}/batch/update"),
            json!({"inputs": [{"id": "1", "properties": {}}, {"id": "1", "properties": {}}]}),
        )
        .await,
        400,
        "dup",
    )
    .await;
    assert!(
        error(&dup, "dup")
            .message
            .starts_with("Duplicate IDs found in batch input")
    );
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"id": i.to_string(), "properties": {}}))
        .collect();
    error(
        &expect(
            t.post(a, &format!("{C}/batch/update"), json!({"inputs": many}))
                .await,
            400,
            "101",
        )
        .await,
        "101",
    );

    let created = expect(
        t.post(
            a,
            &format!("{C}/batch/create"),
            json!({"inputs": [{"properties": {"email": "b1@example.org"}, "associations": []}]}),
        )
        .await,
        201,
        "create",
    )
    .await;
    check_batch(&created, spec::SIMPLE_PUBLIC_OBJECT, "create");
    let c207 = expect(
        t.post(
            a,
            &format!("{C}/batch/create"),
            json!({"inputs": [
        {"properties": {"email": "b2@example.org"}, "objectWriteTraceId": "a"},
        {"properties": {"email": "b1@example.org"}, "objectWriteTraceId": "b"}]}),
        )
        .await,
        207,
        "create 207",
    )
    .await;
    check_batch(&c207, spec::SIMPLE_PUBLIC_OBJECT, "create 207");
    let conflict = expect(
        t.post(
            a,
            &format!("{C}/batch/create"),
            json!({"inputs": [{"properties": {"email": "b1@example.org"}}]}),
        )
        .await,
        409,
        "create 409",
    )
    .await;
    error(&conflict, "create 409");

    let up = expect(
        t.post(
            a,
            &format!("{C}/batch/upsert"),
            json!({"inputs": [
        {"id": "b1@example.org", "idProperty": "email", "properties": {"firstname": "B"}},
        {"id": "fresh@example.org", "idProperty": "email", "properties": {"firstname": "F"}}]}),
        )
        .await,
        200,
        "upsert",
    )
    .await;
    check_batch(&up, spec::UPSERT_OBJECT, "upsert");
    let u: BatchResponseSimplePublicUpsertObject = parse(&up, "upsert");
    let mut news: Vec<bool> = u.results.iter().map(|r| r.new).collect();
    news.sort();
    assert_eq!(news, [false, true]);
    let u207 = expect(
        t.post(
            a,
            &format!("{C}/batch/upsert"),
            json!({"inputs": [{"id": "77", "properties": {"firstname": "x"}}]}),
        )
        .await,
        207,
        "upsert 207",
    )
    .await;
    check_batch(&u207, spec::UPSERT_OBJECT, "upsert 207");

    let r = t
        .post(
            a,
            &format!("{C}/batch/archive"),
            json!({"inputs": [{"id": ids[4].to_string()}]}),
        )
        .await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn search_properties_and_account_answers_fit_the_wire_types() {
    let t = start().await;
    let (_p, tok) = t.installed_portal(30);
    let a = &tok.access_token;
    let s = expect(t.post(a, &format!("{C}/search"), json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}], "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}], "properties": ["email"], "limit": 10, "after": "0"})).await, 200, "search").await;
    check(&s, spec::SEARCH_RESPONSE, "search");
    for r in s["results"].as_array().unwrap() {
        check_record(r, spec::SIMPLE_PUBLIC_OBJECT, "search");
    }
    let sr: SearchResponse = parse(&s, "search");
    assert_eq!((sr.total, sr.results.len()), (30, 10));
    assert_eq!(
        sr.paging.and_then(|p| p.next).map(|n| n.after),
        Some("10".into())
    );
    error(
        &expect(
            t.post(a, &format!("{C}/search"), json!({"limit": 201}))
                .await,
            400,
            "search 400",
        )
        .await,
        "search 400",
    );

    let list = expect(
        t.get(a, "/crm/v3/properties/contacts").await,
        200,
        "properties",
    )
    .await;
    check(&list, spec::COLLECTION, "properties");
    for p in list["results"].as_array().unwrap() {
        check(p, spec::PROPERTY, "property");
        check(
            &p["modificationMetadata"],
            spec::MODIFICATION_METADATA,
            "metadata",
        );
        for o in p["options"].as_array().unwrap() {
            check(o, spec::OPTION, "option");
        }
    }
    let _: CollectionNoPaging<Property> = parse(&list, "properties");
    let one = expect(
        t.get(a, "/crm/v3/properties/contacts/email").await,
        200,
        "property",
    )
    .await;
    let _: Property = parse(&one, "property");
    error(
        &expect(
            t.get(a, "/crm/v3/properties/contacts/nope").await,
            404,
            "property 404",
        )
        .await,
        "property 404",
    );
    let body = json!({"name": "ember_score", "label": "Ember score", "type": "number", "fieldType": "number", "groupName": "contactinformation"});
    let created = expect(
        t.post(a, "/crm/v3/properties/contacts", body.clone()).await,
        201,
        "create property",
    )
    .await;
    check(&created, spec::PROPERTY, "create property");
    let _: Property = parse(&created, "create property");
    error(
        &expect(
            t.post(a, "/crm/v3/properties/contacts", body).await,
            409,
            "property 409",
        )
        .await,
        "property 409",
    );

    let groups = expect(
        t.get(a, "/crm/v3/properties/contacts/groups").await,
        200,
        "groups",
    )
    .await;
    for g in groups["results"].as_array().unwrap() {
        check(g, spec::PROPERTY_GROUP, "group");
    }
    let _: CollectionNoPaging<PropertyGroup> = parse(&groups, "groups");
    let g = json!({"name": "ember", "label": "Ember", "displayOrder": -1});
    let created = expect(
        t.post(a, "/crm/v3/properties/contacts/groups", g.clone())
            .await,
        201,
        "create group",
    )
    .await;
    check(&created, spec::PROPERTY_GROUP, "create group");
    error(
        &expect(
            t.post(a, "/crm/v3/properties/contacts/groups", g).await,
            409,
            "group 409",
        )
        .await,
        "group 409",
    );

    let acct = expect(t.get(a, "/account-info/v3/details").await, 200, "account").await;
    check(&acct, spec::PORTAL_INFORMATION, "account");
    let _: PortalInformation = parse(&acct, "account");

    let r = t
        .http
        .delete(t.url("/appinstalls/v3/external-install"))
        .bearer_auth(a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    error(
        &expect(
            t.get(a, "/account-info/v3/details").await,
            401,
            "after uninstall",
        )
        .await,
        "after uninstall",
    );
}

#[tokio::test]
async fn a_429_and_a_missing_scope_fit_the_wire_types() {
    let t = start().await;
    let (p, tok) = t.installed_portal(1);
    t.sim.control().set_faults(
        Some(p.id),
        hubspot_sim::Faults {
            burst_429: 1,
            ..Default::default()
        },
    );
    let r = t.get(&tok.access_token, "/account-info/v3/details").await;
    assert_eq!(r.headers()["x-hubspot-ratelimit-remaining"], "0");
    let v = expect(r, 429, "429").await;
    check(&v, spec::RATE_LIMIT_429, "429");
    let e: RateLimitError = parse(&v, "429");
    assert_eq!(
        (e.policy_name.as_str(), e.error_type.as_str()),
        ("TEN_SECONDLY_ROLLING", "RATE_LIMIT")
    );

    // A token granted only the read scope cannot write.
    let app = t.sim.app();
    let r = t
        .http
        .get(t.url("/oauth/authorize"))
        .query(&[
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", &app.redirect_uris[0]),
            ("scope", "oauth crm.objects.contacts.read"),
        ])
        .send()
        .await
        .unwrap();
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let tok: AccessTokenResponse = json(
        t.http
            .post(t.url("/oauth/v1/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &app.redirect_uris[0]),
                ("client_id", &app.client_id),
                ("client_secret", &app.client_secret),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
    .pipe(|v| parse(&v, "token"));
    let id = t.sim.control().contact_ids(p.id)[0];
    let v = expect(
        t.patch(
            &tok.access_token,
            &format!("{C}/{id}"),
            json!({"properties": {"jobtitle": "x"}}),
        )
        .await,
        403,
        "403",
    )
    .await;
    assert_eq!(error(&v, "403").category, "MISSING_SCOPES");
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}

#[tokio::test]
async fn list_merge_group_and_gdpr_answers_fit_the_wire_types() {
    let t = start().await;
    let (p, tok) = t.installed_portal(4);
    let a = &tok.access_token;
    let ids = t.sim.control().contact_ids(p.id);

    let page = expect(
        t.get(a, &format!("{C}?limit=2&properties=email")).await,
        200,
        "list",
    )
    .await;
    check(&page, spec::COLLECTION, "list");
    for r in page["results"].as_array().unwrap() {
        check_record(r, spec::SIMPLE_PUBLIC_OBJECT, "list");
    }
    let after = page["paging"]["next"]["after"]
        .as_str()
        .expect("next page")
        .to_string();
    let _: ember_hubspot::wire::crm::CollectionResponse = parse(&page, "list");
    let next = expect(
        t.get(a, &format!("{C}?limit=2&after={after}")).await,
        200,
        "list 2",
    )
    .await;
    assert_eq!(next["results"].as_array().unwrap().len(), 2);

    let merged = expect(
        t.post(
            a,
            &format!("{C}/merge"),
            json!({"primaryObjectId": ids[0].to_string(), "objectIdToMerge": ids[1].to_string()}),
        )
        .await,
        200,
        "merge",
    )
    .await;
    check_record(&merged, spec::SIMPLE_PUBLIC_OBJECT, "merge");
    let m: SimplePublicObject = parse(&merged, "merge");
    assert!(
        !ids.iter().any(|i| i.to_string() == m.id),
        "the merge created a new id"
    );
    error(
        &expect(
            t.post(
                a,
                &format!("{C}/merge"),
                json!({"primaryObjectId": "1", "objectIdToMerge": "2"}),
            )
            .await,
            404,
            "merge 404",
        )
        .await,
        "merge 404",
    );

    let g = expect(
        t.get(a, "/crm/v3/properties/contacts/groups/contactinformation")
            .await,
        200,
        "group",
    )
    .await;
    check(&g, spec::PROPERTY_GROUP, "group");
    let _: PropertyGroup = parse(&g, "group");
    error(
        &expect(
            t.get(a, "/crm/v3/properties/contacts/groups/nope").await,
            404,
            "group 404",
        )
        .await,
        "group 404",
    );

    let r = t
        .post(
            a,
            &format!("{C}/gdpr-delete"),
            json!({"objectId": ids[2].to_string()}),
        )
        .await;
    assert_eq!(r.status(), 204);
    error(
        &expect(t.get(a, &format!("{C}/{}", ids[2])).await, 404, "deleted").await,
        "deleted",
    );
}

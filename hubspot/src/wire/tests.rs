//! HubSpot's own documented examples (docs/hubspot.md) parse into the wire types; unknown fields in
//! closed schemas are refused.

use super::crm::BatchResponseSimplePublicObject;
use super::error::{ErrorBody, parse_property_validation};
use super::oauth::{AccessTokenIntrospection, AccessTokenResponse, OAuthError, TokenActivity};
use super::oauth_legacy::AccessTokenInfo;
use super::rate_limit::RateLimitError;
use super::webhook::WebhookEvent;

#[test]
fn the_documented_207_example_parses_and_its_validation_message_decodes() {
    let body = r#"{"status":"COMPLETE","results":[{"id":"1145814089","properties":{"hs_object_id":"1145814089","hs_pipeline_stage":"1"},
      "createdAt":"2024-08-15T17:09:13.648Z","updatedAt":"2024-08-15T17:09:13.648Z","archived":false}],"numErrors":1,
      "errors":[{"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"missing\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"missing\",\"localizedErrorMessage\":\"Property \\\"missing\\\" does not exist\",\"portalId\":891936587}]",
      "context":{"objectWriteTraceId":["549b1c2a9351"]}}],"startedAt":"2024-08-15T17:09:13.610Z","completedAt":"2024-08-15T17:09:13.910Z"}"#;
    let b: BatchResponseSimplePublicObject = serde_json::from_str(body).unwrap();
    let errs = b.errors.unwrap();
    let v = parse_property_validation(&errs[0].message).unwrap();
    assert_eq!(
        (v[0].error.as_str(), v[0].name.as_str()),
        ("PROPERTY_DOESNT_EXIST", "missing")
    );
}

#[test]
fn oauth_examples_parse() {
    let t: AccessTokenResponse = serde_json::from_str(r#"{"token_type":"bearer","refresh_token":"1e8fbfb1-8e96-4826-8b8d-c8af73715","access_token":"CIrToaiiMhIHAAEAQAAAARiO1ooBIOP0sgEokuLtAEaOaTFnToZ3VjUbtl46MAAA","expires_in":1800,"token_use":"access_token"}"#).unwrap();
    assert_eq!(t.expires_in, 1800);
    let info = r#"{"token":"CNaKSIHAAEAQAAAARiO1ooBIOP0sgEok","user":"user@domain.com","hub_domain":"meowmix.com","scopes":["oauth","crm.objects.contacts.read"],
      "signed_access_token":{"expiresAt":1727190403926,"scopes":"AAEAAAAQ==","hubId":1234567,"userId":293199,"appId":111111,"signature":"5m7ihJJuKFq1TcIiHCqwE=","scopeToScopeGroupPks":"AAAAQAAAAAAAAAACAAAAAAAAAAAAAIAAAAAAA4AEAAAAAAAAAAAAAABAC","newSignature":"fme07ZHXy6atYNNW8XCU=","hublet":"na1","trialScopes":"","trialScopeToScopeGroupPks":"","isUserLevel":false},
      "hub_id":1234567,"app_id":111111,"expires_in":1754,"user_id":293199,"token_type":"access"}"#;
    let info: AccessTokenInfo = serde_json::from_str(info).unwrap();
    assert_eq!(info.expires_in, 1754);
    let e: OAuthError = serde_json::from_str(
        r#"{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token"}"#,
    )
    .unwrap();
    assert_eq!(e.status, "BAD_REFRESH_TOKEN");
    let rfc: OAuthError = serde_json::from_str(r#"{"error":"invalid_grant","error_description":"refresh token is invalid, expired or revoked","status":"BAD_REFRESH_TOKEN","message":"refresh token is invalid, expired or revoked","category":"VALIDATION_ERROR","correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf"}"#).unwrap();
    assert_eq!(rfc.error.as_deref(), Some("invalid_grant"));
    assert_eq!(rfc.category.as_deref(), Some("VALIDATION_ERROR"));
}

#[test]
fn introspection_answers_parse_and_inactive_tokens_say_so() {
    let active = r#"{"active":true,"token":"CNaKSIHAAEAQAAAARiO1ooBIOP0sgEok","token_use":"access_token","token_type":"bearer","client_id":"5f0c7c4e","app_id":111111,"hub_id":1234567,"user_id":293199,"expires_in":1754,"scopes":["oauth","crm.objects.contacts.read"],"is_private_distribution":false,"user":"user@domain.com","hub_domain":"meowmix.com",
      "signed_access_token":{"expiresAt":1727190403926,"scopes":"AAEAAAAQ==","hubId":1234567,"userId":293199,"appId":111111,"signature":"5m7ihJJuKFq1TcIiHCqwE=","scopeToScopeGroupPks":"AAAAQAAAAAAAAAACAAAAAAAAAAAAAIAAAAAAA4AEAAAAAAAAAAAAAABAC","newSignature":"fme07ZHXy6atYNNW8XCU=","hublet":"na1","trialScopes":"","trialScopeToScopeGroupPks":"","isUserLevel":false,"appInstallId":"9","audience":"app","installingUserId":293199,"isPrivateDistribution":false,"isServiceAccount":false}}"#;
    let info: AccessTokenIntrospection = serde_json::from_str(active).unwrap();
    assert_eq!((info.hub_id, info.user_id), (1234567, 293199));
    let state: TokenActivity = serde_json::from_str(active).unwrap();
    assert!(state.active);
    let inactive: TokenActivity = serde_json::from_str(r#"{"active":false}"#).unwrap();
    assert!(!inactive.active);
    assert!(serde_json::from_str::<AccessTokenIntrospection>(r#"{"active":false}"#).is_err());
}

#[test]
fn error_and_429_examples_parse_and_unknown_fields_are_refused() {
    let e: ErrorBody = serde_json::from_str(r#"{"status":"error","message":"This will be a human readable message with details about the error.","errors":[{"message":"discount was not a valid number","code":"INVALID_INTEGER","context":{"propertyName":["discount"]}}],"category":"VALIDATION_ERROR","correlationId":"a43683b0-5717-4ceb-80b4-104d02915d8c"}"#).unwrap();
    assert_eq!(e.category, "VALIDATION_ERROR");
    let r: RateLimitError = serde_json::from_str(r#"{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","correlationId":"c033cdaa-2c40-4a64-ae48-b4cec88dad24","policyName":"DAILY","requestId":"3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd"}"#).unwrap();
    assert_eq!(r.policy_name, "DAILY");
    assert!(
        serde_json::from_str::<ErrorBody>(
            r#"{"message":"m","correlationId":"c","category":"X","surprise":1}"#
        )
        .is_err()
    );
}

#[test]
fn webhook_events_parse_under_either_type_key() {
    let docs = r#"[{"objectId":1246965,"propertyName":"lifecyclestage","propertyValue":"subscriber","changeSource":"ACADEMY","eventId":3816279340,"subscriptionId":25,"portalId":33,"appId":1160452,"occurredAt":1462216307945,"eventType":"contact.propertyChange","attemptNumber":0}]"#;
    let real = r#"[{"eventId":531833541,"subscriptionId":3923621,"portalId":48807704,"appId":16111050,"occurredAt":1752613920733,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":138017612137,"changeFlag":"CREATED","changeSource":"CRM_UI","sourceId":"userId:76023669"}]"#;
    let a: Vec<WebhookEvent> = serde_json::from_str(docs).unwrap();
    let b: Vec<WebhookEvent> = serde_json::from_str(real).unwrap();
    assert_eq!(a[0].subscription_type, "contact.propertyChange");
    assert_eq!(b[0].source_id.as_deref(), Some("userId:76023669"));
}

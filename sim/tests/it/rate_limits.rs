//! HubSpot's rate limits: the rolling 10-second window per portal and app type, the daily
//! limit, the headers, and search's own limit.

use crate::helpers::start;

const PATH: &str = "/crm/v3/objects/contacts?limit=1";

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn exactly_the_111th_call_in_ten_seconds_gets_429_ten_secondly_rolling_and_headers_count_down()
 {
    let t = start().await;
    let (a, ta) = t.installed_portal(1);
    let (b, tb) = t.installed_portal(1);
    for i in 0..110u32 {
        let r = t.get(&ta.access_token, PATH).await;
        assert_eq!(r.status(), 200, "call {}", i + 1);
        assert_eq!(
            header(&r, "x-hubspot-ratelimit-max").as_deref(),
            Some("110")
        );
        assert_eq!(
            header(&r, "x-hubspot-ratelimit-interval-milliseconds").as_deref(),
            Some("10000")
        );
        assert_eq!(
            header(&r, "x-hubspot-ratelimit-remaining"),
            Some((109 - i).to_string())
        );
        assert_eq!(
            header(&r, "x-hubspot-ratelimit-daily"),
            None,
            "OAuth answers carry no daily headers"
        );
    }
    let r = t.get(&ta.access_token, PATH).await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "x-hubspot-ratelimit-remaining").as_deref(),
        Some("0")
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");

    // Another portal has its own bucket.
    let r = t.get(&tb.access_token, PATH).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-hubspot-ratelimit-remaining").as_deref(),
        Some("109")
    );

    let ctl = t.sim.control();
    assert_eq!(
        ctl.rate_limited(Some(a.id)).get("TEN_SECONDLY_ROLLING"),
        Some(&1)
    );
    assert!(ctl.rate_limited(Some(b.id)).is_empty());
    let statuses: Vec<u16> = ctl.calls_for(a.id).iter().map(|c| c.status).collect();
    assert_eq!(statuses.len(), 111);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 1);
    assert_eq!(statuses[110], 429);

    // The window rolls: ten seconds after the first call, capacity returns.
    ctl.advance(std::time::Duration::from_millis(10_000));
    assert_eq!(t.get(&ta.access_token, PATH).await.status(), 200);
}

#[tokio::test]
async fn private_app_tiers_limit_at_their_burst_and_send_daily_headers() {
    let t = start().await;
    let (p, token) = t.private_portal(100, 1);
    for i in 0..100u32 {
        let r = t.get(&token, PATH).await;
        assert_eq!(r.status(), 200, "call {}", i + 1);
        assert_eq!(
            header(&r, "x-hubspot-ratelimit-max").as_deref(),
            Some("100")
        );
        assert_eq!(
            header(&r, "x-hubspot-ratelimit-daily").as_deref(),
            Some("250000")
        );
        assert_eq!(
            header(&r, "x-hubspot-ratelimit-daily-remaining"),
            Some((249_999 - i).to_string())
        );
    }
    assert_eq!(t.get(&token, PATH).await.status(), 429);
    let (_p2, t190) = t.private_portal(190, 1);
    let r = t.get(&t190, PATH).await;
    assert_eq!(
        header(&r, "x-hubspot-ratelimit-max").as_deref(),
        Some("190")
    );
    assert_eq!(t.sim.control().daily_used(p.id), 100);
}

#[tokio::test]
async fn the_daily_limit_answers_429_daily_until_local_midnight() {
    let t = start().await;
    let (p, token) = t.private_portal(150, 1);
    let ctl = t.sim.control();
    ctl.set_daily_used(p.id, 500_000);
    let r = t.get(&token, PATH).await;
    assert_eq!(r.status(), 429);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (body["policyName"].as_str(), body["message"].as_str()),
        (Some("DAILY"), Some("You have reached your daily limit."))
    );
    assert_eq!(ctl.rate_limited(Some(p.id)).get("DAILY"), Some(&1));
    ctl.advance(std::time::Duration::from_secs(86_400));
    assert_eq!(t.get(&token, PATH).await.status(), 200);
}

#[tokio::test]
async fn search_has_its_own_five_per_second_limit_and_no_headers() {
    let t = start().await;
    let (_p, tok) = t.installed_portal(3);
    let body = serde_json::json!({"limit": 1});
    for _ in 0..5 {
        let r = t
            .post(
                &tok.access_token,
                "/crm/v3/objects/contacts/search",
                body.clone(),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()
                .keys()
                .all(|k| !k.as_str().starts_with("x-hubspot-ratelimit"))
        );
    }
    let r = t
        .post(
            &tok.access_token,
            "/crm/v3/objects/contacts/search",
            body.clone(),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert!(
        r.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("x-hubspot-ratelimit"))
    );
    // Search does not consume the 110/10 s bucket.
    let r = t.get(&tok.access_token, PATH).await;
    assert_eq!(
        header(&r, "x-hubspot-ratelimit-remaining").as_deref(),
        Some("109")
    );
}

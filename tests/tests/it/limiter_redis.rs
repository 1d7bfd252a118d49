//! The distributed rate limiter against the real Redis: each test uses its own key prefix and
//! deletes its keys afterwards (every key also carries a TTL, so a failed run leaves nothing
//! for long).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ember_core::config::LimiterSettings;
use ember_core::domain::PortalId;
use ember_core::limiter::{AccountLimits, AppType, LimitError, Observation, PortalZone};
use ember_tests::CutProxy;

use crate::scenario::LimiterScenario;

fn settings() -> LimiterSettings {
    LimiterSettings {
        public_burst: 110,
        window_ms: 10_000,
        safety_margin: 0.05,
        window_padding_ms: 250,
        processes: 1,
        max_wait_ms: 30_000,
        redis_timeout_ms: 250,
    }
}

fn small(burst: u32, window_ms: u64) -> LimiterSettings {
    LimiterSettings {
        public_burst: burst,
        window_ms,
        safety_margin: 0.0,
        window_padding_ms: 0,
        max_wait_ms: 400,
        ..settings()
    }
}

fn portal() -> PortalId {
    PortalId::new(4_000_000 + (rand_u32() % 1_000_000) as i64).unwrap()
}

fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

const UTC: AccountLimits = AccountLimits {
    app: AppType::Public,
    zone: PortalZone::UTC,
};

#[tokio::test]
async fn grants_the_limit_then_makes_callers_wait_for_the_window() {
    let l = LimiterScenario::new(LimiterSettings {
        max_wait_ms: 3_000,
        ..small(10, 1_000)
    })
    .limiter();
    let p = portal();
    let start = Instant::now();
    for _ in 0..10 {
        let permit = l.acquire(p, &UTC).await.unwrap();
        assert!(!permit.fallback);
    }
    // The whole first window was granted; the eleventh waits until the first grant leaves the
    // rolling window. Bounds from below only: a slow machine cannot make a wait shorter.
    assert_eq!(l.status(p, &UTC).await.unwrap().in_window, 10);
    let eleventh = l.acquire(p, &UTC).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(1_000),
        "the eleventh grant came {:?} after the first call, inside the 1 s window",
        start.elapsed()
    );
    assert!(eleventh.waited > Duration::ZERO);
    // Another portal has its own window.
    l.acquire(portal(), &UTC).await.unwrap();
    l.delete_all_keys().await.unwrap();
}

/// Four independent limiters (four processes, four Redis pools) hammer one portal for 32 s:
/// no rolling 10 s window holds more than 110 grants, and together they keep above 90% of the
/// rate.
#[tokio::test]
async fn four_processes_never_exceed_110_in_any_rolling_10s_and_keep_90_percent() {
    let p = portal();
    let limiters = LimiterScenario::new(LimiterSettings {
        processes: 4,
        ..settings()
    })
    .limiters(4);
    let deadline = Instant::now() + Duration::from_secs(32);
    let mut tasks = Vec::new();
    for l in &limiters {
        for _ in 0..3 {
            let l = l.clone();
            tasks.push(tokio::spawn(async move {
                let mut granted = Vec::new();
                while Instant::now() < deadline {
                    // Stop at the deadline: a grant after it would stretch the measured span.
                    let Ok(result) =
                        tokio::time::timeout_at(deadline.into(), l.acquire(p, &UTC)).await
                    else {
                        break;
                    };
                    match result {
                        Ok(permit) => {
                            assert!(!permit.fallback);
                            granted.push(permit.granted_at_ms);
                        }
                        Err(LimitError::Timeout { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                granted
            }));
        }
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let max_in_window = all
        .iter()
        .enumerate()
        .map(|(i, t)| i + 1 - all.partition_point(|x| *x <= t - 10_000))
        .max()
        .unwrap();
    assert!(
        max_in_window <= 110,
        "{max_in_window} grants in one rolling 10 s window"
    );
    // Steady rate: everything after the first window, over the time it took.
    let first = all[0];
    let first_window = all.partition_point(|x| *x < first + 10_000);
    let span_ms = (all[all.len() - 1] - first) as f64;
    let rate = (all.len() - first_window) as f64 / span_ms * 10_000.0 / 110.0;
    println!(
        "grants={} max_in_any_10s={max_in_window} steady_rate={:.1}% of 110/10s",
        all.len(),
        rate * 100.0
    );
    assert!(
        rate >= 0.90,
        "steady rate {:.1}% of the limit",
        rate * 100.0
    );
    limiters[0].delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn remaining_header_adds_the_calls_hubspot_counted_but_we_did_not_grant() {
    let l = LimiterScenario::new(LimiterSettings {
        max_wait_ms: 300,
        ..settings()
    })
    .limiter();
    let p = portal();
    l.acquire(p, &UTC).await.unwrap();
    // HubSpot says only 10 of 110 are left: 100 used, we granted 1.
    let obs = Observation::from_headers([
        ("X-HubSpot-RateLimit-Max", "110"),
        ("X-HubSpot-RateLimit-Remaining", "10"),
        ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
    ]);
    l.observe(p, &UTC, &obs).await;
    let status = l.status(p, &UTC).await.unwrap();
    assert_eq!(status.in_window, 100);
    assert_eq!(status.observed_max, Some(110));
    // 104 (110 less 5%) in the window: four more, then a wait beyond max_wait.
    for _ in 0..4 {
        l.acquire(p, &UTC).await.unwrap();
    }
    let err = l.acquire(p, &UTC).await.unwrap_err();
    assert!(
        matches!(err, LimitError::Timeout { retry_after, .. } if retry_after > Duration::from_secs(9)),
        "{err}"
    );
    l.delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn headers_replace_the_configured_limit() {
    let l = LimiterScenario::new(LimiterSettings {
        max_wait_ms: 200,
        ..small(100, 10_000)
    })
    .limiter();
    let p = portal();
    let starter = AccountLimits {
        app: AppType::Private {
            burst: 100,
            daily: 0,
        },
        zone: PortalZone::UTC,
    };
    // The portal is really on a 5-per-10-s plan, as its answers say.
    l.observe(
        p,
        &starter,
        &Observation::from_headers([("X-HubSpot-RateLimit-Max", "5")]),
    )
    .await;
    for _ in 0..5 {
        l.acquire(p, &starter).await.unwrap();
    }
    assert!(matches!(
        l.acquire(p, &starter).await,
        Err(LimitError::Timeout { .. })
    ));
    l.delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn ten_secondly_429_waits_out_the_window() {
    let l = LimiterScenario::new(LimiterSettings {
        max_wait_ms: 5_000,
        ..small(100, 1_000)
    })
    .limiter();
    let p = portal();
    l.acquire(p, &UTC).await.unwrap();
    let obs = Observation::from_headers([("X-HubSpot-RateLimit-Interval-Milliseconds", "1000")])
        .rate_limited("TEN_SECONDLY_ROLLING");
    l.observe(p, &UTC, &obs).await;
    let status = l.status(p, &UTC).await.unwrap();
    assert_eq!(
        status.paused.as_ref().map(|(_, r)| r.as_str()),
        Some("window")
    );
    let permit = l.acquire(p, &UTC).await.unwrap();
    assert!(
        permit.waited >= Duration::from_millis(900),
        "waited {:?}",
        permit.waited
    );
    l.delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn the_daily_budget_stops_permits_until_the_portals_midnight() {
    let l = LimiterScenario::new(small(100, 10_000)).limiter();
    let p = portal();
    let zone: PortalZone = "Asia/Kolkata".parse().unwrap();
    let limits = AccountLimits {
        app: AppType::Private {
            burst: 100,
            daily: 5,
        },
        zone,
    };
    for _ in 0..5 {
        l.acquire(p, &limits).await.unwrap();
    }
    let (_, reset) = zone.day_and_reset(chrono::Utc::now());
    match l.acquire(p, &limits).await {
        Err(LimitError::DailyExhausted { until, .. }) => {
            let expected = chrono::Utc::now() + reset;
            assert!(
                (until - expected).num_seconds().abs() <= 2,
                "until {until}, expected {expected}"
            );
        }
        other => panic!("expected DailyExhausted, got {other:?}"),
    }
    assert_eq!(l.status(p, &limits).await.unwrap().today, 5);
    l.delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn daily_headers_correct_the_count_and_a_daily_429_pauses_the_portal() {
    let l = LimiterScenario::new(small(100, 10_000)).limiter();
    let p = portal();
    let limits = AccountLimits {
        app: AppType::PRIVATE_STARTER,
        zone: "-05:00".parse().unwrap(),
    };
    l.observe(
        p,
        &limits,
        &Observation::from_headers([
            ("X-HubSpot-RateLimit-Daily", "1000"),
            ("X-HubSpot-RateLimit-Daily-Remaining", "2"),
        ]),
    )
    .await;
    l.acquire(p, &limits).await.unwrap();
    l.acquire(p, &limits).await.unwrap();
    assert!(matches!(
        l.acquire(p, &limits).await,
        Err(LimitError::DailyExhausted { .. })
    ));

    let q = portal();
    l.acquire(q, &limits).await.unwrap();
    l.observe(q, &limits, &Observation::default().rate_limited("DAILY"))
        .await;
    let status = l.status(q, &limits).await.unwrap();
    let (until, reason) = status.paused.unwrap();
    assert_eq!(reason, "daily");
    assert!(until > chrono::Utc::now());
    assert!(matches!(
        l.acquire(q, &limits).await,
        Err(LimitError::DailyExhausted { .. })
    ));
    l.delete_all_keys().await.unwrap();
}

#[tokio::test]
async fn redis_down_falls_back_to_this_processes_share_never_unlimited() {
    let proxy = CutProxy::start("127.0.0.1:6379").await.unwrap();
    let url = format!("redis://127.0.0.1:{}", proxy.port);
    let l = LimiterScenario::new(LimiterSettings {
        processes: 4,
        ..small(20, 10_000)
    })
    .through(&url)
    .limiter();
    let p = portal();
    assert!(!l.acquire(p, &UTC).await.unwrap().fallback);
    proxy.cut();
    // 20 per window shared by 4 processes: this one may make 5 on its own.
    for _ in 0..5 {
        assert!(l.acquire(p, &UTC).await.unwrap().fallback);
    }
    assert!(l.in_fallback());
    assert!(matches!(
        l.acquire(p, &UTC).await,
        Err(LimitError::Timeout { .. })
    ));
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let permit = l.acquire(p, &UTC).await.unwrap();
    assert!(!permit.fallback);
    assert!(!l.in_fallback());
    l.delete_all_keys().await.unwrap();

    // A Redis that was never there: the fallback from the first call.
    let nowhere = LimiterScenario::new(LimiterSettings {
        processes: 2,
        ..small(4, 10_000)
    })
    .through("redis://127.0.0.1:1")
    .limiter();
    assert!(nowhere.acquire(p, &UTC).await.unwrap().fallback);
    assert!(nowhere.acquire(p, &UTC).await.unwrap().fallback);
    assert!(nowhere.acquire(p, &UTC).await.is_err());
}

/// The gate counts every HubSpot answer per account and day, by class, so the console can show
/// HubSpot's error ratio; a 429 also pauses the account (the observation path).
#[tokio::test]
async fn the_gate_counts_every_answer_by_class_for_the_error_ratio() {
    use ember_core::limiter::{AnswerCounts, LimiterGate};
    use ember_hubspot::{CallGate, RateLimitTelemetry};
    let l = Arc::new(LimiterScenario::new(settings()).limiter());
    let gate = LimiterGate::new(l.clone(), UTC);
    let p = portal();
    for status in [200, 200, 207, 404, 429, 502, 200, 200, 200, 200] {
        gate.observe(
            p.get(),
            &RateLimitTelemetry {
                status,
                ..RateLimitTelemetry::default()
            },
        );
    }
    let want = AnswerCounts {
        ok: 7,
        client_errors: 1,
        rate_limited: 1,
        server_errors: 1,
    };
    let started = Instant::now();
    let status = loop {
        let status = l.status(p, &UTC).await.expect("Redis answers");
        if status.answers == want || started.elapsed() > Duration::from_secs(10) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.answers, want);
    assert_eq!(status.answers.error_ratio(), Some(0.3));
    assert!(
        status.paused.is_some(),
        "the 429 paused the account's permits"
    );
    l.delete_all_keys().await.unwrap();
}

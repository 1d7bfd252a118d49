//! The admin API's operations and team endpoints against real Postgres, RabbitMQ and Redis:
//! members and roles (owners only; an agency keeps an owner), a portal's health from the rows
//! and the limiter's state, dead letters of both kinds listed and replayed, and the intake's
//! recent rejections. Everything outside the person's agencies is 404.

use chrono::Utc;
use ember_api::session::Signer;
use ember_core::domain::PortalId;
use ember_core::domain::Role;
use ember_core::limiter::{AccountLimits, Limiter, Observation};
use ember_core::queue::dead_letters::{
    ERROR_HEADER, FAILED_AT_HEADER, ROUTING_KEY_HEADER, WORKER_HEADER,
};
use ember_core::store::agencies::{self, TeamChangeError};
use ember_core::store::portals::{self, AppKind, PortalStatus};
use ember_tests::TestApi;
use ember_tests::worker::{batch, property_event};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Confirmation};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

/// A test api with the admin API on (it needs an encryption key).
async fn spawn() -> TestApi {
    TestApi::spawn_with(|s| {
        s.encryption_key = Some(SecretString::from(
            "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=".to_owned(),
        ));
    })
    .await
    .expect("api")
}

/// A signed-in person talking to the admin API: session cookie, plus the CSRF token from
/// `GET /admin/me` on every change.
struct Client {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: Option<String>,
}

impl Client {
    async fn sign_in(api: &TestApi, person: i64) -> Self {
        let signer =
            Signer::new(&SecretString::from(api.secret.clone()), 600, 3600, false).expect("signer");
        let session = ember_core::store::sessions::create(
            &api.db.pool,
            person,
            Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
        let token = signer.new_session(session, person).unwrap();
        let mut client = Self {
            http: reqwest::Client::new(),
            base: api.address.clone(),
            cookie: format!("ember_session={token}"),
            csrf: None,
        };
        let (status, me) = client.get("/admin/me").await;
        assert_eq!(status, StatusCode::OK, "{me}");
        client.csrf = me["csrf_token"].as_str().map(str::to_owned);
        client
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send_with(method, path, body, true).await
    }

    async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        with_csrf: bool,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("cookie", &self.cookie);
        if with_csrf
            && method != Method::GET
            && let Some(csrf) = &self.csrf
        {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }
}

async fn new_person(api: &TestApi, hub_user_id: i64, email: Option<&str>) -> i64 {
    let mut conn = api.db.pool.acquire().await.unwrap();
    agencies::upsert_person(&mut conn, hub_user_id, email)
        .await
        .unwrap()
}

async fn new_agency(api: &TestApi, owner: i64) -> i64 {
    let mut conn = api.db.pool.acquire().await.unwrap();
    agencies::create(&mut conn, "Agency", owner).await.unwrap()
}

async fn join(api: &TestApi, agency: i64, person: i64, role: Role) {
    let mut conn = api.db.pool.acquire().await.unwrap();
    agencies::add_member(&mut conn, agency, person, role)
        .await
        .unwrap();
}

async fn new_portal(
    api: &TestApi,
    portal: i64,
    agency: i64,
    kind: AppKind,
    tier: Option<i32>,
) -> PortalId {
    let id = PortalId::new(portal).unwrap();
    let mut conn = api.db.pool.acquire().await.unwrap();
    portals::register(&mut conn, id, Some(agency), kind, tier, None)
        .await
        .unwrap();
    id
}

async fn role_in_db(api: &TestApi, agency: i64, person: i64) -> Option<String> {
    sqlx::query_scalar("SELECT role FROM agency_members WHERE agency_id = $1 AND person_id = $2")
        .bind(agency)
        .bind(person)
        .fetch_optional(&api.db.pool)
        .await
        .unwrap()
}

/// An agency with an owner, an editor and a viewer, each signed in.
struct Team {
    agency: i64,
    owner: (i64, Client),
    editor: (i64, Client),
    viewer: (i64, Client),
}

async fn team(api: &TestApi, first_hub_user: i64) -> Team {
    let owner = new_person(api, first_hub_user, Some("owner@agency.test")).await;
    let editor = new_person(api, first_hub_user + 1, Some("editor@agency.test")).await;
    let viewer = new_person(api, first_hub_user + 2, None).await;
    let agency = new_agency(api, owner).await;
    join(api, agency, editor, Role::Editor).await;
    join(api, agency, viewer, Role::Viewer).await;
    Team {
        agency,
        owner: (owner, Client::sign_in(api, owner).await),
        editor: (editor, Client::sign_in(api, editor).await),
        viewer: (viewer, Client::sign_in(api, viewer).await),
    }
}

#[tokio::test]
async fn owners_list_members_change_roles_and_remove_people() {
    let api = spawn().await;
    let t = team(&api, 100).await;
    let (owner, editor, viewer) = (t.owner.0, t.editor.0, t.viewer.0);

    let (status, body) = t
        .viewer
        .1
        .get(&format!("/admin/agencies/{}/members", t.agency))
        .await;
    assert_eq!(status, StatusCode::OK, "any member may look: {body}");
    let members = body["members"].as_array().unwrap();
    let ids: Vec<i64> = members
        .iter()
        .map(|m| m["person_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [owner, editor, viewer],
        "owners first, then editors, viewers"
    );
    assert_eq!(members[0]["name"], "owner@agency.test");
    assert_eq!(members[0]["email"], "owner@agency.test");
    assert_eq!(members[0]["role"], "owner");
    assert!(members[0]["joined_at"].as_str().unwrap().contains('T'));
    assert_eq!(
        members[2]["name"], "HubSpot user 102",
        "no email: the HubSpot user id"
    );
    assert_eq!(members[2]["email"], Value::Null);

    let member_path = format!("/admin/agencies/{}/members/{viewer}", t.agency);
    let (status, body) = t
        .owner
        .1
        .send(Method::PUT, &member_path, Some(json!({"role": "editor"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["person_id"], viewer);
    assert_eq!(body["role"], "editor");
    assert_eq!(
        role_in_db(&api, t.agency, viewer).await.as_deref(),
        Some("editor")
    );

    for (bad, why) in [
        (json!({"role": "boss"}), "unknown role"),
        (json!({}), "no role"),
        (json!({"role": "viewer", "extra": 1}), "unknown field"),
    ] {
        let (status, body) = t.owner.1.send(Method::PUT, &member_path, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("owner|editor|viewer"),
            "{body}"
        );
    }
    assert_eq!(
        role_in_db(&api, t.agency, viewer).await.as_deref(),
        Some("editor")
    );

    let stranger = new_person(&api, 190, None).await;
    let (status, body) = t
        .owner
        .1
        .send(
            Method::PUT,
            &format!("/admin/agencies/{}/members/{stranger}", t.agency),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not a member: {body}");
    assert_eq!(
        role_in_db(&api, t.agency, stranger).await,
        None,
        "nobody was added"
    );

    let (status, body) = t.owner.1.send(Method::DELETE, &member_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(role_in_db(&api, t.agency, viewer).await, None);
    let (status, _) = t.owner.1.send(Method::DELETE, &member_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already gone");

    // Without the CSRF token nothing changes.
    let (status, body) = t
        .owner
        .1
        .send_with(
            Method::DELETE,
            &format!("/admin/agencies/{}/members/{editor}", t.agency),
            None,
            false,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        role_in_db(&api, t.agency, editor).await.as_deref(),
        Some("editor")
    );
}

#[tokio::test]
async fn viewers_and_editors_cannot_change_the_team_and_viewers_cannot_replay() {
    let api = spawn().await;
    let t = team(&api, 200).await;
    let portal = new_portal(&api, 2_001, t.agency, AppKind::Public, None).await;
    let owner_path = format!("/admin/agencies/{}/members/{}", t.agency, t.owner.0);
    for (who, client) in [("viewer", &t.viewer.1), ("editor", &t.editor.1)] {
        let (status, body) = client
            .send(Method::PUT, &owner_path, Some(json!({"role": "viewer"})))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("owner"),
            "{body}"
        );
        let (status, _) = client.send(Method::DELETE, &owner_path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
    }
    assert_eq!(
        role_in_db(&api, t.agency, t.owner.0).await.as_deref(),
        Some("owner")
    );

    let id = insert_writeback_dead_letter(&api, portal, 77, 1).await;
    let (status, body) = t
        .viewer
        .1
        .send(
            Method::POST,
            &format!("/admin/portals/{portal}/dead-letters/writeback-{id}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        dead_letter_rows(&api, portal).await,
        1,
        "still dead-lettered"
    );
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let api = spawn().await;
    let t = team(&api, 300).await;
    let me = format!("/admin/agencies/{}/members/{}", t.agency, t.owner.0);
    let (status, body) = t
        .owner
        .1
        .send(Method::PUT, &me, Some(json!({"role": "editor"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "last_owner", "{body}");
    let (status, body) = t.owner.1.send(Method::DELETE, &me, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        role_in_db(&api, t.agency, t.owner.0).await.as_deref(),
        Some("owner")
    );

    // With a second owner, the first may step down.
    let (status, _) = t
        .owner
        .1
        .send(
            Method::PUT,
            &format!("/admin/agencies/{}/members/{}", t.agency, t.editor.0),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = t
        .owner
        .1
        .send(Method::PUT, &me, Some(json!({"role": "viewer"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        role_in_db(&api, t.agency, t.owner.0).await.as_deref(),
        Some("viewer")
    );
}

#[tokio::test]
async fn concurrent_demotions_never_leave_an_agency_without_an_owner() {
    let api = spawn().await;
    for round in 0..10 {
        let a = new_person(&api, 400 + round * 2, None).await;
        let b = new_person(&api, 401 + round * 2, None).await;
        let agency = new_agency(&api, a).await;
        join(&api, agency, b, Role::Owner).await;
        let pool = &api.db.pool;
        // Each demotes the other owner at once (or one leaves while demoting the other).
        let (demote_a, demote_b) = if round % 2 == 0 {
            let (x, y) = tokio::join!(
                agencies::set_role(pool, agency, a, Role::Editor),
                agencies::set_role(pool, agency, b, Role::Viewer),
            );
            (x.map(drop), y.map(drop))
        } else {
            let (x, y) = tokio::join!(
                agencies::remove_member(pool, agency, a),
                agencies::set_role(pool, agency, b, Role::Viewer),
            );
            (x, y.map(drop))
        };
        let refused = [&demote_a, &demote_b]
            .iter()
            .filter(|r| matches!(r, Err(TeamChangeError::LastOwner { .. })))
            .count();
        assert_eq!(
            (demote_a.is_ok() as u8 + demote_b.is_ok() as u8, refused),
            (1, 1),
            "round {round}: exactly one change passes"
        );
        let owners: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM agency_members WHERE agency_id = $1 AND role = 'owner'",
        )
        .bind(agency)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(owners, 1, "round {round}");
    }
}

#[tokio::test]
async fn another_agencys_portal_and_team_are_404() {
    let api = spawn().await;
    let ours = team(&api, 500).await;
    let theirs = team(&api, 510).await;
    let their_portal = new_portal(&api, 5_001, theirs.agency, AppKind::Public, None).await;
    let id = insert_writeback_dead_letter(&api, their_portal, 5, 1).await;
    let routes = [
        (
            Method::GET,
            format!("/admin/portals/{their_portal}/health"),
            None,
        ),
        (
            Method::GET,
            format!("/admin/portals/{their_portal}/dead-letters"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/portals/{their_portal}/dead-letters/writeback-{id}/replay"),
            None,
        ),
        (
            Method::GET,
            format!("/admin/portals/{their_portal}/rejections"),
            None,
        ),
        (
            Method::GET,
            format!("/admin/agencies/{}/members", theirs.agency),
            None,
        ),
        (
            Method::PUT,
            format!(
                "/admin/agencies/{}/members/{}",
                theirs.agency, theirs.viewer.0
            ),
            Some(json!({"role": "owner"})),
        ),
        (
            Method::DELETE,
            format!(
                "/admin/agencies/{}/members/{}",
                theirs.agency, theirs.viewer.0
            ),
            None,
        ),
        (
            Method::GET,
            "/admin/portals/999999999/health".to_owned(),
            None,
        ),
    ];
    for (method, path, body) in routes {
        let (status, answer) = ours.owner.1.send(method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert_eq!(answer["error"], "not_found", "{method} {path}: {answer}");
    }
    assert_eq!(dead_letter_rows(&api, their_portal).await, 1);
    assert_eq!(
        role_in_db(&api, theirs.agency, theirs.viewer.0)
            .await
            .as_deref(),
        Some("viewer")
    );
}

#[tokio::test]
async fn health_reports_the_figures_of_the_rows_and_the_limiter() {
    let api = spawn().await;
    let t = team(&api, 600).await;
    let portal = new_portal(&api, 6_001, t.agency, AppKind::Private, Some(100)).await;
    let quiet = new_portal(&api, 6_002, t.agency, AppKind::Public, None).await;
    let pool = &api.db.pool;
    // Events: 2 in the last hour, 3 more in the last day, 1 older; and one of another portal.
    for (i, age) in [
        "1 minute",
        "50 minutes",
        "2 hours",
        "5 hours",
        "23 hours",
        "2 days",
    ]
    .iter()
    .enumerate()
    {
        insert_processed_event(&api, portal, i as u8, age).await;
    }
    insert_processed_event(&api, quiet, 99, "1 minute").await;
    // Backlog: 4 pending writes, the oldest waiting 10 minutes; a context fetch waiting 2.
    for (contact, age) in [
        (1, "10 minutes"),
        (2, "1 minute"),
        (3, "0 seconds"),
        (4, "5 minutes"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO score_outbox (portal_id, contact_id, properties, version, created_at) \
             VALUES ($1, $2, '{{}}', 1, now() - interval '{age}')"
        )))
        .bind(portal.get())
        .bind(contact)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO context_requests (portal_id, contact_id, requested_at) \
         VALUES ($1, 9, now() - interval '2 minutes')",
    )
    .bind(portal.get())
    .execute(pool)
    .await
    .unwrap();
    // The limiter counted 3 calls today.
    let limiter = Limiter::connect(
        &api.settings.redis.url,
        &api.settings.redis.prefix,
        api.settings.limiter.clone(),
    )
    .unwrap();
    let limits = AccountLimits::of_portal(AppKind::Private, Some(100));
    for _ in 0..3 {
        limiter.acquire(portal, &limits).await.unwrap();
    }
    // HubSpot's answers today, as the gate records them: 19 fine, one 503 (5 %).
    for status in std::iter::repeat_n(200, 19).chain([503]) {
        limiter.record_answer(portal, &limits, status).await;
    }

    let client = &t.viewer.1;
    let (status, health) = client.get(&format!("/admin/portals/{portal}/health")).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["portal_id"], portal.get());
    assert_eq!(health["status"], "installed");
    assert_eq!(health["events_last_hour"], 2);
    assert_eq!(health["events_last_day"], 5);
    assert_eq!(health["writeback_backlog"], 4);
    let lag = health["queue_lag_seconds"].as_i64().unwrap();
    assert!(
        (600..3600).contains(&lag),
        "the oldest pending write: {lag}"
    );
    assert_eq!(health["calls_today"], 3);
    assert_eq!(health["daily_limit"], 250_000);
    assert_eq!(health["error_ratio"], 0.05);
    assert_eq!(health["error_ratio_bar"], 0.05);

    let (status, quiet_health) = client.get(&format!("/admin/portals/{quiet}/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(quiet_health["events_last_day"], 1);
    assert_eq!(quiet_health["writeback_backlog"], 0);
    assert_eq!(quiet_health["queue_lag_seconds"], 0);
    assert_eq!(quiet_health["calls_today"], 0);
    assert_eq!(
        quiet_health["daily_limit"],
        Value::Null,
        "the public app has none"
    );
    assert_eq!(
        quiet_health["error_ratio"],
        Value::Null,
        "no HubSpot answers today, no ratio"
    );

    // The agency's portal list carries the same object.
    let (status, list) = client
        .get(&format!("/admin/agencies/{}/portals", t.agency))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed = list["portals"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["portal_id"], portal.get());
    assert_eq!(listed[0]["health"]["events_last_day"], 5);
    assert_eq!(listed[0]["health"]["calls_today"], 3);
    assert_eq!(listed[1]["health"]["portal_id"], quiet.get());

    // HubSpot says the daily limit is spent: paused until the portal's midnight.
    limiter
        .observe(
            portal,
            &limits,
            &Observation::default().rate_limited("DAILY"),
        )
        .await;
    let (_, health) = client.get(&format!("/admin/portals/{portal}/health")).await;
    assert_eq!(health["status"], "paused_daily_limit", "{health}");
    // A stored status wins.
    let mut conn = pool.acquire().await.unwrap();
    portals::set_status(&mut conn, quiet, PortalStatus::NeedsReauth, "test")
        .await
        .unwrap();
    let (_, health) = client.get(&format!("/admin/portals/{quiet}/health")).await;
    assert_eq!(health["status"], "needs_reauth");
    portals::set_status(&mut conn, quiet, PortalStatus::Uninstalled, "test")
        .await
        .unwrap();
    let (_, health) = client.get(&format!("/admin/portals/{quiet}/health")).await;
    assert_eq!(health["status"], "uninstalled");
}

async fn insert_processed_event(api: &TestApi, portal: PortalId, n: u8, age: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO processed_events (portal_id, event_key, processed_at) \
         VALUES ($1, $2, now() - interval '{age}')"
    )))
    .bind(portal.get())
    .bind(vec![n; 32])
    .execute(&api.db.pool)
    .await
    .unwrap();
}

/// A refused write of `contact` at score version `version`; returns its row id.
async fn insert_writeback_dead_letter(
    api: &TestApi,
    portal: PortalId,
    contact: i64,
    version: i64,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO writeback_dead_letters (portal_id, contact_id, version, properties, category, reason) \
         VALUES ($1, $2, $3, '{\"ember_score\": \"42\"}', 'VALIDATION_ERROR', 'Property values were not valid') \
         RETURNING id",
    )
    .bind(portal.get())
    .bind(contact)
    .bind(version)
    .fetch_one(&api.db.pool)
    .await
    .unwrap()
}

async fn dead_letter_rows(api: &TestApi, portal: PortalId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM writeback_dead_letters WHERE portal_id = $1")
        .bind(portal.get())
        .fetch_one(&api.db.pool)
        .await
        .unwrap()
}

async fn insert_contact(api: &TestApi, portal: PortalId, contact: i64, score_version: i64) {
    sqlx::query(
        "INSERT INTO contacts (portal_id, contact_id, score_version, score_values) \
         VALUES ($1, $2, $3, '{\"ember_score\": \"42\"}')",
    )
    .bind(portal.get())
    .bind(contact)
    .bind(score_version)
    .execute(&api.db.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_dead_lettered_writeback_is_listed_and_replayed_into_the_outbox() {
    let api = spawn().await;
    let t = team(&api, 700).await;
    let portal = new_portal(&api, 7_001, t.agency, AppKind::Public, None).await;
    let other = new_portal(&api, 7_002, t.agency, AppKind::Public, None).await;
    insert_contact(&api, portal, 31, 3).await;
    insert_contact(&api, portal, 32, 5).await;
    let current = insert_writeback_dead_letter(&api, portal, 31, 3).await;
    let stale = insert_writeback_dead_letter(&api, portal, 32, 4).await;
    insert_writeback_dead_letter(&api, other, 33, 1).await;

    let client = &t.editor.1;
    let (status, body) = client
        .get(&format!("/admin/portals/{portal}/dead-letters"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "only this portal's: {body}");
    let item = items
        .iter()
        .find(|i| i["id"] == format!("writeback-{current}"))
        .unwrap();
    assert_eq!(item["kind"], "writeback");
    assert_eq!(item["reason"], "VALIDATION_ERROR");
    assert_eq!(item["contact_id"], 31);
    assert!(item["at"].as_str().unwrap().contains('T'));
    let detail = item["detail"].as_str().unwrap();
    assert!(
        detail.contains("Property values were not valid") && detail.contains("ember_score=42"),
        "{detail}"
    );

    let (status, body) = client
        .send(
            Method::POST,
            &format!("/admin/portals/{portal}/dead-letters/writeback-{current}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["replayed"], format!("writeback-{current}"));
    assert_eq!(body["outcome"], "requeued");
    let outbox: (serde_json::Value, i64) = sqlx::query_as(
        "SELECT properties, version FROM score_outbox WHERE portal_id = $1 AND contact_id = 31",
    )
    .bind(portal.get())
    .fetch_one(&api.db.pool)
    .await
    .unwrap();
    assert_eq!(outbox, (json!({"ember_score": "42"}), 3));

    // The contact has a newer score than the stale dead letter: nothing older is written.
    let (status, body) = client
        .send(
            Method::POST,
            &format!("/admin/portals/{portal}/dead-letters/writeback-{stale}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "superseded");
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM score_outbox WHERE portal_id = $1 AND contact_id = 32",
    )
    .bind(portal.get())
    .fetch_one(&api.db.pool)
    .await
    .unwrap();
    assert_eq!(pending, 0);
    assert_eq!(dead_letter_rows(&api, portal).await, 0);
    assert_eq!(
        dead_letter_rows(&api, other).await,
        1,
        "the other portal's stays"
    );

    // Replayed already, another portal's, or not an id at all.
    let other_id: i64 = sqlx::query_scalar("SELECT id FROM writeback_dead_letters")
        .fetch_one(&api.db.pool)
        .await
        .unwrap();
    for (id, expected) in [
        (format!("writeback-{current}"), StatusCode::NOT_FOUND),
        (format!("writeback-{other_id}"), StatusCode::NOT_FOUND),
        ("writeback-x".to_owned(), StatusCode::BAD_REQUEST),
        ("banana".to_owned(), StatusCode::BAD_REQUEST),
        ("event-xyz".to_owned(), StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = client
            .send(
                Method::POST,
                &format!("/admin/portals/{portal}/dead-letters/{id}/replay"),
                None,
            )
            .await;
        assert_eq!(status, expected, "{id}: {body}");
    }
    assert_eq!(dead_letter_rows(&api, other).await, 1);
}

/// Dead-letters a message as the worker does: to `<prefix>.dead` with Ember's failure headers.
async fn dead_letter_message(
    api: &TestApi,
    portal: i64,
    body: &[u8],
    error: &str,
    failed_at: &str,
) {
    let conn = api.broker.connect().await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut headers = FieldTable::default();
    for (name, value) in [
        (ERROR_HEADER, error),
        (FAILED_AT_HEADER, failed_at),
        (ROUTING_KEY_HEADER, &format!("portal.{portal}")),
        (WORKER_HEADER, "test-worker"),
    ] {
        headers.insert(ShortString::from(name), AMQPValue::LongString(value.into()));
    }
    headers.insert(
        ShortString::from("x-ember-attempts"),
        AMQPValue::LongLongInt(5),
    );
    let confirm = channel
        .basic_publish(
            api.broker.topology.dead_letter_exchange().as_str().into(),
            format!("portal.{portal}").as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(confirm, Confirmation::Ack(None));
    conn.close(200, "done".into()).await.unwrap();
}

#[tokio::test]
async fn an_event_dead_letter_of_the_portal_is_listed_and_exactly_it_is_replayed() {
    let api = spawn().await;
    let t = team(&api, 800).await;
    let portal = new_portal(&api, 8_001, t.agency, AppKind::Public, None).await;
    let t0 = Utc::now().timestamp_millis();
    let first = batch(
        portal.get(),
        vec![property_event(portal.get(), 1, "industry", "SaaS", 1, t0)],
    );
    let second = batch(
        portal.get(),
        vec![property_event(portal.get(), 2, "industry", "Retail", 2, t0)],
    );
    let theirs = batch(
        9_999,
        vec![property_event(9_999, 3, "industry", "SaaS", 3, t0)],
    );
    let first_body = serde_json::to_vec(&first).unwrap();
    dead_letter_message(
        &api,
        portal.get(),
        &first_body,
        "snapshot update failed: boom",
        "2026-11-28T10:00:00+00:00",
    )
    .await;
    dead_letter_message(
        &api,
        portal.get(),
        &serde_json::to_vec(&second).unwrap(),
        "model failed",
        "2026-11-28T11:00:00+00:00",
    )
    .await;
    dead_letter_message(
        &api,
        9_999,
        &serde_json::to_vec(&theirs).unwrap(),
        "other",
        "2026-11-28T12:00:00+00:00",
    )
    .await;
    let dead = api.broker.topology.dead_letter_queue();
    let events = api.broker.topology.events_queue();

    let client = &t.editor.1;
    let (status, body) = client
        .get(&format!("/admin/portals/{portal}/dead-letters"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "not the other portal's: {body}");
    assert_eq!(items[0]["reason"], "model failed", "newest first");
    let item = &items[1];
    assert_eq!(item["kind"], "event");
    assert_eq!(item["reason"], "snapshot update failed: boom");
    assert_eq!(item["at"], "2026-11-28T10:00:00Z");
    assert_eq!(item["contact_id"], Value::Null);
    let detail = item["detail"].as_str().unwrap();
    assert!(
        detail.contains("1 event(s)") && detail.contains("5 attempt(s)"),
        "{detail}"
    );
    assert_eq!(
        api.broker.depth(&dead).await.unwrap(),
        3,
        "listing leaves them all"
    );

    let id = item["id"].as_str().unwrap().to_owned();
    let (status, body) = client
        .send(
            Method::POST,
            &format!("/admin/portals/{portal}/dead-letters/{id}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["replayed"], id);
    assert_eq!(api.broker.depth(&dead).await.unwrap(), 2, "the others stay");
    let replayed = api.broker.drain_events().await.unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(
        replayed[0].request_id, first.request_id,
        "exactly that message"
    );
    assert_eq!(api.broker.depth(&events).await.unwrap(), 0);

    let (_, body) = client
        .get(&format!("/admin/portals/{portal}/dead-letters"))
        .await;
    let left: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["model failed"]);

    // Replayed already: 404, and nothing moves; another portal's message cannot be replayed
    // through this one.
    let (status, _) = client
        .send(
            Method::POST,
            &format!("/admin/portals/{portal}/dead-letters/{id}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let all =
        ember_core::queue::dead_letters::list(&api.settings.amqp.url, &api.broker.topology, 10)
            .await
            .unwrap();
    let their_id = all
        .iter()
        .find(|d| d.portal_id == Some(9_999))
        .unwrap()
        .id
        .clone();
    let (status, _) = client
        .send(
            Method::POST,
            &format!("/admin/portals/{portal}/dead-letters/{their_id}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(api.broker.depth(&dead).await.unwrap(), 2);
    assert_eq!(api.broker.depth(&events).await.unwrap(), 0);
}

#[tokio::test]
async fn rejections_that_name_the_portal_are_listed_without_values() {
    let api = spawn().await;
    let t = team(&api, 900).await;
    let portal = new_portal(&api, 9_001, t.agency, AppKind::Public, None).await;
    portals::set_webhook_secret(&api.db.pool, portal, "portal-secret")
        .await
        .unwrap();

    // A workflow with the wrong secret: the path names the portal.
    let response = api
        .client
        .post(format!("{}/webhooks/workflow/{portal}", api.address))
        .header("x-ember-webhook-secret", "wrong")
        .json(&json!({"objectId": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A signed app webhook with a bad value: its events name the portal.
    let now = Utc::now().timestamp_millis();
    let mut events = ember_tests::property_change_events(portal.get(), 1, 1, now);
    events[0]["occurredAt"] = json!("jane@example.com");
    let response = api
        .post_app_webhook(&events.to_string(), now)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // An unsigned body names a portal that nobody authenticated: not recorded.
    let response = api
        .client
        .post(format!("{}/webhooks/hubspot", api.address))
        .header("content-type", "application/json")
        .body(events.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let (status, body) = t
        .viewer
        .1
        .get(&format!("/admin/portals/{portal}/rejections"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{body}");
    assert_eq!(items[0]["status"], 400, "newest first: {body}");
    let detail = items[0]["detail"].as_str().unwrap();
    assert!(detail.contains("occurredAt"), "{detail}");
    assert!(
        !detail.contains("jane@example.com"),
        "no values from the body: {detail}"
    );
    assert_eq!(items[1]["status"], 401);
    assert_eq!(items[1]["reason"], "invalid_signature");
    assert!(
        items[1]["detail"].as_str().unwrap().contains("secret"),
        "{body}"
    );
    assert!(items[1]["at"].as_str().unwrap().contains('T'));
    assert!(!body.to_string().contains("wrong"), "no secrets: {body}");
}

#[tokio::test]
async fn the_openapi_document_describes_the_operations_and_team_routes() {
    let api = spawn().await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", api.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method, operation) in [
        ("/admin/portals/{portal}/health", "get", "portal_health"),
        (
            "/admin/portals/{portal}/dead-letters",
            "get",
            "list_dead_letters",
        ),
        (
            "/admin/portals/{portal}/dead-letters/{id}/replay",
            "post",
            "replay_dead_letter",
        ),
        (
            "/admin/portals/{portal}/rejections",
            "get",
            "list_rejections",
        ),
        ("/admin/agencies/{agency}/members", "get", "list_members"),
        (
            "/admin/agencies/{agency}/members/{person}",
            "put",
            "set_member_role",
        ),
        (
            "/admin/agencies/{agency}/members/{person}",
            "delete",
            "remove_member",
        ),
    ] {
        assert_eq!(
            doc["paths"][path][method]["operationId"], operation,
            "{method} {path}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["HealthStatus"]["enum"],
        json!([
            "installed",
            "needs_reauth",
            "paused_daily_limit",
            "uninstalled"
        ])
    );
    assert_eq!(
        schemas["Role"]["enum"],
        json!(["owner", "editor", "viewer"])
    );
    for field in ["queue_lag_seconds", "calls_today", "error_ratio_bar"] {
        assert!(
            schemas["Health"]["properties"].get(field).is_some(),
            "Health.{field}"
        );
    }
    assert_eq!(
        schemas["DeadLetterKind"]["enum"],
        json!(["writeback", "event"])
    );
    // Invites: create, list, revoke; the role is the enum wherever it appears.
    for (path, method, operation) in [
        ("/admin/agencies/{agency}/invites", "post", "create_invite"),
        ("/admin/agencies/{agency}/invites", "get", "list_invites"),
        (
            "/admin/agencies/{agency}/invites/{invite}",
            "delete",
            "revoke_invite",
        ),
    ] {
        assert_eq!(
            doc["paths"][path][method]["operationId"], operation,
            "{method} {path}"
        );
    }
    for (schema, field) in [
        ("InviteRequest", "role"),
        ("InviteView", "role"),
        ("MembershipView", "role"),
        ("MemberView", "role"),
        ("RoleChange", "role"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["$ref"], "#/components/schemas/Role",
            "{schema}.{field}"
        );
    }
    let portal_view = serde_json::to_string(&schemas["PortalView"]).unwrap();
    assert!(
        portal_view.contains(r##""role":{"$ref":"#/components/schemas/Role"}"##),
        "PortalView.role: {portal_view}"
    );
    assert_eq!(
        schemas["PortalStatus"]["enum"],
        json!(["active", "needs_reauth", "uninstalled"])
    );
    for field in ["email", "expires_in_hours", "max_uses"] {
        assert!(
            schemas["InviteRequest"]["properties"].get(field).is_some(),
            "InviteRequest.{field}"
        );
    }
}

async fn invite_count(api: &TestApi, agency: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM invites WHERE agency_id = $1")
        .bind(agency)
        .fetch_one(&api.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn invite_requests_with_bad_input_or_from_non_owners_are_refused_with_a_reason() {
    let api = spawn().await;
    let t = team(&api, 1_100).await;
    let theirs = team(&api, 1_110).await;
    let path = format!("/admin/agencies/{}/invites", t.agency);
    for (body, code) in [
        (json!({"role": "admin"}), "invalid_role"),
        (json!({"role": "viewer", "max_uses": 0}), "invalid_max_uses"),
        (
            json!({"role": "viewer", "max_uses": -3}),
            "invalid_max_uses",
        ),
        (
            json!({"role": "viewer", "max_uses": 101}),
            "invalid_max_uses",
        ),
        (
            json!({"role": "viewer", "expires_in_hours": 0}),
            "invalid_expiry",
        ),
        (
            json!({"role": "viewer", "expires_in_hours": 24 * 31}),
            "invalid_expiry",
        ),
        (json!({"role": "viewer", "email": "ana@"}), "invalid_email"),
        // The old `days` field is not silently ignored.
        (json!({"role": "viewer", "days": 7}), "invalid_body"),
        (json!({"email": "ana@example.com"}), "invalid_body"),
    ] {
        let (status, reply) = t
            .owner
            .1
            .send(Method::POST, &path, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_eq!(reply["error"], code, "{body}: {reply}");
        assert!(
            !reply["message"].as_str().unwrap_or_default().is_empty(),
            "{reply}"
        );
    }
    assert_eq!(invite_count(&api, t.agency).await, 0, "nothing stored");

    // Only owners create, list and revoke; without the CSRF token nothing is created.
    let good = json!({"role": "viewer"});
    for member in [&t.editor.1, &t.viewer.1] {
        let (status, _) = member.send(Method::POST, &path, Some(good.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(member.get(&path).await.0, StatusCode::FORBIDDEN);
    }
    let (status, _) = t
        .owner
        .1
        .send_with(Method::POST, &path, Some(good.clone()), false)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(invite_count(&api, t.agency).await, 0);
    let (status, created) = t.owner.1.send(Method::POST, &path, Some(good)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["invite"]["role"], "viewer");
    assert_eq!(created["invite"]["created_by"], t.owner.0);
    let id = created["invite"]["invite_id"].as_i64().unwrap();
    let one = format!("{path}/{id}");
    assert_eq!(
        t.editor.1.send(Method::DELETE, &one, None).await.0,
        StatusCode::FORBIDDEN
    );
    // Another agency's owner: 404, whether they name our agency or theirs.
    for other in [
        one.clone(),
        format!("/admin/agencies/{}/invites/{id}", theirs.agency),
        format!("/admin/agencies/{}/invites/0", theirs.agency),
    ] {
        assert_eq!(
            theirs.owner.1.send(Method::DELETE, &other, None).await.0,
            StatusCode::NOT_FOUND,
            "{other}"
        );
    }
    let (status, list) = t.owner.1.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["invites"][0]["invite_id"], id, "still pending: {list}");
    assert_eq!(
        theirs.owner.1.get(&path).await.0,
        StatusCode::NOT_FOUND,
        "another agency's list"
    );
}

#[tokio::test]
async fn an_owner_who_stops_being_an_owner_loses_their_pending_invites() {
    let api = spawn().await;
    let t = team(&api, 1_200).await;
    let second_owner = new_person(&api, 1_299, Some("second@agency.test")).await;
    join(&api, t.agency, second_owner, Role::Owner).await;
    let second = Client::sign_in(&api, second_owner).await;
    let path = format!("/admin/agencies/{}/invites", t.agency);
    for _ in 0..2 {
        let (status, body) = t
            .owner
            .1
            .send(Method::POST, &path, Some(json!({"role": "editor"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = second
        .send(Method::POST, &path, Some(json!({"role": "viewer"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let kept = body["invite"]["invite_id"].as_i64().unwrap();

    let (status, body) = second
        .send(
            Method::PUT,
            &format!("/admin/agencies/{}/members/{}", t.agency, t.owner.0),
            Some(json!({"role": "editor"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows: Vec<(i64, bool, Option<i64>)> = sqlx::query_as(
        "SELECT invite_id, revoked_at IS NOT NULL, revoked_by FROM invites          WHERE agency_id = $1 ORDER BY invite_id",
    )
    .bind(t.agency)
    .fetch_all(&api.db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .filter(|(id, ..)| *id != kept)
            .all(|(_, revoked, by)| *revoked && by.is_none()),
        "{rows:?}"
    );
    assert!(rows.iter().any(|(id, revoked, _)| *id == kept && !revoked));
    let (_, list) = second.get(&path).await;
    let pending: Vec<i64> = list["invites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["invite_id"].as_i64().unwrap())
        .collect();
    assert_eq!(pending, vec![kept]);
}

/// Issue 13: a body that is not JSON, or a path segment that is not a number, came back as
/// `text/plain` from actix. Every error is the JSON error body of the OpenAPI document.
#[tokio::test]
async fn refusals_before_a_handler_runs_are_json_error_bodies() {
    let api = spawn().await;
    let owner = new_person(&api, 8101, Some("owner@example.com")).await;
    let agency = new_agency(&api, owner).await;
    let client = Client::sign_in(&api, owner).await;
    let csrf = client.csrf.clone().unwrap();
    let raw = |method: Method, path: &str, body: &'static str| {
        client
            .http
            .request(method, format!("{}{path}", client.base))
            .header("cookie", client.cookie.clone())
            .header("x-csrf-token", csrf.clone())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases = [
        (
            Method::POST,
            format!("/admin/agencies/{agency}/portals"),
            "{not json",
            400,
            "invalid_json",
        ),
        // A Service Key has no 150 tier (docs/tenancy.md "Service Keys").
        (
            Method::POST,
            format!("/admin/agencies/{agency}/portals"),
            r#"{"portal_id": 4242, "token": "svc-na1-x", "tier": 150, "credential": "service_key"}"#,
            400,
            "invalid_tier",
        ),
        (
            Method::POST,
            format!("/admin/agencies/{agency}/portals"),
            r#"{"portal_id": 4242, "token": "k", "tier": 100, "credential": "api_key"}"#,
            400,
            "invalid_json",
        ),
        (
            Method::GET,
            "/admin/portals/not-a-number".to_owned(),
            "",
            404,
            "not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let response = raw(method.clone(), &path, body).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{method} {path}: {content_type}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{method} {path}: {body}");
        assert_eq!(body["error"], code, "{method} {path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

async fn workflow_call(api: &TestApi, portal: PortalId, secret: &str) -> StatusCode {
    api.client
        .post(format!(
            "{}/webhooks/workflow/{portal}?workflowId=7",
            api.address
        ))
        .header("x-ember-webhook-secret", secret)
        .json(&json!({"objectId": 1, "event": "demo_requested"}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn editors_rotate_the_webhook_secret_which_is_shown_once_and_applies_at_once() {
    let api = spawn().await;
    let t = team(&api, 1_000).await;
    let portal = new_portal(&api, 9_101, t.agency, AppKind::Public, None).await;
    portals::set_webhook_secret(&api.db.pool, portal, "old-secret")
        .await
        .unwrap();
    // This process now caches the old secret's hash (for 10 s by default).
    assert_eq!(
        workflow_call(&api, portal, "old-secret").await,
        StatusCode::OK
    );

    let path = format!("/admin/portals/{portal}/webhook-secret");
    let (status, body) = t.viewer.1.send(Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "viewers may not: {body}");
    let (status, body) = t.editor.1.send_with(Method::POST, &path, None, false).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token: {body}");
    assert_eq!(body["error"], "csrf");
    let (status, body) = t
        .editor
        .1
        .send(Method::POST, "/admin/portals/4242/webhook-secret", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "outside the agency: {body}");

    let (status, body) = t.editor.1.send(Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("ewhs_") && secret.len() >= 40, "{body}");
    assert_eq!(
        body["webhook_url"],
        format!(
            "{}/webhooks/workflow/{portal}",
            api.settings.public_base_url
        )
    );
    assert_eq!(body["header"], "x-ember-webhook-secret");
    // Only the hash is stored.
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT webhook_secret_sha256 FROM portals WHERE portal_id = $1")
            .bind(portal.get())
            .fetch_one(&api.db.pool)
            .await
            .unwrap();
    use sha2::Digest as _;
    assert_eq!(stored, sha2::Sha256::digest(secret.as_bytes()).to_vec());
    // At once in this process, cache or not: the new one works, the old one does not.
    assert_eq!(workflow_call(&api, portal, &secret).await, StatusCode::OK);
    assert_eq!(
        workflow_call(&api, portal, "old-secret").await,
        StatusCode::UNAUTHORIZED
    );
    // Rotating again replaces it.
    let (_, again) = t.owner.1.send(Method::POST, &path, None).await;
    assert_ne!(again["secret"], body["secret"]);
    assert_eq!(
        workflow_call(&api, portal, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(api.broker.drain_events().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_flood_of_wrong_secrets_leaves_one_sampled_entry_in_the_rejection_feed() {
    let api = spawn().await;
    let t = team(&api, 1_100).await;
    let portal = new_portal(&api, 9_201, t.agency, AppKind::Public, None).await;
    portals::set_webhook_secret(&api.db.pool, portal, "portal-secret")
        .await
        .unwrap();
    // Below the default limit of 20 a minute: every one is a 401.
    for guess in 0..15 {
        assert_eq!(
            workflow_call(&api, portal, &format!("guess-{guess}")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // A real problem of the portal (an authenticated call with a bad body) is still listed.
    let response = api
        .client
        .post(format!(
            "{}/webhooks/workflow/{portal}?workflowId=7",
            api.address
        ))
        .header("x-ember-webhook-secret", "portal-secret")
        .json(&json!({"event": "demo_requested"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let (status, body) = t
        .viewer
        .1
        .get(&format!("/admin/portals/{portal}/rejections"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "one sample and the real problem: {body}");
    assert_eq!(items[0]["status"], 400, "{body}");
    assert_eq!(items[0]["suppressed"], 0);
    assert_eq!(items[1]["status"], 401, "{body}");
    assert_eq!(
        items[1]["suppressed"], 14,
        "the other guesses are counted: {body}"
    );
    let metrics = reqwest::get(format!("{}/metrics", api.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let suppressed: f64 = metrics
        .lines()
        .find(|l| l.starts_with("ember_intake_rejections_suppressed_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .expect("the suppressed counter is exported");
    assert!(suppressed >= 14.0, "{suppressed}");
}

//! Shared by the admin API scenarios: an api (with the install flow's state, pointed at
//! `hubspot-sim`) over its own database, people, agencies and portals created through Ember's
//! store functions, sessions signed exactly as sign-in signs them, and scored contacts.

#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use ember_api::session::Signer;
use ember_core::domain::Role;
use ember_core::domain::{ObjectId, PortalId};
use ember_core::scoring::Model;
use ember_core::store::contacts::{ContactRecord, PropertyValue};
use ember_tests::TestApi;
use hubspot_sim::{SimConfig, SimHandle, SimServer};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::Value;

pub const ENCRYPTION_KEY: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";

/// The api under test and the simulator it calls.
pub struct Admin {
    pub api: TestApi,
    pub sim: SimHandle,
    signer: Signer,
    http: reqwest::Client,
}

/// A signed-in person: their session cookie and its CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub person: i64,
    pub cookie: String,
    pub csrf: String,
}

/// An answer: status and body (JSON when it parses, else the text as a JSON string).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

/// One contact to seed: id, properties, and engagement (rule id, how long ago).
pub struct SeedContact {
    pub id: i64,
    pub properties: Vec<(&'static str, &'static str)>,
    pub engagement: Vec<(&'static str, Duration)>,
}

impl Admin {
    pub async fn start() -> Self {
        ember_tests::init();
        let sim = SimServer::start(SimConfig {
            clock_speed: 0.0,
            ..SimConfig::default()
        })
        .await
        .expect("sim");
        let base = sim.base_url();
        let api = TestApi::spawn_with(|s| {
            s.hubspot.api_base_url = base.clone();
            s.hubspot.auth_base_url = base.clone();
            s.encryption_key = Some(SecretString::from(ENCRYPTION_KEY.to_owned()));
        })
        .await
        .expect("api");
        let signer =
            Signer::new(&SecretString::from(api.secret.clone()), 600, 3600, false).expect("signer");
        Self {
            api,
            sim,
            signer,
            http: reqwest::Client::new(),
        }
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.api.db.pool
    }

    /// A person (as sign-in creates one) with this HubSpot user id and e-mail.
    pub async fn person(&self, hub_user: i64, email: &str) -> i64 {
        let mut conn = self.pool().acquire().await.unwrap();
        ember_core::store::agencies::upsert_person(&mut conn, hub_user, Some(email))
            .await
            .unwrap()
    }

    /// An agency owned by `owner`.
    pub async fn agency(&self, name: &str, owner: i64) -> i64 {
        let mut conn = self.pool().acquire().await.unwrap();
        ember_core::store::agencies::create(&mut conn, name, owner)
            .await
            .unwrap()
    }

    pub async fn member(&self, agency: i64, person: i64, role: Role) {
        let mut conn = self.pool().acquire().await.unwrap();
        ember_core::store::agencies::add_member(&mut conn, agency, person, role)
            .await
            .unwrap();
    }

    /// An installed portal of `agency`.
    pub async fn portal(&self, portal: i64, agency: i64) -> PortalId {
        let id = self.api.db.add_portal(portal).await.unwrap();
        sqlx::query("UPDATE portals SET agency_id = $1 WHERE portal_id = $2")
            .bind(agency)
            .bind(portal)
            .execute(self.pool())
            .await
            .unwrap();
        id
    }

    /// A live session for `person`, signed as the OAuth callback signs it.
    pub async fn sign_in(&self, person: i64) -> Session {
        let sid = ember_core::store::sessions::create(
            self.pool(),
            person,
            Utc::now() + Duration::hours(1),
        )
        .await
        .unwrap();
        Session {
            person,
            cookie: self.signer.new_session(sid, person).unwrap(),
            csrf: self.signer.csrf_token(sid),
        }
    }

    /// A request as a script would send it: session cookie, and the CSRF header on changes.
    pub async fn call(
        &self,
        session: Option<&Session>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let csrf = session.map(|s| s.csrf.clone());
        self.call_with_csrf(session, method, path, body, csrf.as_deref())
            .await
    }

    /// Like [`Self::call`] with a chosen CSRF header (`None`: none at all).
    pub async fn call_with_csrf(
        &self,
        session: Option<&Session>,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: Option<&str>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.api.address));
        if let Some(s) = session {
            req = req.header("cookie", format!("ember_session={}", s.cookie));
        }
        if method != Method::GET
            && let Some(token) = csrf
        {
            req = req.header("x-csrf-token", token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }

    pub async fn get(&self, session: &Session, path: &str) -> Reply {
        self.call(Some(session), Method::GET, path, None).await
    }

    pub async fn post(&self, session: &Session, path: &str, body: Option<Value>) -> Reply {
        self.call(Some(session), Method::POST, path, body).await
    }

    /// Stores contacts with their snapshot and ledger, scored with `model` at `now` as the
    /// worker would have stored them.
    pub async fn seed_contacts(
        &self,
        portal: PortalId,
        model: &Model,
        version: i32,
        contacts: &[SeedContact],
        now: DateTime<Utc>,
    ) {
        let compiled = model.validate().expect("valid model");
        let records: Vec<ContactRecord> = contacts
            .iter()
            .map(|c| {
                let mut r = ContactRecord::new(ObjectId::new(c.id).unwrap());
                r.properties = c
                    .properties
                    .iter()
                    .map(|(k, v)| {
                        (
                            (*k).to_owned(),
                            PropertyValue {
                                v: (*v).to_owned(),
                                t: now.timestamp_millis(),
                            },
                        )
                    })
                    .collect();
                r.ledger = c
                    .engagement
                    .iter()
                    .map(|(rule, ago)| ((*rule).to_owned(), (now - *ago).timestamp_millis()))
                    .collect();
                r.ledger.sort();
                let snapshot: ember_core::scoring::Snapshot =
                    c.properties.iter().copied().collect();
                let ledger: ember_core::scoring::Ledger = r
                    .ledger
                    .iter()
                    .map(|(rule, t)| ember_core::scoring::LedgerEntry {
                        rule: ember_core::scoring::RuleId::parse(rule.as_str()).unwrap(),
                        occurred_at: DateTime::from_timestamp_millis(*t).unwrap(),
                    })
                    .collect();
                let scored = compiled.score(&snapshot, &ledger, now);
                r.score_total = Some(scored.rounded_total() as i32);
                r.score_values = Some(scored.hubspot_values(&compiled));
                r.model_version = Some(version);
                r.scored_at = Some(now);
                r
            })
            .collect();
        let mut conn = self.pool().acquire().await.unwrap();
        ember_core::store::contacts::save(&mut conn, portal, &records)
            .await
            .unwrap();
    }

    /// Rows of a table for a portal (to prove a refused change stored nothing).
    pub async fn count(&self, table: &str, portal: PortalId) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE portal_id = $1"
        )))
        .bind(portal.get())
        .fetch_one(self.pool())
        .await
        .unwrap()
    }
}

/// The built-in model as JSON, to edit in tests.
pub fn default_model_json() -> Value {
    serde_json::to_value(Model::default_model()).unwrap()
}

/// Fit properties that reach a high total with the default model.
pub fn strong_fit() -> Vec<(&'static str, &'static str)> {
    vec![
        ("email", "cto@bigco.example"),
        ("firstname", "Ada"),
        ("lastname", "Lovelace"),
        ("numberofemployees", "500"),
        ("industry", "SaaS"),
        ("jobtitle", "CTO"),
        ("phone", "+1 555 0100"),
    ]
}

/// Totals per contact id, from a list answer.
pub fn totals(list: &Value) -> BTreeMap<i64, i64> {
    list["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["contact_id"].as_i64().unwrap(),
                c["total"].as_i64().unwrap(),
            )
        })
        .collect()
}

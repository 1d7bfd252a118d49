//! The simulator's control API (`/_sim/...`) over HTTP, as a separate process is driven.

use std::collections::BTreeMap;

use anyhow::Context;
use hubspot_sim::{ContactView, DeliveryAttempt, Faults, PortalInfo, PortalSpec, TrafficSummary};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// One HubSpot-path call the simulator answered (the fields the test reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub endpoint: String,
    pub portal: Option<u64>,
    pub status: u16,
}

/// `GET /_sim/legacy`: calls on HubSpot's legacy paths, and whether they are refused.
#[derive(Debug, Clone, Deserialize)]
pub struct Legacy {
    pub calls: u64,
    pub refuse: bool,
}

pub struct SimControl {
    http: reqwest::Client,
    pub base: String,
}

impl SimControl {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let response = request
            .send()
            .await
            .context("the simulator did not answer")?;
        let status = response.status();
        let url = response.url().to_string();
        let body = response.bytes().await?;
        anyhow::ensure!(
            status.is_success(),
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let body: &[u8] = if body.is_empty() { b"null" } else { &body };
        serde_json::from_slice(body).with_context(|| format!("unexpected answer from {url}"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/_sim{path}", self.base)
    }

    pub async fn healthy(&self) -> bool {
        self.http
            .get(self.url("/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    pub async fn create_portal(&self, contacts: usize) -> anyhow::Result<PortalInfo> {
        let spec = PortalSpec {
            contacts,
            ..PortalSpec::default()
        };
        self.send(self.http.post(self.url("/portals")).json(&spec))
            .await
    }

    /// Which portal consents on the authorize page.
    pub async fn consent_as(&self, portal: u64) -> anyhow::Result<()> {
        self.send::<()>(
            self.http
                .put(self.url("/authorize"))
                .json(&json!({"deny": false, "portal": portal})),
        )
        .await
    }

    pub async fn set_faults(&self, faults: &Faults) -> anyhow::Result<()> {
        self.send::<()>(self.http.put(self.url("/faults")).json(faults))
            .await
    }

    /// Generates `engagements` engagement events in one go, `spacing_ms` apart in simulator time,
    /// the last one now.
    pub async fn traffic(
        &self,
        portal: u64,
        engagements: usize,
        seed: u64,
        spacing_ms: i64,
    ) -> anyhow::Result<TrafficSummary> {
        self.send(
            self.http
                .post(self.url(&format!("/portals/{portal}/traffic")))
                .json(&json!({
                    "events": engagements,
                    "options": {"seed": seed, "spacingMs": spacing_ms}
                })),
        )
        .await
    }

    pub async fn deliveries(&self) -> anyhow::Result<Vec<DeliveryAttempt>> {
        self.send(self.http.get(self.url("/deliveries"))).await
    }

    pub async fn calls(&self) -> anyhow::Result<Vec<Call>> {
        self.send(self.http.get(self.url("/calls"))).await
    }

    /// Calls on HubSpot's legacy paths (`/oauth/v1`, `/crm/v3`, ...); Ember's must be 0.
    pub async fn legacy(&self) -> anyhow::Result<Legacy> {
        self.send(self.http.get(self.url("/legacy"))).await
    }

    /// 429s by `policyName`, over every portal.
    pub async fn rate_limited(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        self.send(self.http.get(self.url("/rate-limited"))).await
    }

    pub async fn contact(&self, portal: u64, id: u64) -> anyhow::Result<ContactView> {
        self.send(
            self.http
                .get(self.url(&format!("/portals/{portal}/contacts/{id}"))),
        )
        .await
    }

    /// Simulator time, epoch ms.
    pub async fn now_ms(&self) -> anyhow::Result<i64> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Clock {
            now_ms: i64,
        }
        let clock: Clock = self.send(self.http.get(self.url("/clock"))).await?;
        Ok(clock.now_ms)
    }

    /// Moves simulator time forward (so that webhook retries fall due).
    pub async fn advance_ms(&self, ms: i64) -> anyhow::Result<()> {
        self.send::<serde_json::Value>(
            self.http
                .post(self.url("/clock"))
                .json(&json!({"advanceMs": ms})),
        )
        .await
        .map(|_| ())
    }
}

//! [`HubSpot`]: the concrete HTTP client. One `reqwest` client, two base URLs (API host and
//! authorize host; tests point both at `hubspot-sim`), the app's OAuth credentials, and an
//! optional [`CallGate`]. It knows nothing of Postgres: every call takes the portal and its
//! access token as arguments.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::Error;
use crate::gate::CallGate;
use crate::telemetry::{RateLimitTelemetry, Reply};

/// Where HubSpot is and who the app is.
#[derive(Clone)]
pub struct HubSpotConfig {
    /// `https://api.hubapi.com` or the simulator.
    pub api_base_url: Url,
    /// `https://app.hubspot.com` or the simulator (the authorize page).
    pub auth_base_url: Url,
    /// The public app's client id.
    pub client_id: String,
    /// The app's client secret; needed for code exchange and refresh only.
    pub client_secret: Option<SecretString>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for HubSpotConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotConfig")
            .field("api_base_url", &self.api_base_url.as_str())
            .field("auth_base_url", &self.auth_base_url.as_str())
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The HubSpot client. Cheap to clone.
#[derive(Clone)]
pub struct HubSpot {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) config: HubSpotConfig,
    pub(crate) gate: Option<Arc<dyn CallGate>>,
}

impl std::fmt::Debug for HubSpot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpot")
            .field("config", &self.inner.config)
            .field("gated", &self.inner.gate.is_some())
            .finish()
    }
}

impl HubSpot {
    /// A client without a gate. Redirects are never followed (the OAuth docs' advice against
    /// SSRF, and HubSpot's API does not redirect).
    pub fn new(config: HubSpotConfig) -> Result<Self, Error> {
        // reqwest is built without a TLS provider (docs/dependencies.md, "rustls"); a process that has not chosen one
        // gets ring rather than a panic in `build()`.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ember/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::transport)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                gate: None,
            }),
        })
    }

    /// The same client with every gated call going through `gate`.
    pub fn with_gate(&self, gate: Arc<dyn CallGate>) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                config: self.inner.config.clone(),
                gate: Some(gate),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HubSpotConfig {
        &self.inner.config
    }

    /// An API URL: the base joined with `path` (which starts with `/`).
    pub(crate) fn api_url(&self, path: &str) -> Url {
        let mut url = self.inner.config.api_base_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url
    }

    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.inner.http.request(method, url)
    }

    /// Sends a gated, token-authorized call and returns status, telemetry and body. Non-2xx
    /// answers become [`Error::Api`] unless `accept` lists the status.
    pub(crate) async fn send(
        &self,
        endpoint: &'static str,
        portal: i64,
        token: &SecretString,
        request: RequestBuilder,
        accept: &[u16],
    ) -> Result<(u16, RateLimitTelemetry, bytes_body::Body), Error> {
        if let Some(gate) = &self.inner.gate {
            gate.acquire(portal).await?;
        }
        let response = request
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(Error::transport)?;
        let status = response.status().as_u16();
        let telemetry = RateLimitTelemetry::from_headers(status, response.headers());
        if let Some(gate) = &self.inner.gate {
            gate.observe(portal, &telemetry);
        }
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(Error::transport)?;
        if (200..300).contains(&status) || accept.contains(&status) {
            Ok((status, telemetry, bytes_body::Body(body.to_vec())))
        } else {
            tracing::debug!(endpoint, portal, status, "HubSpot refused a call.");
            Err(Error::from_answer(endpoint, status, &headers, &body))
        }
    }

    /// [`HubSpot::send`] and parse the 2xx body as `T`.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        portal: i64,
        token: &SecretString,
        request: RequestBuilder,
    ) -> Result<Reply<T>, Error> {
        let (_, rate_limit, body) = self.send(endpoint, portal, token, request, &[]).await?;
        let value = body.decode(endpoint)?;
        Ok(Reply { value, rate_limit })
    }
}

pub(crate) mod bytes_body {
    use serde::de::DeserializeOwned;

    use crate::error::Error;

    /// A response body.
    pub(crate) struct Body(pub(crate) Vec<u8>);

    impl Body {
        pub(crate) fn decode<T: DeserializeOwned>(
            &self,
            endpoint: &'static str,
        ) -> Result<T, Error> {
            let de = &mut serde_json::Deserializer::from_slice(&self.0);
            serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
                endpoint,
                message: format!("at {}: {}", e.path(), e.inner()),
            })
        }
    }
}

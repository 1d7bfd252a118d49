//! Settings: `config/default.toml` (embedded), then an optional file, then `EMBER_*` environment
//! variables (`__` between sections). Secrets come only from the environment or a file named by
//! a `*_FILE` variable. [`Settings::load`] validates once and reports every problem at once.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

mod worker;

pub use worker::{MAX_WRITEBACK_BATCH, MIN_DEDUPE_RETENTION_DAYS, WorkerSettings};

/// The embedded defaults, also the operator's manual.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub public_base_url: String,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub redis: RedisSettings,
    pub limiter: LimiterSettings,
    pub hubspot: HubSpotSettings,
    pub intake: IntakeSettings,
    pub telemetry: TelemetrySettings,
    pub worker: WorkerSettings,
    /// `ember portal resync` (docs/resync.md).
    pub resync: ResyncSettings,
    /// Base64 of 32 bytes: encrypts tokens at rest. From `EMBER_ENCRYPTION_KEY(_FILE)`.
    #[serde(default)]
    pub encryption_key: Option<SecretString>,
    #[serde(default)]
    encryption_key_file: Option<String>,
    /// Earlier token keys (comma-separated base64), still able to open old rows after a
    /// rotation. From `EMBER_PREVIOUS_ENCRYPTION_KEYS`.
    #[serde(default)]
    pub previous_encryption_keys: Option<SecretString>,
    /// The OAuth install flow, sessions and token refresh.
    pub oauth: OAuthSettings,
}

/// `[oauth]`: the install flow, console sessions and token refresh.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthSettings {
    /// Required scopes asked for at install (docs/hubspot.md D.1).
    pub scopes: Vec<String>,
    /// Optional scopes (`optional_scope`).
    pub optional_scopes: Vec<String>,
    /// Path of the callback under `public_base_url`; the redirect URI registered with HubSpot.
    pub redirect_path: String,
    /// Seconds an install `state` stays valid.
    pub state_lifetime_secs: u64,
    /// Seconds a console session lasts.
    pub session_lifetime_secs: u64,
    /// Refresh an access token when fewer than this many seconds are left.
    pub refresh_margin_secs: u64,
    /// Whether cookies are marked `Secure` (turn off only for plain-http local setups).
    pub secure_cookies: bool,
}

impl OAuthSettings {
    /// The refresh margin.
    pub fn refresh_margin(&self) -> Duration {
        Duration::from_secs(self.refresh_margin_secs)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub body_limit_bytes: usize,
    pub workers: usize,
    /// Time a client has to send a request's head (line and headers).
    pub request_head_timeout_ms: u64,
    /// Time a client has to send a request's whole body, from the end of its head.
    pub body_timeout_ms: u64,
    /// How long a failed real request keeps `/readyz` unready.
    pub readiness_window_secs: u64,
}

impl ServerSettings {
    pub fn request_head_timeout(&self) -> Duration {
        Duration::from_millis(self.request_head_timeout_ms)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }

    pub fn readiness_window(&self) -> Duration {
        Duration::from_secs(self.readiness_window_secs)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    pub url: String,
    pub prefix: String,
    pub confirm_timeout_ms: u64,
    pub retry_after_secs: u64,
    pub publish_in_flight: usize,
    pub max_events_per_message: usize,
    /// The delayed-retry ladder (`core::queue::Topology`), shortest first.
    pub retry_delays_ms: Vec<u32>,
}

impl AmqpSettings {
    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_millis(self.confirm_timeout_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    pub prefix: String,
}

/// The distributed HubSpot rate limiter (`core::limiter`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LimiterSettings {
    /// Calls per window for the public app (HubSpot: 110 per 10 s per account).
    pub public_burst: u32,
    /// HubSpot's rolling window, ms.
    pub window_ms: u64,
    /// Share of every limit left unused (0.05 = 5%).
    pub safety_margin: f64,
    /// Added to the window, ms: absorbs the time between our permit and HubSpot's count.
    pub window_padding_ms: u64,
    /// Ember processes sharing the limits; each takes `limit / processes` while Redis is down.
    pub processes: u32,
    /// Longest wait for one permit before the caller is told to retry later, ms.
    pub max_wait_ms: u64,
    /// Longest wait for Redis before falling back, ms.
    pub redis_timeout_ms: u64,
}

impl LimiterSettings {
    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if !(0.0..0.5).contains(&self.safety_margin) {
            problems.push("limiter.safety_margin must be at least 0 and below 0.5".into());
        }
        if self.public_burst == 0
            || self.processes == 0
            || self.window_ms < 1000
            || self.redis_timeout_ms == 0
        {
            problems.push(
                "limiter.public_burst, limiter.processes and limiter.redis_timeout_ms must be positive, \
                 limiter.window_ms at least 1000"
                    .into(),
            );
        }
    }
}

/// `[resync]`: the on-demand resync of a portal (docs/resync.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ResyncSettings {
    /// At most this share of the account's burst (calls per limiter window) goes to the
    /// resync's list calls: the loop waits `window / floor(burst × share)` between calls.
    pub share: f64,
}

impl ResyncSettings {
    fn validate(&self, problems: &mut Vec<String>) {
        if !(self.share > 0.0 && self.share <= 1.0) {
            problems.push(format!(
                "resync.share must be above 0 and at most 1, got {}",
                self.share
            ));
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct HubSpotSettings {
    pub client_id: String,
    pub app_id: i64,
    pub api_base_url: String,
    pub auth_base_url: String,
    /// The app definition's `maxConcurrentRequests`: webhook requests HubSpot sends at once per
    /// installing account (more than 5).
    pub webhook_max_concurrent_requests: u32,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    client_secret_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IntakeSettings {
    pub max_events_per_request: usize,
    pub signature_window_ms: i64,
    pub queue_unknown_portals: bool,
    pub portal_cache_secs: u64,
    pub webhook_secret: WebhookSecretSettings,
}

/// `[intake.webhook_secret]`: the portals' workflow webhook secrets (cache and guess limits).
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSecretSettings {
    /// Seconds each api process keeps a portal's secret hash (or its absence).
    pub cache_secs: u64,
    /// Length of the window failed attempts are counted in, in seconds.
    pub failure_window_secs: u64,
    /// Failed attempts per portal per window before its secret attempts get 429 (0: no limit).
    pub max_failures_per_portal: u32,
    /// Failed attempts per source address per window before its attempts get 429 (0: no limit).
    pub max_failures_per_source: u32,
}

impl WebhookSecretSettings {
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_secs)
    }

    pub fn failure_window(&self) -> Duration {
        Duration::from_secs(self.failure_window_secs)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Every problem found in the settings, reported together.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings:\n  - {}", .0.join("\n  - "))]
pub struct SettingsError(pub Vec<String>);

impl Settings {
    /// Loads defaults, then `file`, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment (tests use this).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("EMBER_"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("EMBER")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let mut settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| SettingsError(vec![e.to_string()]))?;
        let mut problems = Vec::new();
        settings.hubspot.client_secret = secret_from(
            settings.hubspot.client_secret.take(),
            settings.hubspot.client_secret_file.as_deref(),
            "EMBER_HUBSPOT__CLIENT_SECRET_FILE",
            &mut problems,
        );
        settings.encryption_key = secret_from(
            settings.encryption_key.take(),
            settings.encryption_key_file.as_deref(),
            "EMBER_ENCRYPTION_KEY_FILE",
            &mut problems,
        );
        settings.validate(&mut problems);
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(SettingsError(problems))
        }
    }

    fn validate(&self, problems: &mut Vec<String>) {
        match Url::parse(&self.public_base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && !self.public_base_url.ends_with('/') => {}
            _ => problems.push(format!(
                "public_base_url (EMBER_PUBLIC_BASE_URL) must be an http(s) URL without a trailing slash, got {:?}",
                self.public_base_url
            )),
        }
        for (name, value) in [
            ("hubspot.api_base_url", &self.hubspot.api_base_url),
            ("hubspot.auth_base_url", &self.hubspot.auth_base_url),
        ] {
            if Url::parse(value).is_err() {
                problems.push(format!("{name} must be a URL, got {value:?}"));
            }
        }
        for (name, value, schemes) in [
            (
                "database.url",
                &self.database.url,
                &["postgres", "postgresql"][..],
            ),
            ("amqp.url", &self.amqp.url, &["amqp", "amqps"][..]),
            ("redis.url", &self.redis.url, &["redis", "rediss"][..]),
        ] {
            match Url::parse(value) {
                Ok(url) if schemes.contains(&url.scheme()) => {}
                _ => problems.push(format!("{name} must be a {} URL", schemes[0])),
            }
        }
        for (name, prefix) in [
            ("amqp.prefix", &self.amqp.prefix),
            ("redis.prefix", &self.redis.prefix),
        ] {
            let ok = !prefix.is_empty()
                && prefix.len() <= 100
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !ok {
                problems.push(format!(
                    "{name} must be 1-100 characters of letters, digits, '.', '_' or '-'"
                ));
            }
        }
        self.resync.validate(problems);
        if self.hubspot.webhook_max_concurrent_requests <= 5 {
            problems.push(format!(
                "hubspot.webhook_max_concurrent_requests must be greater than 5 (HubSpot's rule), got {}",
                self.hubspot.webhook_max_concurrent_requests
            ));
        }
        if self.server.body_limit_bytes < 1024 {
            problems.push("server.body_limit_bytes must be at least 1024".into());
        }
        if !(1..=1000).contains(&self.intake.max_events_per_request) {
            problems.push("intake.max_events_per_request must be between 1 and 1000".into());
        }
        if self.intake.signature_window_ms < 1000 {
            problems.push("intake.signature_window_ms must be at least 1000".into());
        }
        if !(1..=86_400).contains(&self.intake.webhook_secret.failure_window_secs) {
            problems.push(
                "intake.webhook_secret.failure_window_secs must be between 1 and 86400".into(),
            );
        }
        if self.amqp.publish_in_flight == 0
            || self.amqp.max_events_per_message < self.intake.max_events_per_request
        {
            problems.push(
                "amqp.publish_in_flight must be positive and amqp.max_events_per_message at least \
                 intake.max_events_per_request"
                    .into(),
            );
        }
        if self.server.request_head_timeout_ms == 0 || self.server.body_timeout_ms == 0 {
            problems.push(
                "server.request_head_timeout_ms and server.body_timeout_ms must be positive".into(),
            );
        }
        if self.amqp.retry_delays_ms.is_empty()
            || self.amqp.retry_delays_ms.contains(&0)
            || !self.amqp.retry_delays_ms.is_sorted()
        {
            problems.push(
                "amqp.retry_delays_ms must list at least one positive delay, shortest first".into(),
            );
        }
        if self.amqp.confirm_timeout_ms == 0 || self.database.max_connections == 0 {
            problems.push(
                "amqp.confirm_timeout_ms and database.max_connections must be positive".into(),
            );
        }
        problems.extend(self.worker.problems());
        self.limiter.validate(problems);
        if !self.oauth.redirect_path.starts_with('/') {
            problems.push("oauth.redirect_path must start with '/'".into());
        }
        if !self.oauth.scopes.iter().any(|s| s == "oauth") {
            problems.push("oauth.scopes must include \"oauth\"".into());
        }
        if self.oauth.state_lifetime_secs == 0 || self.oauth.session_lifetime_secs == 0 {
            problems.push(
                "oauth.state_lifetime_secs and oauth.session_lifetime_secs must be positive".into(),
            );
        }
        if self.previous_encryption_keys().is_err() {
            problems.push("EMBER_PREVIOUS_ENCRYPTION_KEYS must be comma-separated base64 encodings of 32 bytes".into());
        }
        if let Some(key) = &self.encryption_key
            && decode_key(key).is_none()
        {
            problems.push(
                "EMBER_ENCRYPTION_KEY must be the base64 encoding of exactly 32 bytes".into(),
            );
        }
    }

    /// The client secret, or an error naming the variable to set.
    pub fn require_client_secret(&self) -> Result<&SecretString, SettingsError> {
        self.hubspot.client_secret.as_ref().ok_or_else(|| {
            SettingsError(vec![
                "the HubSpot app's client secret is not set: set EMBER_HUBSPOT__CLIENT_SECRET or \
                 EMBER_HUBSPOT__CLIENT_SECRET_FILE"
                    .into(),
            ])
        })
    }

    /// The token encryption key, or an error naming the variable to set.
    pub fn require_encryption_key(&self) -> Result<[u8; 32], SettingsError> {
        self.encryption_key.as_ref().and_then(decode_key).ok_or_else(|| {
            SettingsError(vec![
                "the token encryption key is not set: set EMBER_ENCRYPTION_KEY (base64 of 32 random bytes, \
                 e.g. `openssl rand -base64 32`) or EMBER_ENCRYPTION_KEY_FILE"
                    .into(),
            ])
        })
    }

    /// Earlier token encryption keys (for rotation), possibly none.
    pub fn previous_encryption_keys(&self) -> Result<Vec<[u8; 32]>, SettingsError> {
        let Some(keys) = &self.previous_encryption_keys else {
            return Ok(Vec::new());
        };
        keys.expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                decode_key(&SecretString::from(k.to_owned())).ok_or_else(|| {
                    SettingsError(vec![
                        "EMBER_PREVIOUS_ENCRYPTION_KEYS holds a key that is not base64 of 32 bytes"
                            .into(),
                    ])
                })
            })
            .collect()
    }

    /// The OAuth redirect URI registered with HubSpot: `public_base_url` + `oauth.redirect_path`.
    pub fn oauth_redirect_uri(&self) -> String {
        format!("{}{}", self.public_base_url, self.oauth.redirect_path)
    }

    /// The events queue, `<prefix>.events`.
    pub fn events_queue(&self) -> String {
        format!("{}.events", self.amqp.prefix)
    }
}

fn decode_key(key: &SecretString) -> Option<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.expose_secret().trim())
        .ok()?;
    bytes.try_into().ok()
}

fn secret_from(
    direct: Option<SecretString>,
    file: Option<&str>,
    variable: &str,
    problems: &mut Vec<String>,
) -> Option<SecretString> {
    let direct = direct.filter(|s| !s.expose_secret().is_empty());
    match (direct, file.filter(|f| !f.is_empty())) {
        (Some(secret), _) => Some(secret),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(content) if !content.trim().is_empty() => {
                Some(SecretString::from(content.trim().to_owned()))
            }
            Ok(_) => {
                problems.push(format!("{variable}: file {path} is empty"));
                None
            }
            Err(e) => {
                problems.push(format!("{variable}: cannot read {path}: {e}"));
                None
            }
        },
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_point_at_local_services() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.events_queue(), "ember.events");
        assert!(s.database.url.contains("127.0.0.1:5432"));
        assert!(s.hubspot.client_secret.is_none());
        assert!(
            s.require_client_secret()
                .unwrap_err()
                .to_string()
                .contains("EMBER_HUBSPOT__CLIENT_SECRET")
        );
    }

    #[test]
    fn environment_overrides_with_double_underscore_sections() {
        let s = Settings::load_from(
            None,
            env(&[
                ("EMBER_SERVER__PORT", "9999"),
                ("EMBER_AMQP__PREFIX", "t1"),
                ("EMBER_PUBLIC_BASE_URL", "https://hooks.example.com/ember"),
                ("EMBER_HUBSPOT__CLIENT_SECRET", "abc"),
                ("EMBER_HUBSPOT__CLIENT_ID", "1234"),
                ("EMBER_INTAKE__QUEUE_UNKNOWN_PORTALS", "true"),
                (
                    "EMBER_ENCRYPTION_KEY",
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.port, 9999);
        assert_eq!(s.events_queue(), "t1.events");
        assert_eq!(s.public_base_url, "https://hooks.example.com/ember");
        assert_eq!(s.require_client_secret().unwrap().expose_secret(), "abc");
        assert_eq!(s.hubspot.client_id, "1234");
        assert!(s.intake.queue_unknown_portals);
        assert_eq!(s.require_encryption_key().unwrap(), [0u8; 32]);
    }

    #[test]
    fn webhook_secret_settings_load_nested_and_are_validated() {
        let s = Settings::load_from(
            None,
            env(&[("EMBER_INTAKE__WEBHOOK_SECRET__MAX_FAILURES_PER_PORTAL", "3")]),
        )
        .unwrap();
        assert_eq!(s.intake.webhook_secret.max_failures_per_portal, 3);
        assert!(s.intake.webhook_secret.failure_window_secs > 0);
        let err = Settings::load_from(
            None,
            env(&[("EMBER_INTAKE__WEBHOOK_SECRET__FAILURE_WINDOW_SECS", "0")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("failure_window_secs"), "{err}");
    }

    #[test]
    fn webhook_concurrency_must_be_more_than_hubspots_minimum() {
        let s = Settings::load_from(
            None,
            env(&[("EMBER_HUBSPOT__WEBHOOK_MAX_CONCURRENT_REQUESTS", "6")]),
        )
        .unwrap();
        assert_eq!(s.hubspot.webhook_max_concurrent_requests, 6);
        let err = Settings::load_from(
            None,
            env(&[("EMBER_HUBSPOT__WEBHOOK_MAX_CONCURRENT_REQUESTS", "5")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("hubspot.webhook_max_concurrent_requests must be greater than 5"),
            "{err}"
        );
    }

    #[test]
    fn secrets_can_come_from_files() {
        let path = std::env::temp_dir().join(format!("ember-secret-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap();
        let s = Settings::load_from(
            None,
            env(&[("EMBER_HUBSPOT__CLIENT_SECRET_FILE", path.to_str().unwrap())]),
        )
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            s.require_client_secret().unwrap().expose_secret(),
            "from-file"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Settings::load_from(
            None,
            env(&[
                ("EMBER_PUBLIC_BASE_URL", "not a url"),
                ("EMBER_AMQP__PREFIX", "bad prefix!"),
                ("EMBER_ENCRYPTION_KEY", "short"),
                ("EMBER_HUBSPOT__CLIENT_SECRET_FILE", "/nonexistent/secret"),
            ]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.0.len(), 4, "{text}");
        assert!(text.contains("EMBER_PUBLIC_BASE_URL"));
        assert!(text.contains("amqp.prefix"));
        assert!(text.contains("32 bytes"));
        assert!(text.contains("/nonexistent/secret"));
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let s = Settings::load_from(
            None,
            env(&[("EMBER_HUBSPOT__CLIENT_SECRET", "hunter2-very-secret")]),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2-very-secret"));
    }
}

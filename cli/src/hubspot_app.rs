//! `ember hubspot-app render`: writes Ember's HubSpot project (developer platform 2026.09) from
//! Ember's settings and the properties its models read (docs/hubspot-app.md).
//!
//! - `hsproject.json`, `src/app/app-hsmeta.json` (OAuth, marketplace distribution, the redirect
//!   URL, the scopes the OAuth client asks for) and `src/app/webhooks/webhooks-hsmeta.json` (the
//!   intake URL, `maxConcurrentRequests`, the contact subscriptions), plus a `README.md` saying how
//!   the directory was made.
//! - The output is deterministic (sorted keys and arrays, a trailing newline), so a committed copy
//!   can be checked byte for byte.
//! - Nothing is half-written: the files go to a temporary directory beside `--out`, which then
//!   replaces `--out` by renames; the render is recorded in Postgres in a transaction committed
//!   only after that.
//!
//! Exit codes: 0 written; 2 bad input (the URL, the output directory, the settings) or the
//! database unreachable; 1 anything else (e.g. a stored model that does not parse).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use ember_core::config::Settings;
use ember_core::scoring::Model;
use ember_core::store;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use url::{Host, Url};

/// The developer platform version the project is written for (docs/hubspot.md P5).
pub const PLATFORM_VERSION: &str = "2026.09";
/// Where HubSpot posts app webhooks: the api's `POST /webhooks/hubspot`.
pub const APP_WEBHOOK_PATH: &str = "/webhooks/hubspot";
/// The project's name in HubSpot, and the uids of its two components.
const PROJECT_NAME: &str = "ember";
const APP_UID: &str = "ember_app";
const WEBHOOKS_UID: &str = "ember_webhooks";
/// The contact events Ember's normalizer turns into typed events, besides property changes.
const CONTACT_EVENTS: [&str; 4] = [
    "contact.creation",
    "contact.deletion",
    "contact.merge",
    "contact.restore",
];
const PROPERTY_CHANGE: &str = "contact.propertyChange";
const PRIVACY_DELETION: &str = "contact.privacyDeletion";
/// HubSpot refuses more subscriptions than this per app (docs/hubspot.md A.4).
const MAX_SUBSCRIPTIONS: usize = 1000;
/// Exit code for bad input or an unreachable database.
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Args)]
pub struct HubspotAppArgs {
    #[command(subcommand)]
    command: HubspotAppCommand,
}

#[derive(Subcommand)]
enum HubspotAppCommand {
    /// Write the HubSpot project (app, OAuth, webhooks) for this deployment; upload it with
    /// `hs project upload`.
    Render(RenderArgs),
}

#[derive(Args)]
pub struct RenderArgs {
    /// The URL at which HubSpot reaches this Ember (https; http only for localhost or
    /// 127.0.0.1), without query or fragment; the redirect and webhook URLs are built on it.
    #[arg(long, value_name = "URL")]
    public_url: String,
    /// The project directory to write (replaced as a whole; its parent must exist).
    #[arg(long, value_name = "DIR", default_value = "deploy/hubspot")]
    out: PathBuf,
    /// Subscribe only to what the built-in model reads, without reading the portals' models
    /// from PostgreSQL (and without recording the render there).
    #[arg(long)]
    no_database: bool,
}

/// Why a render stopped.
enum Failure {
    /// The operator can fix it: a bad flag, directory or setting, or PostgreSQL unreachable.
    BadInput(anyhow::Error),
    /// Something else failed.
    Failed(anyhow::Error),
}

/// Runs `ember hubspot-app` and turns the outcome into the exit code.
pub fn main(config: Option<&Path>, args: HubspotAppArgs) -> ExitCode {
    let HubspotAppCommand::Render(args) = args.command;
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Failed)
        .and_then(|rt| rt.block_on(render(config, &args)));
    let (error, code) = match outcome {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Failure::BadInput(e)) => (e, ExitCode::from(EXIT_BAD_INPUT)),
        Err(Failure::Failed(e)) => (e, ExitCode::FAILURE),
    };
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    code
}

async fn render(config: Option<&Path>, args: &RenderArgs) -> Result<(), Failure> {
    let settings = Settings::load(config)
        .map_err(anyhow::Error::new)
        .map_err(Failure::BadInput)?;
    let public_url = PublicUrl::parse(&args.public_url).map_err(Failure::BadInput)?;
    let target = OutDir::check(&args.out).map_err(Failure::BadInput)?;

    let mut reads = Model::default_model().read_properties();
    let mut database = None;
    if !args.no_database {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(settings.database.acquire_timeout_secs))
            .connect_lazy_with(
                settings
                    .database
                    .connect_options()
                    .context("database.url is not a PostgreSQL URL")
                    .map_err(Failure::BadInput)?,
            );
        let models = store::models::installed_active_models(&pool)
            .await
            .with_context(|| {
                format!(
                    "cannot read the portals' models from PostgreSQL at {} (is it running, and \
                     migrated with `ember migrate`? --no-database renders for the built-in model only)",
                    ember_api::startup::redacted(&settings.database.url)
                )
            })
            .map_err(Failure::BadInput)?;
        for (portal, version, document) in &models {
            let model: Model = serde_json::from_value(document.clone())
                .with_context(|| {
                    format!(
                        "the active model (v{version}) of portal {} does not parse",
                        portal.get()
                    )
                })
                .map_err(Failure::Failed)?;
            reads.extend(model.read_properties());
        }
        database = Some((pool, models.len()));
    }
    let (properties, left_out): (BTreeSet<String>, BTreeSet<String>) = reads
        .into_iter()
        .partition(|p| store::hubspot_app::subscribable(p));

    let source = match &database {
        None => Source::BuiltInModel,
        Some((_, portals)) => Source::Database { portals: *portals },
    };
    let files = project(&public_url, &settings, &properties, source).map_err(Failure::BadInput)?;
    let staged = target.stage(&files).map_err(Failure::BadInput)?;

    let properties: Vec<String> = properties.into_iter().collect();
    let recorded = match &database {
        None => None,
        Some((pool, _)) => {
            let recorded = record(pool, public_url.as_str(), &properties).await;
            match recorded {
                Ok(tx) => Some(tx),
                Err(e) => {
                    staged.discard();
                    return Err(Failure::BadInput(e));
                }
            }
        }
    };
    staged.replace_out().map_err(Failure::BadInput)?;
    if let Some((tx, id)) = recorded {
        tx.commit()
            .await
            .with_context(|| {
                format!(
                    "{} is written, but recording render {id} in PostgreSQL failed; run the render again",
                    target.out.display()
                )
            })
            .map_err(Failure::Failed)?;
    }

    println!(
        "Wrote {}: {} property subscriptions ({}), webhooks to {}{APP_WEBHOOK_PATH}, redirect {}{}.",
        target.out.display(),
        properties.len(),
        properties.join(", "),
        public_url.as_str(),
        public_url.as_str(),
        settings.oauth.redirect_path,
    );
    if !left_out.is_empty() {
        eprintln!(
            "note: HubSpot offers no propertyChange subscription for {}, so their changes do not \
             reach Ember by webhook (docs/hubspot.md A.3).",
            left_out.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    if settings.public_base_url != public_url.as_str() {
        eprintln!(
            "note: Ember's public_base_url is {}; set EMBER_PUBLIC_BASE_URL={} for the api that \
             serves this app (webhook signatures cover the URL HubSpot calls).",
            settings.public_base_url,
            public_url.as_str()
        );
    }
    Ok(())
}

/// Records the render in a transaction the caller commits once the files are in place.
async fn record(
    pool: &sqlx::PgPool,
    public_url: &str,
    properties: &[String],
) -> anyhow::Result<(sqlx::Transaction<'static, sqlx::Postgres>, i64)> {
    let mut tx = pool
        .begin()
        .await
        .context("cannot record the render in PostgreSQL")?;
    let id = store::hubspot_app::record(&mut tx, public_url, properties)
        .await
        .context("cannot record the render in PostgreSQL (is it migrated with `ember migrate`?)")?;
    Ok((tx, id))
}

/// A checked `--public-url`: absolute, https (http only for localhost or 127.0.0.1), no
/// credentials, query or fragment, kept without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn parse(input: &str) -> anyhow::Result<Self> {
        let url = Url::parse(input).with_context(|| {
            format!(
                "--public-url {input:?} is not an absolute URL such as https://ember.example.com"
            )
        })?;
        let local = matches!(url.host(), Some(Host::Domain("localhost")))
            || url.host() == Some(Host::Ipv4(std::net::Ipv4Addr::LOCALHOST));
        match url.scheme() {
            "https" => {}
            "http" if local => {}
            _ => anyhow::bail!(
                "--public-url {input:?} must use https (http only for localhost or 127.0.0.1): \
                 HubSpot delivers webhooks and OAuth redirects to HTTPS URLs"
            ),
        }
        if url.host().is_none() {
            anyhow::bail!("--public-url {input:?} has no host");
        }
        if !url.username().is_empty() || url.password().is_some() {
            anyhow::bail!("--public-url {input:?} must not carry a user name or password");
        }
        if url.query().is_some() {
            anyhow::bail!(
                "--public-url {input:?} has a query; give the base URL only (the paths are added)"
            );
        }
        if url.fragment().is_some() {
            anyhow::bail!("--public-url {input:?} has a fragment; give the base URL only");
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the subscribed properties were read from (said in the README).
#[derive(Debug, Clone, Copy)]
enum Source {
    BuiltInModel,
    Database { portals: usize },
}

/// The project's files: path relative to the project directory, and content.
fn project(
    public_url: &PublicUrl,
    settings: &Settings,
    properties: &BTreeSet<String>,
    source: Source,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let base = public_url.as_str();
    let hsproject = json!({
        "name": PROJECT_NAME,
        "platformVersion": PLATFORM_VERSION,
        "srcDir": "src",
    });
    let required: BTreeSet<&str> = settings.oauth.scopes.iter().map(String::as_str).collect();
    let optional: BTreeSet<&str> = settings
        .oauth
        .optional_scopes
        .iter()
        .map(String::as_str)
        .collect();
    let app = json!({
        "uid": APP_UID,
        "type": "app",
        "config": {
            "name": "Ember lead scoring",
            "description": "Scores every contact with your portal's model (fit, engagement and time decay, \
                with negative signals) and writes the score, grade and reasons to contact properties.",
            "distribution": "marketplace",
            "auth": {
                "type": "oauth",
                "redirectUrls": [format!("{base}{}", settings.oauth.redirect_path)],
                "requiredScopes": required,
                "optionalScopes": optional,
                "conditionallyRequiredScopes": [],
            },
            "permittedUrls": { "fetch": [], "iframe": [], "img": [] },
            "support": { "documentationUrl": base, "supportUrl": base },
        },
    });
    let mut legacy: Vec<(&str, Option<&str>)> = CONTACT_EVENTS.iter().map(|t| (*t, None)).collect();
    legacy.extend(
        properties
            .iter()
            .map(|p| (PROPERTY_CHANGE, Some(p.as_str()))),
    );
    legacy.sort();
    // One subscription per entry, plus the privacy deletion under hubEvents.
    if legacy.len() + 1 > MAX_SUBSCRIPTIONS {
        anyhow::bail!(
            "the models read {} properties: {} subscriptions, more than the {MAX_SUBSCRIPTIONS} \
             HubSpot allows an app",
            properties.len(),
            legacy.len() + 1
        );
    }
    let legacy: Vec<Value> = legacy
        .into_iter()
        .map(|(subscription_type, property)| match property {
            Some(name) => json!({ "subscriptionType": subscription_type, "propertyName": name, "active": true }),
            None => json!({ "subscriptionType": subscription_type, "active": true }),
        })
        .collect();
    let webhooks = json!({
        "uid": WEBHOOKS_UID,
        "type": "webhooks",
        "config": {
            "settings": {
                "targetUrl": format!("{base}{APP_WEBHOOK_PATH}"),
                "maxConcurrentRequests": settings.hubspot.webhook_max_concurrent_requests,
            },
            "subscriptions": {
                "crmObjects": [],
                "legacyCrmObjects": legacy,
                "hubEvents": [{ "subscriptionType": PRIVACY_DELETION, "active": true }],
            },
        },
    });
    Ok(vec![
        ("README.md", readme(public_url, source)),
        ("hsproject.json", canonical_json(hsproject)?),
        ("src/app/app-hsmeta.json", canonical_json(app)?),
        (
            "src/app/webhooks/webhooks-hsmeta.json",
            canonical_json(webhooks)?,
        ),
    ])
}

/// Pretty JSON with every object's keys sorted and a trailing newline.
fn canonical_json(value: Value) -> anyhow::Result<String> {
    fn sorted(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let mut text = serde_json::to_string_pretty(&sorted(value)).context("cannot write JSON")?;
    text.push('\n');
    Ok(text)
}

fn readme(public_url: &PublicUrl, source: Source) -> String {
    let (flag, read_from) = match source {
        Source::BuiltInModel => (
            " --no-database",
            "the built-in model (`scoring/data/default-model.yaml`)".to_owned(),
        ),
        Source::Database { portals } => (
            "",
            format!(
                "the built-in model and the active models of {portals} installed portal(s) in PostgreSQL"
            ),
        ),
    };
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Ember's HubSpot app (developer platform {PLATFORM_VERSION})"
    );
    let _ = writeln!(text);
    let _ = writeln!(text, "Written by");
    let _ = writeln!(text);
    let _ = writeln!(text, "```sh");
    let _ = writeln!(
        text,
        "ember hubspot-app render --public-url {}{flag}",
        public_url.as_str()
    );
    let _ = writeln!(text, "```");
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "Do not edit it by hand: run that command again (it replaces this directory as a whole)."
    );
    let _ = writeln!(
        text,
        "The redirect URL, the webhook URL, the scopes and `maxConcurrentRequests` come from Ember's"
    );
    let _ = writeln!(
        text,
        "settings; the `contact.propertyChange` subscriptions are the properties read by {read_from}."
    );
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "Deploy it with `hs project upload` from this directory. `docs/hubspot-app.md` in Ember's"
    );
    let _ = writeln!(
        text,
        "repository walks through every step, from a HubSpot developer account to an installed app."
    );
    text
}

/// A checked `--out`: its parent exists, and it is absent, empty, or an earlier render.
struct OutDir {
    out: PathBuf,
    parent: PathBuf,
    name: String,
}

impl OutDir {
    fn check(out: &Path) -> anyhow::Result<Self> {
        let name = out
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .with_context(|| format!("--out {} does not name a directory", out.display()))?
            .to_owned();
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            anyhow::bail!(
                "--out {}: its parent directory {} does not exist",
                out.display(),
                parent.display()
            );
        }
        match std::fs::read_dir(out) {
            Ok(mut entries) => {
                let empty = entries.next().is_none();
                if !empty && !out.join("hsproject.json").is_file() {
                    anyhow::bail!(
                        "--out {} exists and is not an earlier render (no hsproject.json); \
                         the render replaces the whole directory, so choose another",
                        out.display()
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "--out {} is not a readable directory",
                    out.display()
                )));
            }
        }
        Ok(Self {
            out: out.to_path_buf(),
            parent,
            name,
        })
    }

    /// Writes the files into a fresh directory beside `--out`.
    fn stage(&self, files: &[(&str, String)]) -> anyhow::Result<Staged<'_>> {
        let unique = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let staged = Staged {
            dir: self.parent.join(format!(".{}.render-{unique}", self.name)),
            old: self.parent.join(format!(".{}.old-{unique}", self.name)),
            target: self,
        };
        std::fs::create_dir(&staged.dir).with_context(|| {
            format!(
                "cannot write to {} (for --out {})",
                self.parent.display(),
                self.out.display()
            )
        })?;
        for (path, content) in files {
            let file = staged.dir.join(path);
            let written = file
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&file, content));
            if let Err(e) = written {
                staged.discard();
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot write {} beside --out", file.display())));
            }
        }
        Ok(staged)
    }
}

/// The rendered files, waiting beside `--out`.
struct Staged<'a> {
    dir: PathBuf,
    old: PathBuf,
    target: &'a OutDir,
}

impl Staged<'_> {
    fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Puts the staged directory in place of `--out`, keeping the earlier one until then.
    fn replace_out(self) -> anyhow::Result<()> {
        let out = &self.target.out;
        let had_earlier = out.exists();
        if had_earlier && let Err(e) = std::fs::rename(out, &self.old) {
            self.discard();
            return Err(anyhow::Error::new(e).context(format!("cannot replace {}", out.display())));
        }
        if let Err(e) = std::fs::rename(&self.dir, out) {
            if had_earlier {
                let _ = std::fs::rename(&self.old, out);
            }
            self.discard();
            return Err(anyhow::Error::new(e).context(format!("cannot write {}", out.display())));
        }
        if had_earlier {
            // The new project is in place; a leftover of the old one is only clutter.
            let _ = std::fs::remove_dir_all(&self.old);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_checked_and_kept_without_a_trailing_slash() {
        for (input, kept) in [
            ("https://ember.example.com", "https://ember.example.com"),
            ("https://ember.example.com/", "https://ember.example.com"),
            ("https://example.com/ember/", "https://example.com/ember"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ] {
            assert_eq!(PublicUrl::parse(input).unwrap().as_str(), kept, "{input}");
        }
        for (input, says) in [
            ("ember.example.com", "not an absolute URL"),
            ("/ember", "not an absolute URL"),
            ("http://ember.example.com", "must use https"),
            ("http://10.0.0.1", "must use https"),
            ("ftp://ember.example.com", "must use https"),
            ("https://ember.example.com/?a=1", "has a query"),
            ("https://ember.example.com?", "has a query"),
            ("https://ember.example.com/#x", "has a fragment"),
            ("https://me:pw@ember.example.com", "user name or password"),
        ] {
            let error = PublicUrl::parse(input).unwrap_err().to_string();
            assert!(error.contains(says), "{input}: {error}");
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_ends_with_a_newline() {
        let text =
            canonical_json(json!({"b": {"d": 1, "c": [{"z": 1, "y": 2}]}, "a": true})).unwrap();
        assert_eq!(
            text,
            "{\n  \"a\": true,\n  \"b\": {\n    \"c\": [\n      {\n        \"y\": 2,\n        \"z\": 1\n      }\n    ],\n    \"d\": 1\n  }\n}\n"
        );
    }
}
